# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan a volume: create (blank, overlay, clone, import), grow, delete.

An existing volume is compared on what the user set: a larger capacity grows it (live), a smaller
one is refused, and a different format or backing image is refused with what would have to happen
(these cannot change in place). Imports are keyed by the volume name; without ``name`` the name
carries the checksum (``<image>-sha256-<16 hex>.<ext>``), so the same URL and checksum are fetched
once per pool and a new checksum means a new volume (the base-image cache). A checksum given as the URL
of a checksum file is resolved to its digest first (the name carries the real digest); a compressed
image's name drops the compression suffix (``disk.qcow2.xz`` -> ``disk-sha256-<16 hex>.qcow2``).

Before an import is planned, what it needs is checked (in check mode too): the checksum file's line
for the image, the TLS files and passphrase, the tool a compression format needs. Each failure names
its option, and nothing has been touched.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import is_local_uri, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._locks import turns
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL, LIVE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool_facts import DIRECTORY_TYPES, pool_facts
from ansible_collections.kvmfleet.kvm.plugins.module_utils._progress import shown_source
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import expand, ops, transfer
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.fetch import Fetcher
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume.options import source_file_name

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_IMAGE_EXT = (".qcow2", ".img", ".raw", ".iso")


def compression(values: dict[str, Any]) -> Optional[str]:
    """The compression format an import decompresses (by the source's suffix, or ``decompress``), or None."""
    return expand.detect(source_file_name(values), values.get("decompress") or "auto")


def cache_name(values: dict[str, Any]) -> str:
    """The name of an imported volume without ``name``: the image's file name (without the suffix of
    the compression it is decompressed from) with the checksum in it. ``checksum`` is ``algorithm:digest``."""
    file_name = expand.strip_suffix(source_file_name(values), compression(values))
    base = _UNSAFE.sub("-", file_name).strip("-.") or "image"
    stem, ext = os.path.splitext(base)
    if ext.lower() not in _IMAGE_EXT:
        stem, ext = base, ""
    algorithm, digest = values["checksum"].split(":", 1)
    return f"{stem}-{algorithm}-{digest[:16]}{ext}"


class VolumePlanner:
    """Plans one volume from the volume table's validated values."""

    def __init__(
        self, conn: Any, uri: str, values: dict[str, Any], check_mode: bool = False, fetcher: Optional[Fetcher] = None
    ) -> None:
        self.conn = conn
        self.check_mode = check_mode
        self.uri = uri
        self.lv = require_libvirt()
        self.want = dict(values)
        self.fetcher = fetcher or Fetcher(values)
        self.importing = values["url"] is not None or values["src"] is not None
        if self.importing and values["name"] is None:  # the name carries the digest: a checksum file is read now
            self.want["checksum"] = self.fetcher.resolve_checksum(values["checksum"], source_file_name(values))
        self.name: str = values["name"] or cache_name(self.want)
        self.plan = Plan("volume", self.name)
        self.pool_def: dict[str, Any] = {}
        self.kind: Optional[str] = None  # the pool's type; None while the pool does not exist (check mode)
        self.facts: dict[str, Any] = {"pool": values["pool"], "state": values["state"]}

    def make(self) -> Plan:
        pool = ops.find_pool(self.conn, self.want["pool"])
        if pool is None and self.want["state"] == "absent":
            return self.plan  # no pool, no volume: nothing to remove
        if pool is None:
            if not self.check_mode:
                raise ValidationError([("pool", f"no storage pool {self.want['pool']} on this hypervisor")])
            # check mode on a fresh host: an earlier task (kvmfleet.kvm.pool) would have created the pool
            self.kind = None
            self._create(None)
            return self.plan
        if not pool.isActive():
            raise ValidationError([("pool", f"storage pool {self.want['pool']} is not active")])
        self.pool_def = pool_facts(pool)
        self.kind = self.pool_def["type"]
        self._check_pool_type()
        vol = ops.find_volume(pool, self.name)
        if self.want["state"] == "absent":
            if vol is not None:
                self._delete(vol)
            return self.plan
        if vol is None:
            self._create(pool)
        else:
            self._update(vol)
        return self.plan

    def _check_pool_type(self) -> None:
        """Block pools (logical, zfs, rbd, iscsi) hold raw volumes only."""
        refused = ops.raw_only(self.kind)
        if refused is None or self.want["state"] == "absent":
            return
        given = {"format": self.want["format"] == "qcow2", "backing_image": self.want["backing_image"] is not None}
        problems = [(field, f"pool {self.want['pool']}: {refused}") for field, found in given.items() if found]
        if problems:
            raise ValidationError(problems)

    # ------------------------------------------------------------------ helpers

    def _pool(self) -> Any:
        return self.conn.storagePoolLookupByName(self.want["pool"])

    def volume(self) -> Any:
        return self._pool().storageVolLookupByName(self.name)

    def _source_volume(self, pool: Optional[Any], field: str, image: str) -> Any:
        if image.startswith("/"):
            try:
                return self.conn.storageVolLookupByPath(image)
            except self.lv.libvirtError:
                raise ValidationError([(field, f"{image} is not a volume of any storage pool")]) from None
        if pool is None:
            raise ValidationError([(field, f"no volume {image} in pool {self.want['pool']}, which does not exist yet")])
        vol = ops.find_volume(pool, image)
        if vol is None:
            raise ValidationError([(field, f"no volume {image} in pool {self.want['pool']}")])
        return vol

    # ------------------------------------------------------------------ create

    def _create(self, pool: Optional[Any]) -> None:
        """Plan a new volume; ``pool`` None: check mode, the pool does not exist yet (an earlier task would make it)."""
        want, name = self.want, self.name
        where = "" if pool is not None else f" in pool {want['pool']}, which does not exist yet"
        self.plan.diff.add("state", "absent", "present", CONTROL)
        if self.importing:
            self._plan_import(pool)
            return
        fmt = want["format"]
        capacity = want["capacity"]
        if want["clone_from"] is not None or want["backing_image"] is not None:
            field = "clone_from" if want["clone_from"] is not None else "backing_image"
            source = ops.volume_facts(self._source_volume(pool, field, want[field]))
            if capacity is not None and capacity < source["capacity"]:
                raise ValidationError(
                    [
                        (
                            "capacity",
                            f"{format_size(capacity)} is smaller than {want[field]} "
                            f"({format_size(source['capacity'])})",
                        )
                    ]
                )
            capacity = max(capacity or 0, source["capacity"])
            if field == "clone_from":
                fmt = fmt or ops.driver_type(source["format"])
                xml = ops.new_volume_xml(self.kind or "dir", name, capacity, fmt)
                source_name = want["clone_from"]
                self.plan.add(
                    f"clone volume {source_name} to {name} ({format_size(capacity)} {fmt})",
                    lambda: self._pool().createXMLFrom(xml, self._pool().storageVolLookupByName(source_name), 0),
                )
            else:
                fmt = fmt or "qcow2"
                backing = (source["path"], ops.driver_type(source["format"]))
                self.plan.add(
                    f"create volume {name} ({format_size(capacity)} {fmt}, overlay on {backing[0]}){where}",
                    lambda: ops.create_volume(self._pool(), name, capacity, fmt, backing),
                )
                self.plan.diff.add("backing_image", None, want["backing_image"])
        else:
            if capacity is None:
                raise ValidationError([("capacity", f"is required to create volume {name} (no such volume yet)")])
            fmt = fmt or self._default_format()
            self.plan.add(
                f"create volume {name} ({format_size(capacity)} {fmt or 'qcow2, or raw in a block pool'}){where}",
                lambda: ops.create_volume(self._pool(), name, capacity, fmt or self._default_format()),
            )
        self.plan.diff.add("capacity", None, format_size(capacity), LIVE)
        self.facts["capacity"] = capacity
        if fmt is not None:
            self.plan.diff.add("format", None, fmt)
            self.facts["format"] = fmt

    def _default_format(self) -> Optional[str]:
        """qcow2 in a pool of files, raw in a block pool; None while the pool's type is not known."""
        if self.kind is None:
            return None
        return "raw" if ops.raw_only(self.kind) else "qcow2"

    def direct_directory(self) -> Optional[str]:
        """The local pool directory an import may write into directly, or None (stream upload)."""
        if self.kind is None or self.want["transfer"] != "auto" or not is_local_uri(self.uri):
            return None
        target = self.pool_def["target"]
        if self.pool_def["type"] in DIRECTORY_TYPES and target and os.path.isdir(target):
            return target
        return None

    def _prepare_import(self) -> Optional[str]:
        """Check what the import needs before anything is touched (also in check mode), each failure
        naming its option: the tool of its compression format, the TLS files, the checksum file's line
        for the image (the checksum becomes its digest). The compression format, or None."""
        want = self.want
        fmt = compression(want)
        missing = expand.missing_tool(fmt)
        if missing is not None:
            raise ValidationError([("decompress", missing)])
        if any(want.get(key) is not None for key in ("ca_path", "client_cert")):
            self.fetcher.context()
        want["checksum"] = self.fetcher.resolve_checksum(want["checksum"], source_file_name(want))
        return fmt

    def _plan_import(self, pool: Optional[Any]) -> None:
        want, name = self.want, self.name
        fmt = self._prepare_import()
        what = shown_source(want["url"]) if want["url"] else f"file {os.path.basename(want['src'])}"
        controller = want["src"] is not None and not want["remote_src"]
        if controller and not self.check_mode:
            raise KvmFleetError(
                "src: the file is on the controller; kvmfleet.kvm.volume copies it to the managed host through its "
                "action plugin when the volume is missing (or set remote_src: true for a file on the managed host)",
                needs_src=True,
            )
        if want["src"] is not None and not controller and not os.path.isfile(want["src"]):
            raise ValidationError([("src", f"{want['src']} is not a file on this host")])
        directory = self.direct_directory()
        how = f"written into {directory}" if directory else "uploaded over libvirt's stream"
        if pool is None:
            how = f"into pool {want['pool']}, which does not exist yet"
        algorithm = want["checksum"].split(":", 1)[0]
        kind, fetcher = self.kind, self.fetcher
        unpacked = f", decompressed from {expand.NAMES[fmt]}" if fmt else ""

        def run() -> None:
            if directory:
                transfer.import_direct(want, self._pool(), directory, name, fetcher=fetcher, expand=fmt)
            else:
                transfer.import_stream(self.conn, want, self._pool(), name, kind or "dir", fetcher=fetcher, expand=fmt)

        self.plan.add(f"import {what} as volume {name} ({algorithm} verified{unpacked}, {how})", run)
        self.plan.diff.add("source", None, what, CONTROL)
        self.plan.diff.add("checksum", None, want["checksum"], CONTROL)
        if fmt:
            self.plan.diff.add("decompress", None, fmt, CONTROL)
        self.facts["checksum"] = want["checksum"]

    # ------------------------------------------------------------------ update

    def _update(self, vol: Any) -> None:
        want = self.want
        facts = ops.volume_facts(vol)
        self.facts.update(capacity=facts["capacity"], format=facts["format"], path=facts["path"])
        if self.importing:
            self.facts["checksum"] = want["checksum"]
        problems = []
        if (
            want["format"] is not None
            and self.pool_def["type"] in DIRECTORY_TYPES
            and ops.driver_type(facts["format"]) != want["format"]
        ):
            problems.append(
                (
                    "format",
                    f"volume {self.name} is {facts['format']}; it cannot become {want['format']} in place: "
                    "delete it (state: absent) and create it again, or convert it into a new volume",
                )
            )
        if want["backing_image"] is not None:
            base = ops.volume_facts(self._source_volume(self._pool(), "backing_image", want["backing_image"]))
            if facts["backing"] != base["path"]:
                problems.append(
                    (
                        "backing_image",
                        f"volume {self.name} is backed by {facts['backing'] or 'nothing'}, not {base['path']}; "
                        "a backing image cannot change in place: delete the volume (state: absent) and create it again",
                    )
                )
        capacity = want["capacity"]
        if capacity is not None and capacity < facts["capacity"]:
            problems.append(
                (
                    "capacity",
                    f"shrinking {self.name} from {format_size(facts['capacity'])} to {format_size(capacity)} is "
                    "refused (it would cut off data)",
                )
            )
        if problems:
            raise ValidationError(problems)
        if capacity is not None and capacity > facts["capacity"]:
            self.plan.diff.add("capacity", format_size(facts["capacity"]), format_size(capacity), LIVE)
            self.plan.add(
                f"grow volume {self.name} from {format_size(facts['capacity'])} to {format_size(capacity)}",
                lambda: self.volume().resize(capacity, 0),
            )
            self.facts["capacity"] = capacity

    # ------------------------------------------------------------------ delete

    def _delete(self, vol: Any) -> None:
        facts = ops.volume_facts(vol)
        self.plan.diff.add("state", "present", "absent", CONTROL)
        if self.want["wipe"]:
            self.plan.add(f"wipe volume {self.name} ({format_size(facts['capacity'])})", lambda: self.volume().wipe(0))
        self.plan.add(f"delete volume {self.name} ({facts['path']})", lambda: self.volume().delete(0))
        self.facts["path"] = facts["path"]


def converge(conn: Any, uri: str, values: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """Plan and (unless check mode) execute. A real run holds the volume's lock from its plan to its last
    action (an image of the base-image cache, named after its checksum, by that checksum): runs on this
    machine that change the same volume take turns.

    An import without ``name`` whose checksum is the URL of a checksum file reads that file first: the
    volume's name carries the digest found there."""
    planner = VolumePlanner(conn, uri, values, check_mode)
    key = f"{values['pool']}/{values['name'] or planner.want['checksum']}"
    with contextlib.nullcontext() if check_mode else turns(uri, "volume", [key]):
        plan = planner.make()
        if not check_mode:
            plan.execute()
    if not check_mode and values["state"] == "present" and plan.changed:
        facts = ops.volume_facts(planner.volume())
        planner.facts.update(capacity=facts["capacity"], format=facts["format"], path=facts["path"])
    return plan.result(**planner.facts)
