# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Storage pool XML <-> the pool table's normalised shape. Standard library only.

The shape: ``type``, ``target``, ``target_owner``/``target_group`` (numeric ids as strings),
``target_mode`` (4 octal digits), ``source`` {devices, hosts, dir, name, format, iqn, initiator, auth}.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional

SOURCE_KEYS = ("devices", "hosts", "dir", "name", "format", "iqn", "initiator", "auth")


def default_target(kind: str, source: dict[str, Any]) -> Optional[str]:
    """The target libvirt uses when none is given: /dev/VG for logical, by-path links for iSCSI."""
    if kind == "logical" and source.get("name"):
        return f"/dev/{source['name']}"
    if kind == "iscsi":
        return "/dev/disk/by-path"
    return None


def _host(element: ET.Element, text: str) -> None:
    if text.startswith("["):
        name, _sep, port = text[1:].partition("]")
        port = port.lstrip(":")
    else:
        name, _sep, port = text.partition(":")
    element.set("name", name)
    if port:
        element.set("port", port)


def _write_source(root: ET.Element, kind: str, source: dict[str, Any]) -> None:
    if kind == "dir":
        return
    el = ET.SubElement(root, "source")
    if kind == "rbd" and source.get("name"):
        ET.SubElement(el, "name").text = source["name"]
    for host in source.get("hosts") or []:
        _host(ET.SubElement(el, "host"), host)
    for device in source.get("devices") or []:
        ET.SubElement(el, "device", {"path": device})
    if kind == "iscsi" and source.get("iqn"):
        ET.SubElement(el, "device", {"path": source["iqn"]})
    if source.get("dir"):
        ET.SubElement(el, "dir", {"path": source["dir"]})
    if kind in ("logical", "zfs") and source.get("name"):
        ET.SubElement(el, "name").text = source["name"]
    fmt = source.get("format") or {"logical": "lvm2", "netfs": "nfs", "fs": "auto"}.get(kind)
    if fmt:
        ET.SubElement(el, "format", {"type": fmt})
    if source.get("initiator"):
        ET.SubElement(ET.SubElement(el, "initiator"), "iqn", {"name": source["initiator"]})
    auth = source.get("auth")
    if auth:
        auth_el = ET.SubElement(el, "auth", {"type": auth["type"], "username": auth["username"]})
        if auth.get("secret_uuid"):
            ET.SubElement(auth_el, "secret", {"uuid": auth["secret_uuid"]})
        elif auth.get("secret_usage"):
            ET.SubElement(auth_el, "secret", {"usage": auth["secret_usage"]})


def write_permissions(target: ET.Element, pool: dict[str, Any]) -> None:
    """Set (or drop) ``<permissions>`` under ``<target>`` from the shape's owner, group and mode."""
    old = target.find("permissions")
    if old is not None:
        target.remove(old)
    values = [
        ("mode", pool.get("target_mode")),
        ("owner", pool.get("target_owner")),
        ("group", pool.get("target_group")),
    ]
    if any(value is not None for _key, value in values):
        perms = ET.SubElement(target, "permissions")
        for key, value in values:
            if value is not None:
                ET.SubElement(perms, key).text = str(value)


def pool_xml(name: str, pool: dict[str, Any], uuid: Optional[str] = None) -> str:
    """The XML that defines a pool of the given shape (``uuid`` keeps an existing pool's identity)."""
    root = ET.Element("pool", {"type": pool["type"]})
    ET.SubElement(root, "name").text = name
    if uuid:
        ET.SubElement(root, "uuid").text = uuid
    source = pool.get("source") or {}
    _write_source(root, pool["type"], source)
    path = pool.get("target") or default_target(pool["type"], source)
    if path is not None:
        target = ET.SubElement(root, "target")
        ET.SubElement(target, "path").text = path
        write_permissions(target, pool)
    return ET.tostring(root, encoding="unicode")


def _read_host(element: ET.Element) -> str:
    name = element.get("name", "")
    if ":" in name:
        name = f"[{name}]"
    return f"{name}:{element.get('port')}" if element.get("port") else name


def read_pool(xml: str) -> dict[str, Any]:
    """A pool's XML in the table's shape (absent parts are None)."""
    root = ET.fromstring(xml)
    kind = root.get("type", "")
    source_el = root.find("source")
    source: dict[str, Any] = dict.fromkeys(SOURCE_KEYS)
    if source_el is not None:
        devices = [d.get("path", "") for d in source_el.findall("device")]
        if kind == "iscsi":
            source["iqn"] = devices[0] if devices else None
            devices = []
        source["devices"] = devices or None
        source["hosts"] = [_read_host(h) for h in source_el.findall("host")] or None
        dir_el = source_el.find("dir")
        source["dir"] = dir_el.get("path") if dir_el is not None else None
        source["name"] = source_el.findtext("name")
        fmt = source_el.find("format")
        source["format"] = fmt.get("type") if fmt is not None else None
        iqn = source_el.find("initiator/iqn")
        source["initiator"] = iqn.get("name") if iqn is not None else None
        auth = source_el.find("auth")
        if auth is not None:
            secret = auth.find("secret")
            source["auth"] = {
                "type": auth.get("type"),
                "username": auth.get("username"),
                "secret_uuid": secret.get("uuid") if secret is not None else None,
                "secret_usage": secret.get("usage") if secret is not None else None,
            }
    perms = root.find("target/permissions")
    mode = perms.findtext("mode") if perms is not None else None
    return {
        "type": kind,
        "uuid": root.findtext("uuid"),
        "target": root.findtext("target/path"),
        "target_owner": perms.findtext("owner") if perms is not None else None,
        "target_group": perms.findtext("group") if perms is not None else None,
        "target_mode": f"{int(mode, 8):04o}" if mode else None,
        "source": source,
    }
