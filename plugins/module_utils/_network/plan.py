# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan a libvirt network: desired state vs. what libvirt has, classified differences, ordered actions.

The plan is made the same way in check mode and in a real run; only the actions are skipped in
check mode, so ``changed``, the diff and the actions are the same in both.

For a defined network, the desired values are compared with its persistent definition and, when it
is active, with its live definition:
- DHCP hosts and DNS hosts are changed on the running network through the network update API
  (``virNetworkUpdate``, live and persistent in one call) - dnsmasq is told, guests keep their link;
- any other difference is persisted; on an active network it takes effect only when the network is
  restarted (destroy + start), which cuts its guests off - so that happens only with ``restart``,
  otherwise the module fails naming the option, before anything is changed.
"""

from __future__ import annotations

import ipaddress
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (
    define_checked,
    define_new,
    find,
    require_libvirt,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network import xml as nx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._network.options import IP, NETWORK_MODULE, RESTART
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    LIVE,
    Problem,
    differs,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan, run_actions

ABSENT, ACTIVE, INACTIVE = "absent", "active", "inactive"
TOPOLOGY = ("forward", "bridge", "forward_dev", "interfaces", "macvtap_mode", "pf")
FAMILIES = ("ipv4", "ipv6")
SYS_NET = "/sys/class/net"


@dataclass
class UpdateOp:
    """One ``virNetworkUpdate`` call: command, section, parent <ip> index, element XML."""

    command: str  # add, modify, delete
    section: str  # dhcp_host, dns_host
    parent: int
    xml: str
    description: str


@dataclass
class NetworkPlan(Plan):
    before_state: str = ABSENT
    desired_state: str = "present"
    restart_fields: list[str] = field(default_factory=list)
    restarted: bool = False
    definition: Optional[str] = None

    @property
    def header(self) -> str:
        return self.name

    def execute(self) -> None:
        run_actions(self.actions, f"network {self.name}", **self.details)  # failures name the kind

    def after_state(self) -> str:
        if self.desired_state == "present":
            return INACTIVE if self.before_state == ABSENT else self.before_state
        return self.desired_state


def network_state(net: Any) -> str:
    return ACTIVE if net.isActive() else INACTIVE


def merged(want: dict[str, Any], have: dict[str, Any]) -> dict[str, Any]:
    """The definition the network should have: the user's set options over what it has now."""
    out = dict(have)
    for key, value in want.items():
        if value is None or NETWORK_MODULE[key].update == CONTROL or key in FAMILIES:
            continue
        out[key] = value
    if want.get("forward") not in (None, have.get("forward")):
        # a new forward mode: what belonged to the old one does not carry over unless set again
        for key in TOPOLOGY[1:]:
            if want.get(key) is None and not (
                key == "bridge" and want["forward"] in ("nat", "route", "open", "isolated")
            ):
                out[key] = None
    for family in FAMILIES:
        wanted = want.get(family)
        if wanted is None:
            continue
        base = have.get(family) or {"dhcp_ranges": [], "dhcp_hosts": []}
        out[family] = {**base, **{k: v for k, v in wanted.items() if v is not None}}
    return out


class NetworkPlanner:
    """Plans one network. ``want`` is the table's validated output; ``local`` says whether the host's
    interfaces can be checked here (a local URI)."""

    def __init__(self, conn: Any, want: dict[str, Any], local: bool) -> None:
        self.conn = conn
        self.want = want
        self.local = local
        self.name: str = want["name"]
        self.lv = require_libvirt()
        self.problems: list[Problem] = []

    # ------------------------------------------------------------------ entry

    def plan(self) -> NetworkPlan:
        net = self._lookup()
        before = network_state(net) if net is not None else ABSENT
        plan = NetworkPlan("network", self.name, before_state=before, desired_state=self.want["state"])
        if self.want["state"] == ABSENT:
            if net is not None:
                self._plan_removal(plan, net)
            return plan
        if net is None:
            self._plan_create(plan)
        else:
            self._plan_update(plan, net)
        return plan

    def _lookup(self) -> Optional[Any]:
        return find(self.conn.networkLookupByName, self.name)

    def _net(self) -> Any:
        return self.conn.networkLookupByName(self.name)

    # ------------------------------------------------------------------ checks against the host

    def _check_host(self, values: dict[str, Any]) -> None:
        """Devices the definition names exist; the subnets are not another libvirt network's."""
        if self.local:
            forward = values["forward"]
            if forward == "bridge" and values["bridge"] and not os.path.isdir(f"{SYS_NET}/{values['bridge']}/bridge"):
                what = "is not a bridge" if os.path.exists(f"{SYS_NET}/{values['bridge']}") else "does not exist"
                self.problems.append(("bridge", f"host bridge {values['bridge']} {what} on this host"))
            for key in ("forward_dev", "pf"):
                if values.get(key) and not os.path.exists(f"{SYS_NET}/{values[key]}"):
                    self.problems.append((key, f"host interface {values[key]} does not exist on this host"))
            if forward == "macvtap":
                for index, dev in enumerate(values["interfaces"] or []):
                    if not os.path.exists(f"{SYS_NET}/{dev}"):
                        self.problems.append(
                            (f"interfaces[{index}]", f"host interface {dev} does not exist on this host")
                        )
        for family in FAMILIES:
            if self.want[family] is None:
                continue
            mine = ipaddress.ip_interface(self.want[family]["address"]).network
            for other in self.conn.listAllNetworks():
                if other.name() == self.name:
                    continue
                theirs = nx.read(other.XMLDesc(0)).get(family)
                if theirs and ipaddress.ip_interface(theirs["address"]).network.overlaps(mine):
                    self.problems.append(
                        (
                            f"{family}.address",
                            f"{mine} overlaps {theirs['address']} of the libvirt network {other.name()}",
                        )
                    )
        if self.problems:
            raise ValidationError(self.problems)

    # ------------------------------------------------------------------ create

    def _plan_create(self, plan: NetworkPlan) -> None:
        want = dict(self.want)
        if want["forward"] is None:
            want["forward"] = NETWORK_MODULE["forward"].create_default
        values = merged(want, {key: None for key in want})
        self._check_host(values)
        root = nx.skeleton(self.name)
        self._write(root, values, [*TOPOLOGY, "mtu", "domain", *FAMILIES, "dns_hosts"])
        xml = nx.tostring(root)
        plan.definition = xml
        plan.diff.add("state", ABSENT, self.want["state"] if self.want["state"] != "present" else INACTIVE, CONTROL)
        for key, value in self.want.items():
            if value is not None and NETWORK_MODULE[key].update != CONTROL and key != "name":
                plan.diff.add(key, None, value)
        if self.want["forward"] is None:
            plan.diff.add("forward", None, want["forward"])
        plan.add(
            f"define network {self.name}",
            lambda: define_new(
                lambda text: define_checked(self.conn, "network", text),
                self.conn.networkLookupByName,
                self.name,
                xml,
                "network",
            ),
        )
        if self.want["autostart"]:
            plan.add("enable autostart", lambda: self._net().setAutostart(1))
        if self.want["state"] == ACTIVE:
            plan.add("start the network", lambda: self._net().create())

    def _write(self, root: ET.Element, values: dict[str, Any], keys: list[str]) -> None:
        if any(key in keys for key in TOPOLOGY):
            nx.write_forward(root, values)
        if "mtu" in keys and values["mtu"] is not None:
            nx.write_mtu(root, values["mtu"])
        if "domain" in keys and values["domain"] is not None:
            nx.write_domain(root, values["domain"])
        for family in FAMILIES:
            if family in keys and values[family] is not None:
                nx.write_ip(root, family, values[family])
        if "dns_hosts" in keys and values["dns_hosts"] is not None:
            nx.write_dns_hosts(root, values["dns_hosts"])

    # ------------------------------------------------------------------ compare

    def _changes(self, have: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
        """(path, before, after, how it applies) for every set option that differs from ``have``."""
        changes: list[tuple[str, Any, Any, str]] = []
        for key, value in self.want.items():
            option = NETWORK_MODULE[key]
            if value is None or option.update == CONTROL or key in ("name", "autostart"):
                continue
            if key in FAMILIES:
                ours = have.get(key) or {}
                for sub, sub_value in value.items():
                    sub_option = IP[sub]
                    theirs = ours.get(sub)
                    if differs(sub_value, theirs, "unordered" if sub != "address" else sub_option.compare):
                        update = LIVE if (sub_option.update == LIVE and ours.get("address")) else RESTART
                        changes.append((f"{key}.{sub}", theirs, sub_value, update))
            elif differs(value, have.get(key), option.compare):
                changes.append((key, have.get(key), value, option.update))
        return changes

    # ------------------------------------------------------------------ update

    def _plan_update(self, plan: NetworkPlan, net: Any) -> None:
        flags_inactive = self.lv.VIR_NETWORK_XML_INACTIVE
        persistent = bool(net.isPersistent())
        config_xml = net.XMLDesc(flags_inactive)
        config = nx.read(config_xml)
        active = plan.before_state == ACTIVE
        live_xml = net.XMLDesc(0) if active else config_xml
        live = nx.read(live_xml) if active else config
        target = merged(self.want, config)
        self._check_host(target)

        config_changes = self._changes(config)
        live_changes = self._changes(live) if active else []
        for path, before, after, _update in config_changes:
            plan.diff.add(path, before, after)
        seen = {change[0] for change in config_changes}
        for path, before, after, _update in live_changes:
            if path not in seen:
                plan.diff.add(path, before, after)
        if self.want["autostart"] is not None and bool(net.autostart()) != self.want["autostart"]:
            plan.diff.add("autostart", bool(net.autostart()), self.want["autostart"], LIVE)
        stays_active = active and self.want["state"] in ("present", ACTIVE)
        if self.want["state"] == INACTIVE and active:
            plan.diff.add("state", ACTIVE, INACTIVE, CONTROL)
            plan.add("stop the network", lambda: self._net().destroy())
        restart = sorted({path for path, _b, _a, update in live_changes if update == RESTART}) if stays_active else []
        plan.restart_fields = restart
        if restart and not self.want["restart"]:
            raise NeedsOption(
                f"network {self.name}: changing {', '.join(restart)} takes a restart of the active network, "
                "which cuts its guests off",
                "restart",
                restart_fields=restart,
            )

        new_root = ET.fromstring(config_xml)
        self._write(new_root, target, [path.split(".")[0] for path, *_rest in config_changes])
        new_config = nx.tostring(new_root)
        plan.definition = new_config if config_changes else config_xml

        if stays_active and not restart and live_changes:
            live_ops = self._update_ops(live_xml, live, target)
            config_ops = self._update_ops(config_xml, config, target) if persistent else []
            both = (
                persistent
                and [op.description for op in live_ops] == [op.description for op in config_ops]
                and [op.parent for op in live_ops] == [op.parent for op in config_ops]
            )
            flags = self.lv.VIR_NETWORK_UPDATE_AFFECT_LIVE
            if both:
                flags |= self.lv.VIR_NETWORK_UPDATE_AFFECT_CONFIG
            where = "live and persistent" if both else "live"
            for op in live_ops:
                plan.add(f"{op.description} ({where})", self._update_call(op, flags))
            if not both and config_changes:
                plan.add(
                    "update the persistent definition: " + ", ".join(c[0] for c in config_changes),
                    self._define(new_config),
                )
        elif config_changes or (restart and not persistent):
            plan.add(
                "update the persistent definition: " + ", ".join(c[0] for c in config_changes), self._define(new_config)
            )
        if restart:
            plan.restarted = True
            plan.diff.add("restarted", False, True, CONTROL)

            def do_restart() -> None:
                network = self._net()
                network.destroy()
                network.create()

            plan.add(f"restart the network (destroy and start) to apply {', '.join(restart)}", do_restart)
        if self.want["autostart"] is not None and bool(net.autostart()) != self.want["autostart"]:
            wanted = self.want["autostart"]
            plan.add(("enable" if wanted else "disable") + " autostart", lambda: self._net().setAutostart(int(wanted)))
        if self.want["state"] == ACTIVE and not active:
            plan.diff.add("state", INACTIVE, ACTIVE, CONTROL)
            plan.add("start the network", lambda: self._net().create())

    def _define(self, xml: str) -> Callable[[], None]:
        return lambda: define_checked(self.conn, "network", xml)

    def _update_call(self, op: UpdateOp, flags: int) -> Callable[[], None]:
        command = {
            "add": self.lv.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
            "modify": self.lv.VIR_NETWORK_UPDATE_COMMAND_MODIFY,
            "delete": self.lv.VIR_NETWORK_UPDATE_COMMAND_DELETE,
        }[op.command]
        section = {
            "dhcp_host": self.lv.VIR_NETWORK_SECTION_IP_DHCP_HOST,
            "dns_host": self.lv.VIR_NETWORK_SECTION_DNS_HOST,
        }[op.section]
        return lambda: self._net().update(command, section, op.parent, op.xml, flags)

    def _update_ops(self, xml: str, have: dict[str, Any], target: dict[str, Any]) -> list[UpdateOp]:
        """The update calls that turn ``have``'s DHCP and DNS hosts into ``target``'s: deletes, modifies, adds."""
        root = ET.fromstring(xml)
        ips = root.findall("ip")
        deletes: list[UpdateOp] = []
        modifies: list[UpdateOp] = []
        adds: list[UpdateOp] = []
        for family in FAMILIES:
            wanted = (self.want.get(family) or {}).get("dhcp_hosts")
            if wanted is None or not have.get(family):
                continue
            parent = next(index for index, ip in enumerate(ips) if nx.read_ip(ip)["address"] == have[family]["address"])

            def key(host: dict[str, Any]) -> str:
                return host["mac"] or host["id"] or host["name"]

            before = {key(host): host for host in have[family]["dhcp_hosts"]}
            after = {key(host): host for host in target[family]["dhcp_hosts"]}
            for name, host in before.items():
                text = nx.tostring(nx.dhcp_host_xml(host))
                if name not in after:
                    deletes.append(
                        UpdateOp("delete", "dhcp_host", parent, text, f"remove DHCP host {name} ({host['ip']})")
                    )
            for name, host in after.items():
                text = nx.tostring(nx.dhcp_host_xml(host))
                if name not in before:
                    adds.append(UpdateOp("add", "dhcp_host", parent, text, f"add DHCP host {name} -> {host['ip']}"))
                elif before[name] != host:
                    modifies.append(
                        UpdateOp("modify", "dhcp_host", parent, text, f"change DHCP host {name} -> {host['ip']}")
                    )
        if self.want["dns_hosts"] is not None:
            before_dns = {host["ip"]: host for host in have["dns_hosts"]}
            after_dns = {host["ip"]: host for host in target["dns_hosts"]}
            for ip, host in before_dns.items():
                if after_dns.get(ip) != host:
                    text = nx.tostring(nx.dns_host_xml(host))
                    deletes.append(
                        UpdateOp(
                            "delete", "dns_host", -1, text, f"remove DNS host {ip} ({' '.join(host['hostnames'])})"
                        )
                    )
            for ip, host in after_dns.items():
                if before_dns.get(ip) != host:
                    text = nx.tostring(nx.dns_host_xml(host))
                    adds.append(
                        UpdateOp("add", "dns_host", -1, text, f"add DNS host {ip} ({' '.join(host['hostnames'])})")
                    )
        return deletes + modifies + adds

    # ------------------------------------------------------------------ removal

    def _plan_removal(self, plan: NetworkPlan, net: Any) -> None:
        plan.diff.add("state", plan.before_state, ABSENT, CONTROL)
        if plan.before_state == ACTIVE:
            plan.add("stop the network", lambda: self._net().destroy())
        if net.isPersistent():
            plan.add(f"undefine network {self.name}", lambda: self._net().undefine())
