# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: libvirt
short_description: Guests of one or more libvirt hypervisors as inventory
version_added: 0.1.0
description:
  - Lists the guests of every hypervisor in O(uris) - running and stopped, each with its state - and
    groups them by hypervisor, state and tag (the tags set by M(kvmfleet.kvm.guest)), plus the
    constructed O(keyed_groups), O(groups) and O(compose).
  - Host variables C(libvirt_*) - state, uuid, tags, vcpus, max_vcpus, memory_mib, max_memory_mib,
    guest_agent, disks, interfaces, addresses, arch, virt_type, title and description as
    M(kvmfleet.kvm.guest_info) returns them; C(libvirt_uri), C(libvirt_hypervisor), C(libvirt_hypervisor_labels) and
    C(libvirt_hypervisor_maintenance) (the hypervisor's fleet record, see M(kvmfleet.kvm.hypervisor)) are
    variables of the guest's hypervisor group. The guests of hypervisors in maintenance are also in the
    group C(maintenance).
  - C(ansible_host) is set to the guest's best address (the first IPv4 address from
    O(address_sources), else IPv6). Guests without an address (stopped, or no lease yet) have none.
  - The hypervisors are queried at the same time; each is read with one C(getAllDomainStats) call,
    one C(XMLDesc) per guest, one DHCP lease call per libvirt network and, for a local URI, one read of
    the controller's neighbour table (V(arp)).
  - A hypervisor that cannot be reached, or does not answer within O(timeout), gives a warning; the guests
    of the others are still listed. A listing with such a warning is not written to the cache, so the
    next run asks again.
  - C(libvirt_guest_agent) is true for guests with the QEMU guest agent's channel. A O(compose) of
    C(ansible_connection) makes Ansible reach them through the agent with the connection plugin
    P(kvmfleet.kvm.guest_agent#connection), which finds each guest by C(libvirt_uri) and C(libvirt_uuid) (see
    the examples); the guest then needs qemu-guest-agent running, but no network or SSH.
  - Guest names are the inventory host names. A guest whose name an earlier hypervisor in O(uris)
    already has is left out, with a warning.
  - The inventory file's name must end in C(libvirt.yml) or C(libvirt.yaml).
author:
  - kvmfleet maintainers (@kvmfleet)
requirements:
  - The libvirt Python binding on the controller (C(python3-libvirt) or C(libvirt-python)).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; it makes the file an inventory source of this plugin.
    type: str
    required: true
    choices: [kvmfleet.kvm.libvirt]
  uris:
    description:
      - The hypervisors. Each item is a libvirt URI (V(qemu:///system), V(qemu+ssh://root@hv1/system),
        V(qemu+tls://hv2/system)) or a dictionary with C(uri) and C(name).
      - C(name) names the hypervisor in the C(hypervisor_*) group and in C(libvirt_hypervisor); by default
        it is the URI's host, or for a local URI the host name libvirt reports.
    type: list
    elements: raw
    default: [qemu:///system]
  address_sources:
    description:
      - Where running guests' addresses come from, in order of preference (see M(kvmfleet.kvm.guest_info)).
      - V(lease) costs one call per libvirt network; V(arp) one read of the controller's neighbour table for
        a local URI, else one call per running guest; V(agent) one call per running guest, and it opens the
        hypervisors read-write.
    type: list
    elements: str
    choices: [lease, agent, arp]
    default: [lease, arp]
  timeout:
    description:
      - Seconds to wait for all hypervisors together (they are asked at the same time). One that has not
        answered by then is left out with a warning, like an unreachable one.
    type: int
    default: 30
  group_prefix:
    description: Prefix of the groups this plugin makes (C(hypervisor_*), C(state_*), C(tag_*), C(maintenance)).
    type: str
    default: ""
"""

EXAMPLES = r"""
# kvm.libvirt.yml - two hypervisors; guests grouped by hypervisor, state and tag; the guests with the QEMU
# guest agent's channel reached through the agent (kvmfleet.kvm.guest_agent finds each one by libvirt_uri
# and libvirt_uuid; no network or SSH in the guest needed), the others over SSH at their address
plugin: kvmfleet.kvm.libvirt
uris:
  - qemu+ssh://root@hv1.example.com/system
  - uri: qemu+tls://hv2.example.com/system
    name: hv2
keyed_groups:
  - key: libvirt_arch
    prefix: arch
compose:
  ansible_user: "'debian'"
  ansible_connection: "'kvmfleet.kvm.guest_agent' if libvirt_guest_agent else 'ssh'"
groups:
  big: libvirt_memory_mib >= 8192
  agent: libvirt_guest_agent
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/kvmfleet-inventory
cache_timeout: 300
"""

import re
import threading
import time
from typing import Any, Optional
from urllib.parse import urlsplit

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError

HOSTVARS = (
    "uuid",
    "state",
    "title",
    "description",
    "tags",
    "virt_type",
    "arch",
    "vcpus",
    "max_vcpus",
    "memory_mib",
    "max_memory_mib",
    "guest_agent",
    "disks",
    "interfaces",
    "addresses",
)


def _group(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def read_hypervisor(uri: str, name: Any, sources: list[str]) -> dict[str, Any]:
    """One hypervisor's name and guests, or the error that kept it from answering."""
    # imported here: a listing served from the cache never loads the libvirt binding
    from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.info import read_guests  # noqa: PLC0415
    from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor import record  # noqa: PLC0415
    from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect  # noqa: PLC0415

    try:
        conn = connect(uri, readonly="agent" not in sources)
        try:
            if not name:
                name = urlsplit(uri).hostname or conn.getHostname()
            fleet, _stored = record.read(conn)
            return {
                "uri": uri,
                "name": name,
                "guests": read_guests(conn, sources=sources),
                "labels": fleet.labels,
                "maintenance": fleet.maintenance,
            }
        finally:
            conn.close()
    except KvmFleetError as exc:
        return {"uri": uri, "name": name, "error": exc.msg}
    except Exception as exc:  # libvirtError, socket errors: the other hypervisors still count
        return {"uri": uri, "name": name, "error": f"{uri}: {exc}"}


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "kvmfleet.kvm.libvirt"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("libvirt.yml", "libvirt.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        targets = self._targets()
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        hypervisors = None
        if use_cache:
            try:
                hypervisors = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if hypervisors is None:
            hypervisors = self._read(targets)
        if update_cache and not any("error" in hypervisor for hypervisor in hypervisors):
            self._cache[cache_key] = hypervisors  # a hypervisor that did not answer is asked again next time
        self._populate(hypervisors)

    def _targets(self) -> list[tuple[str, Any]]:
        targets = []
        for index, item in enumerate(self.get_option("uris")):
            if isinstance(item, str):
                targets.append((item, None))
            elif isinstance(item, dict) and isinstance(item.get("uri"), str):
                targets.append((item["uri"], item.get("name")))
            else:
                raise AnsibleParserError(f"uris[{index}]: expected a URI or a dictionary with uri (and name)")
        return targets

    def _read(self, targets: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (  # noqa: PLC0415
            LIBVIRT_IMPORT_ERROR,
        )

        if LIBVIRT_IMPORT_ERROR is not None:
            raise AnsibleError(
                "the kvmfleet.kvm.libvirt inventory needs the libvirt Python binding on the controller "
                "(python3-libvirt or pip install libvirt-python)"
            )
        sources = list(self.get_option("address_sources"))
        timeout = self.get_option("timeout")
        answers: list[Optional[dict[str, Any]]] = [None] * len(targets)

        def read(index: int, uri: str, name: Any) -> None:
            answers[index] = read_hypervisor(uri, name, sources)

        # daemon threads: a hypervisor that never answers is left behind, not waited for at exit
        threads = [
            threading.Thread(target=read, args=(index, uri, name), daemon=True)
            for index, (uri, name) in enumerate(targets)
        ]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [
            answer if answer is not None else {"uri": uri, "name": name, "error": f"no answer within {timeout} s"}
            for answer, (uri, name) in zip(answers, targets)
        ]

    def _populate(self, hypervisors: list[dict[str, Any]]) -> None:
        prefix = self.get_option("group_prefix")
        strict = self.get_option("strict")
        self._hypervisor_groups: set[str] = set()
        seen: dict[str, str] = {}
        for hypervisor in hypervisors:
            if "error" in hypervisor:
                self.display.warning(f"kvmfleet.kvm.libvirt: skipping {hypervisor['uri']}: {hypervisor['error']}")
                continue
            clashes = []
            for guest in hypervisor["guests"]:
                host = guest["name"]
                if host in seen:
                    clashes.append(f"{host} (also on {seen[host]})")
                    continue
                seen[host] = hypervisor["uri"]
                self._add_guest(host, guest, hypervisor, prefix, strict)
            if clashes:  # one warning per hypervisor, however many guests
                shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
                self.display.warning(
                    f"kvmfleet.kvm.libvirt: {len(clashes)} guests of {hypervisor['uri']} are left out: "
                    f"a guest of an earlier hypervisor has the same name: {shown}"
                )

    def _add_guest(
        self, host: str, guest: dict[str, Any], hypervisor: dict[str, Any], prefix: str, strict: bool
    ) -> None:
        self.inventory.add_host(host)
        # the hypervisor's own variables are set once on its group (below), not on each guest
        hostvars = {f"libvirt_{key}": guest[key] for key in HOSTVARS if guest[key] is not None}
        if guest["address"]:
            hostvars["ansible_host"] = guest["address"]
        for key, value in hostvars.items():
            self.inventory.set_variable(host, key, value)
        shared = {
            "libvirt_uri": hypervisor["uri"],
            "libvirt_hypervisor": hypervisor["name"],
            "libvirt_hypervisor_labels": hypervisor.get("labels") or [],
            "libvirt_hypervisor_maintenance": hypervisor.get("maintenance"),
        }
        hostvars.update(shared)
        groups = [f"hypervisor_{hypervisor['name']}", f"state_{guest['state']}"]
        groups += [f"tag_{tag}" for tag in guest["tags"]]
        if hypervisor.get("maintenance"):
            groups.append("maintenance")  # guests of hypervisors in maintenance (being drained, or left there)
        for index, group in enumerate(groups):
            name = self.inventory.add_group(_group(prefix + group))
            self.inventory.add_child(name, host)
            if index == 0 and name not in self._hypervisor_groups:
                self._hypervisor_groups.add(name)
                for key, value in shared.items():
                    self.inventory.set_variable(name, key, value)
        self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
