# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan a guest: desired state vs. what libvirt has, classified differences, ordered actions.

A plan is made the same way in check mode and in a real run; only ``execute`` is skipped in check
mode, so ``changed``, the diff and the actions are the same in both.

For a defined guest, the desired values are compared with its persistent definition (what the next
boot uses) and, when it runs, with its live definition:
- a live-capable difference on a running guest becomes a live call *and* is persisted;
- any other difference is persisted; if the guest runs, it is reported in ``reboot_required`` and the
  guest is restarted only with ``restart: if_needed``;
- a difference that cannot be made in place fails, naming the option that allows recreating.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils import _cloudinit, _faults
from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import power
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._host import judge_kvm, local_kvm_facts, parse_capabilities
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import (
    define_new,
    find,
    is_local_uri,
    require_libvirt,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    NEXT_BOOT,
    DiffTracker,
    Problem,
    differs,
    join_path,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size
from ansible_collections.kvmfleet.kvm.plugins.module_utils._volume import ops as _storage

# options compared by their own code below, not as plain values
_SPECIAL = {
    "name",
    "disks",
    "interfaces",
    "cloud_init",
    "cpu",
    "console",
    "graphics",
    "watchdog",
    "autostart",
    "machine",
    "tb_cache",
}
_DICTS = ("cpu", "console", "graphics", "watchdog")
SEED_META = "cloud-init-target"
# buses QEMU can hot-plug a disk on; a disk on any other bus (sata, ide, fdc) is added or removed in the
# persistent definition only and reaches a running guest at its next boot
HOTPLUG_BUSES = ("virtio", "scsi", "usb")


class HostContext:
    """What the planner needs to know about the hypervisor, read once per module run."""

    def __init__(self, conn: Any, uri: str) -> None:
        self.conn = conn
        caps_xml = conn.getCapabilities()
        self.caps = parse_capabilities(caps_xml)
        arch_caps = self.caps["guests"].get(self.caps["arch"], {"domain_types": []})
        self.kvm_usable, self.kvm_reason = judge_kvm(
            arch_caps["domain_types"], local_kvm_facts() if is_local_uri(uri) else None
        )
        self.aliases: dict[str, str] = {}
        root = ET.fromstring(caps_xml)
        for machine in root.iter("machine"):
            if machine.get("canonical") and machine.text:
                self.aliases[machine.text] = machine.get("canonical", "")

    def virt_type(self, wanted: str) -> str:
        if wanted == "auto":
            return "kvm" if self.kvm_usable else "qemu"
        return wanted

    def machine_matches(self, wanted: str, actual: Optional[str]) -> bool:
        """'q35' matches any pc-q35-* (no churn when QEMU is upgraded); a versioned name must match exactly."""
        if actual is None or wanted == actual:
            return True
        canonical = self.aliases.get(wanted)
        if canonical is None:
            return False
        family = canonical.rsplit("-", 1)[0]
        return actual == canonical or actual.startswith(family + "-")


def derived_mac(name: str, index: int) -> str:
    """A stable MAC for a guest's NIC: reruns and recreations never churn it."""
    digest = hashlib.sha256(f"{name}/{index}".encode()).digest()
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def show(name: str, value: Any) -> Any:
    """A value as the diff shows it: sizes with units."""
    if value is None:
        return None
    if name in ("memory", "max_memory", "tb_cache", "size") and isinstance(value, int):
        return format_size(value)
    return value


@dataclass
class Action:
    description: str
    run: Callable[[], None]


@dataclass
class GuestPlan:
    name: str
    path: str
    desired_state: str
    before_state: str
    diff: DiffTracker = field(default_factory=DiffTracker)
    actions: list[Action] = field(default_factory=list)
    reboot_required: list[str] = field(default_factory=list)
    definition: Optional[str] = None
    power_from: Optional[str] = None  # the power state when the power step runs, if not before_state
    settled: Optional[str] = None  # what the plan waited for before reading the guest (a transient state)

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def add(self, description: str, run: Callable[[], None]) -> None:
        self.actions.append(Action(description, run))

    def result(self, after_state: str, xml: Optional[str] = None) -> dict[str, Any]:
        diff = self.diff.diff()
        result: dict[str, Any] = {
            "name": self.name,
            "changed": self.changed,
            "state": after_state,
            "actions": [action.description for action in self.actions],
            "reboot_required": bool(self.reboot_required),
            "reboot_required_fields": sorted(set(self.reboot_required)),
            "diff": {
                "before": diff["before"],
                "after": diff["after"],
                "before_header": self.name,
                "after_header": self.name,
            },
        }
        if xml is not None:
            result["xml"] = xml
        if self.settled is not None:
            result["settled"] = self.settled
        return result


@dataclass
class Update:
    """What comparing one defined guest works on: its persistent and live definitions, and the patches."""

    plan: GuestPlan
    dom: Any
    config: dict[str, Any]
    config_xml: str
    live: Optional[dict[str, Any]]
    running: bool
    storage: dict[str, Any]
    patches: list[tuple[str, Callable[[ET.Element], None]]] = field(default_factory=list)


class GuestPlanner:
    """Plans one guest. ``desired`` is the guest table's validated output; ``path`` prefixes error paths."""

    def __init__(self, host: HostContext, desired: dict[str, Any], path: str = "") -> None:
        self.host = host
        self.conn = host.conn
        self.want = desired
        self.path = path
        self.name: str = desired["name"]
        self.problems: list[Problem] = []
        self.lv = require_libvirt()

    def at(self, field_path: str) -> str:
        return join_path(self.path, field_path)

    # ------------------------------------------------------------------ entry

    def plan(self) -> GuestPlan:
        dom = self._lookup()
        settled = None
        if dom is not None:  # a guest libvirt is still starting, saving, shutting down: plan from where it ends
            settled = power.settle(dom, self.want["shutdown_timeout"])
            dom = self._lookup() if settled else dom
        before = power.power_state(dom) if dom is not None else power.ABSENT
        plan = GuestPlan(self.name, self.path, self.want["state"], before, settled=settled)
        if self.want["state"] == power.ABSENT:
            if dom is not None:
                self._plan_removal(plan, dom)
            return plan
        self._complete_desired()
        storage = self._plan_storage(plan)
        if self.problems:
            raise ValidationError(self.problems)
        if dom is None:
            self._plan_create(plan, storage)
        elif self._impossible_changes(plan, dom):
            self._plan_recreate(plan, dom, storage)
        else:
            self._plan_update(plan, dom, storage)
        if self.problems:
            raise ValidationError(self.problems)
        self._plan_power(plan)
        return plan

    def _lookup(self) -> Optional[Any]:
        return find(self.conn.lookupByName, self.name)

    def _dom(self) -> Any:
        return self.conn.lookupByName(self.name)

    def _define_new(self, xml: str) -> None:
        define_new(self.conn.defineXML, self.conn.lookupByName, self.name, xml, "guest")

    # ------------------------------------------------------------------ desired state completion

    def _complete_desired(self) -> None:
        want = self.want
        for index, disk in enumerate(want["disks"] or []):
            if disk["path"] is None:
                disk["pool"] = disk["pool"] or "default"
                if disk["volume"] is None and (disk["size"] is not None or disk["backing_image"] is not None):
                    disk["format"] = disk["format"] or "qcow2"
                    disk["volume"] = f"{self.name}-{disk['target']}.{disk['format']}"
            disk["index"] = index
        for index, nic in enumerate(want["interfaces"] or []):
            nic["index"] = index

    # ------------------------------------------------------------------ storage (volumes, seed)

    def _plan_storage(self, plan: GuestPlan) -> dict[str, Any]:
        """Check pools, volumes and backing images; return what must be created or grown."""
        info: dict[str, Any] = {"create": [], "grow": {}, "formats": {}, "seed": None}
        for disk in self.want["disks"] or []:
            where = f"disks[{disk['index']}]"
            if disk["path"] is not None:
                continue
            pool = _storage.find_pool(self.conn, disk["pool"])
            if pool is None:
                self.problems.append((self.at(f"{where}.pool"), f"no storage pool {disk['pool']} on this hypervisor"))
                continue
            if not pool.isActive():
                self.problems.append((self.at(f"{where}.pool"), f"storage pool {disk['pool']} is not active"))
                continue
            vol = _storage.find_volume(pool, disk["volume"]) if disk["volume"] else None
            if vol is None:
                if disk["size"] is None and disk["backing_image"] is None:
                    self.problems.append(
                        (
                            self.at(f"{where}.volume"),
                            f"no volume {disk['volume']} in pool {disk['pool']}; "
                            "give size or backing_image to create it",
                        )
                    )
                    continue
                refused = _storage.raw_only(_storage.pool_type(pool))
                # a new volume named by the user: qcow2 unless its pool holds raw volumes only
                disk["format"] = disk["format"] or ("raw" if refused is not None else "qcow2")
                if refused is not None and (disk["backing_image"] is not None or disk["format"] != "raw"):
                    field = "backing_image" if disk["backing_image"] is not None else "format"
                    self.problems.append((self.at(f"{where}.{field}"), f"pool {disk['pool']}: {refused}"))
                    continue
                backing = None
                capacity = disk["size"] or 0
                if disk["backing_image"] is not None:
                    base = self._backing(pool, disk, where)
                    if base is None:
                        continue
                    backing = (base["path"], base["format"] or "raw")
                    if disk["size"] is not None and disk["size"] < base["capacity"]:
                        self.problems.append(
                            (
                                self.at(f"{where}.size"),
                                f"{format_size(disk['size'])} is smaller than its backing image "
                                f"({format_size(base['capacity'])})",
                            )
                        )
                        continue
                    capacity = max(capacity, base["capacity"])
                info["create"].append((disk, capacity, backing))
                info["formats"][disk["target"]] = disk["format"]
            else:
                facts = _storage.volume_facts(vol)
                info["formats"][disk["target"]] = _storage.driver_type(facts["format"])
                disk["current_size"] = facts["capacity"]
                if disk["size"] is not None and disk["size"] < facts["capacity"]:
                    self.problems.append(
                        (
                            self.at(f"{where}.size"),
                            f"shrinking {disk['volume']} from {format_size(facts['capacity'])} "
                            f"to {format_size(disk['size'])} is refused",
                        )
                    )
                elif disk["size"] is not None and disk["size"] > facts["capacity"]:
                    info["grow"][disk["target"]] = (vol, disk["size"])
        for disk, capacity, backing in info["create"]:
            pool_name, vol_name, fmt = disk["pool"], disk["volume"], disk["format"]
            description = f"create volume {vol_name} ({format_size(capacity)} {fmt}" + (
                f", overlay on {backing[0]})" if backing else ")"
            )

            def create(
                pool_name: str = pool_name,
                vol_name: str = vol_name,
                capacity: int = capacity,
                fmt: str = fmt,
                backing: Any = backing,
            ) -> None:
                pool = self.conn.storagePoolLookupByName(pool_name)
                _storage.create_volume(pool, vol_name, capacity, fmt, backing)

            plan.add(description, create)
        for nic in self.want["interfaces"] or []:
            if nic["type"] == "network":
                try:
                    self.conn.networkLookupByName(nic["source"])
                except self.lv.libvirtError:
                    self.problems.append(
                        (self.at(f"interfaces[{nic['index']}].source"), f"no libvirt network {nic['source']}")
                    )
        self._plan_seed(info)
        return info

    def _backing(self, pool: Any, disk: dict[str, Any], where: str) -> Optional[dict[str, Any]]:
        image = disk["backing_image"]
        if image.startswith("/"):
            try:
                vol = self.conn.storageVolLookupByPath(image)
            except self.lv.libvirtError:
                self.problems.append(
                    (self.at(f"{where}.backing_image"), f"{image} is not a volume of any storage pool")
                )
                return None
        else:
            vol = _storage.find_volume(pool, image)
            if vol is None:
                self.problems.append((self.at(f"{where}.backing_image"), f"no volume {image} in pool {disk['pool']}"))
                return None
        return _storage.volume_facts(vol)

    def _plan_seed(self, info: dict[str, Any]) -> None:
        seed = self.want["cloud_init"]
        if seed is None:
            return
        pool_name = seed["pool"] or next((d["pool"] for d in self.want["disks"] or [] if d["pool"]), "default")
        if _storage.find_pool(self.conn, pool_name) is None:
            self.problems.append((self.at("cloud_init.pool"), f"no storage pool {pool_name} on this hypervisor"))
            return
        files = _cloudinit.seed_files(self.name, seed["user_data"], seed["meta_data"], seed["network_config"])
        used = {d["target"] for d in self.want["disks"] or []}
        target = next(f"sd{c}" for c in "abcdefghijklmnopqrstuvwxyz" if f"sd{c}" not in used)
        info["seed"] = {
            "pool": pool_name,
            "volume": f"{self.name}-cidata.iso",
            "files": files,
            "hash": _cloudinit.seed_hash(files),
            "target": target,
        }

    def _seed_action(self, plan: GuestPlan, seed: dict[str, Any]) -> None:
        def write_seed() -> None:
            data = _cloudinit.build_iso(seed["files"])
            pool = self.conn.storagePoolLookupByName(seed["pool"])
            vol = _storage.find_volume(pool, seed["volume"])
            if vol is not None:
                vol.delete(0)
            vol = _storage.create_volume(pool, seed["volume"], len(data), "raw")
            _faults.point(f"upload cloud-init seed {seed['volume']}")
            _storage.upload(self.conn, vol, data)

        plan.add(f"write cloud-init seed {seed['volume']} in pool {seed['pool']}", write_seed)

    def _record_seed(self, seed: dict[str, Any]) -> None:
        """Write the seed's hash into the guest's definition (as libvirt has it: its uuid, its addresses)."""
        root = ET.fromstring(self._dom().XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE | self.lv.VIR_DOMAIN_XML_SECURE))
        gx.write_meta(root, "cloud-init", seed["hash"])
        self.conn.defineXML(gx.to_string(root))

    @staticmethod
    def _seed_disk(seed: dict[str, Any]) -> dict[str, Any]:
        return {
            "device": "cdrom",
            "bus": "sata",
            "target": seed["target"],
            "pool": seed["pool"],
            "volume": seed["volume"],
            "format": "raw",
            "readonly": True,
        }

    # ------------------------------------------------------------------ create

    def _plan_create(self, plan: GuestPlan, storage: dict[str, Any]) -> None:
        root = gx.skeleton(self.name)
        values = dict(self.want)
        for opt in GUEST.options:
            if values.get(opt.name) is None and opt.create_default is not None:
                values[opt.name] = opt.create_default
        values["virt_type"] = self.host.virt_type(values["virt_type"])
        if values["console"] is None:
            values["console"] = {"type": "pty", "log": None}
        for name, writer in gx.WRITERS.items():
            if values.get(name) is not None:
                writer(root, values[name])
        devs = gx.devices(root)
        for disk in values["disks"] or []:
            fmt = disk["format"] or storage["formats"].get(disk["target"]) or "raw"
            devs.append(gx.disk_element({**disk, "format": fmt}))
        for nic in values["interfaces"] or []:
            devs.append(gx.interface_element({**nic, "mac": nic["mac"] or derived_mac(self.name, nic["index"])}))
        seed = storage["seed"]
        if seed is not None:
            devs.append(gx.disk_element(self._seed_disk(seed)))
            gx.write_meta(root, SEED_META, seed["target"])
        unseeded = gx.to_string(root)
        if seed is not None:
            gx.write_meta(root, "cloud-init", seed["hash"])
        xml = gx.to_string(root)
        plan.definition = xml
        define = Action(f"define guest {self.name}", lambda: self._define_new(xml))
        if plan.before_state == power.ABSENT:
            # a new guest is defined before its volumes and seed are made: a run killed in between leaves
            # a guest that names them (the rerun makes them, a removal finds them), never a volume of no
            # guest. Its seed's hash is recorded once the seed is written: until then a rerun rewrites it.
            if seed is None:
                plan.actions.insert(0, define)
            else:
                plan.actions.insert(0, Action(f"define guest {self.name}", lambda: self._define_new(unseeded)))
                self._seed_action(plan, seed)
                plan.add(f"record cloud-init seed {seed['hash']} in the definition", lambda: self._record_seed(seed))
        else:  # recreated: defined again after the old definition is gone
            if seed is not None:
                self._seed_action(plan, seed)
            plan.actions.append(define)
        if values["autostart"]:
            plan.add("enable autostart", lambda: self._dom().setAutostart(1))
        plan.diff.add("state", power.ABSENT, "defined", CONTROL)
        for opt in GUEST.options:
            if opt.update != CONTROL and self.want.get(opt.name) is not None and opt.name != "name":
                plan.diff.add(opt.name, None, self._display(opt.name, self.want[opt.name]), opt.update)

    def _display(self, name: str, value: Any) -> Any:
        if name == "disks":
            return [
                {k: show(k, v) for k, v in disk.items() if v is not None and k not in ("index", "current_size")}
                for disk in value
            ]
        if name == "interfaces":
            return [{k: v for k, v in nic.items() if v is not None and k != "index"} for nic in value]
        if name == "cloud_init":
            return {k: ("(hidden)" if k == "user_data" else v) for k, v in value.items() if v is not None}
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is not None and k != "password"}
        return show(name, value)

    # ------------------------------------------------------------------ recreate

    def _impossible_changes(self, plan: GuestPlan, dom: Any) -> bool:
        """Record differences that cannot be made in place; fail unless recreate allows them."""
        config = gx.read_domain(dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE))
        changes = [
            (opt.name, config[opt.name], self.want[opt.name])
            for opt in GUEST.options
            if opt.update == IMPOSSIBLE
            and opt.name != "name"
            and differs(self.want[opt.name], config[opt.name], opt.compare)
        ]
        if changes and not self.want["recreate"]:
            name, before, after = changes[0]
            raise NeedsOption(
                f"{self.at(name)}: changing {before!r} to {after!r} cannot be done in place; "
                "the guest would have to be recreated",
                "recreate: true",
            )
        for name, before, after in changes:
            plan.diff.add(name, before, after, IMPOSSIBLE)
        return bool(changes)

    def _plan_recreate(self, plan: GuestPlan, dom: Any, storage: dict[str, Any]) -> None:
        """Shut down (gracefully; force allows a power-off), undefine keeping volumes, define anew, restore power."""
        timeout, force = self.want["shutdown_timeout"], self.want["force"]
        was_active = bool(dom.isActive())
        if was_active:
            plan.add(
                f"shut the guest down to recreate it (wait up to {timeout} s)",
                lambda: power.shutdown(self._dom(), timeout, force, "recreate: true"),
            )
        plan.add("undefine the guest to recreate it (its volumes are kept)", lambda: power.undefine(self._dom()))
        kept = list(plan.diff.changes)
        self._plan_create(plan, storage)
        plan.diff.changes = [*kept, *[c for c in plan.diff.changes if c.path == "recreated"]]
        plan.diff.add("recreated", False, True, CONTROL)
        if was_active and self.want["state"] == "present":
            plan.add(
                "start the guest again", lambda: power.start(self._dom(), paused=plan.before_state == power.PAUSED)
            )
        plan.power_from = power.STOPPED

    # ------------------------------------------------------------------ update

    def _plan_update(self, plan: GuestPlan, dom: Any, storage: dict[str, Any]) -> None:
        config_xml = dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE | self.lv.VIR_DOMAIN_XML_SECURE)
        config = gx.read_domain(config_xml)
        running = bool(dom.isActive())
        live = gx.read_domain(dom.XMLDesc(self.lv.VIR_DOMAIN_XML_SECURE)) if running else None
        up = Update(plan, dom, config, config_xml, live, running, storage)
        patches = up.patches

        # plain values
        for opt in GUEST.options:
            if opt.update == CONTROL or opt.name in _SPECIAL:
                continue
            wanted = self.want[opt.name]
            if opt.name == "virt_type" and wanted is not None:
                wanted = self.host.virt_type(wanted)
            if wanted is None:
                continue
            self._compare_value(up, opt.name, opt.update, opt.compare, wanted)
        if self.want["machine"] is not None:
            if not self.host.machine_matches(self.want["machine"], config["machine"]):
                self._next_boot(up, "machine", config["machine"], self.want["machine"], gx.write_machine)
            elif live is not None and not self.host.machine_matches(self.want["machine"], live["machine"]):
                plan.reboot_required.append("machine")
        if self.want["tb_cache"] is not None and config["virt_type"] == "qemu":
            self._compare_value(up, "tb_cache", NEXT_BOOT, "strict", self.want["tb_cache"])
        for name in _DICTS:
            if self.want[name] is not None:
                self._compare_dict(up, name)
        if self.want["autostart"] is not None and bool(dom.autostart()) != self.want["autostart"]:
            wanted = self.want["autostart"]
            plan.diff.add("autostart", not wanted, wanted, LIVE)
            plan.add(f"{'enable' if wanted else 'disable'} autostart", lambda: self._dom().setAutostart(int(wanted)))
        if self.want["disks"] is not None:
            self._compare_disks(up)
        if self.want["interfaces"] is not None:
            self._compare_interfaces(up)
        if storage["seed"] is not None:
            self._compare_seed(up, storage["seed"])
        if patches:
            fields = ", ".join(sorted({patch[0] for patch in patches}))

            def redefine() -> None:
                current = self._dom().XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE | self.lv.VIR_DOMAIN_XML_SECURE)
                root = ET.fromstring(current)
                for _field, patch in patches:
                    patch(root)
                self.conn.defineXML(gx.to_string(root))

            plan.add(f"update the persistent definition: {fields}", redefine)
            # the definition shown: read without VIR_DOMAIN_XML_SECURE, so no password it already has
            root = ET.fromstring(dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE))
            for _field, patch in patches:
                patch(root)
            plan.definition = gx.to_string(root)

    def _compare_value(self, up: Update, name: str, update: str, compare: str, wanted: Any) -> None:
        writer = gx.WRITERS[name]
        if update == IMPOSSIBLE:
            return  # compared by _impossible_changes
        config_differs = differs(wanted, up.config[name], compare)
        if config_differs:
            up.plan.diff.add(name, show(name, up.config[name]), show(name, wanted), update)
            up.patches.append((name, lambda root, w=wanted: writer(root, w)))
        if up.live is None:
            return
        live_value = up.live[name]
        if name == "memory" and up.live["memory_target"] is not None:
            live_value = up.live["memory_target"]
        if not differs(wanted, live_value, compare):
            return
        if update == LIVE and self._live_possible(up, name, wanted):
            if not config_differs:
                up.plan.diff.add(name, show(name, live_value), show(name, wanted), update)
            up.plan.add(f"set {name} to {show(name, wanted)} on the running guest", self._live_call(name, wanted))
        else:
            up.plan.reboot_required.append(name)

    def _live_possible(self, up: Update, name: str, wanted: Any) -> bool:
        """Whether the running guest takes this value now: memory through its balloon up to its maximum,
        vCPUs up to their maximum, the metadata always."""
        if name == "memory":
            # without a balloon device (balloon: false) the running guest's memory cannot change
            return bool((up.live or {}).get("balloon")) and wanted <= up.dom.maxMemory() * 1024
        if name == "vcpus":
            return wanted <= up.dom.vcpusFlags(self.lv.VIR_DOMAIN_AFFECT_LIVE | self.lv.VIR_DOMAIN_VCPU_MAXIMUM)
        return name in ("title", "description", "tags")

    def _live_call(self, name: str, wanted: Any) -> Callable[[], None]:
        lv = self.lv
        live_flag = lv.VIR_DOMAIN_AFFECT_LIVE
        if name == "memory":

            def set_memory() -> None:
                dom = self._dom()
                dom.setMemoryFlags(wanted // 1024, live_flag)
                self._set_live_meta(dom, lambda root: gx.write_meta(root, "memory", str(wanted)))

            return set_memory
        if name == "vcpus":
            return lambda: self._dom().setVcpusFlags(wanted, live_flag) and None
        if name == "title":
            return lambda: self._dom().setMetadata(lv.VIR_DOMAIN_METADATA_TITLE, wanted, None, None, live_flag) and None
        if name == "description":
            return lambda: (
                self._dom().setMetadata(lv.VIR_DOMAIN_METADATA_DESCRIPTION, wanted, None, None, live_flag) and None
            )
        return lambda: self._set_live_meta(self._dom(), lambda root: gx.write_tags(root, wanted))

    def _set_live_meta(self, dom: Any, change: Callable[[ET.Element], None]) -> None:
        xml = gx.metadata_xml(dom.XMLDesc(0), change)
        dom.setMetadata(self.lv.VIR_DOMAIN_METADATA_ELEMENT, xml, gx.NS_PREFIX, gx.NS, self.lv.VIR_DOMAIN_AFFECT_LIVE)

    def _next_boot(
        self, up: Update, name: str, before: Any, after: Any, writer: Callable[[ET.Element, Any], None]
    ) -> None:
        up.plan.diff.add(name, show(name, before), show(name, after), NEXT_BOOT)
        up.patches.append((name, lambda root: writer(root, after)))
        if up.plan.before_state != power.STOPPED:
            up.plan.reboot_required.append(name)

    def _compare_dict(self, up: Update, name: str) -> None:
        wanted = self.want[name]
        actual = up.config[name] or {}
        changed = {key: value for key, value in wanted.items() if value is not None and differs(value, actual.get(key))}
        if changed:
            for key, value in changed.items():
                hidden = key == "password"
                up.plan.diff.add(
                    f"{name}.{key}",
                    "(hidden)" if hidden else actual.get(key),
                    "(hidden)" if hidden else value,
                    NEXT_BOOT,
                )
            up.patches.append(
                (
                    name,
                    lambda root: gx.WRITERS[name](
                        root, {**(actual or {}), **{k: v for k, v in wanted.items() if v is not None}}
                    ),
                )
            )
        live_actual = (up.live or {}).get(name) or {}
        if up.live is not None and any(
            value is not None and differs(value, live_actual.get(key)) for key, value in wanted.items()
        ):
            up.plan.reboot_required.append(name)

    # ------------------------------------------------------------------ disks

    def _compare_disks(self, up: Update) -> None:
        seed_target = gx.read_meta(ET.fromstring(up.config_xml), SEED_META)
        actual = {disk["target"]: disk for disk in up.config["disks"] if disk["target"] != seed_target}
        live_disks = {disk["target"]: disk for disk in (up.live or {}).get("disks", [])}
        wanted_targets = set()
        for disk in self.want["disks"]:
            target = disk["target"]
            wanted_targets.add(target)
            element_values = {**disk, "format": disk["format"] or up.storage["formats"].get(target) or "raw"}
            have = actual.get(target)
            if have is None:
                xml = gx.to_string(gx.disk_element(element_values))
                hotplug = self._hotplug(up, disk["bus"])
                up.plan.diff.add(
                    f"disks[{target}]", None, self._display("disks", [disk])[0], LIVE if hotplug else NEXT_BOOT
                )
                up.plan.add(
                    f"attach disk {target}"
                    + (" to the running guest" if hotplug and up.running else self._next_boot_note(up)),
                    self._device_call("attach", xml, self._device_flags(up, hotplug)),
                )
                if up.running and not hotplug:
                    up.plan.reboot_required.append(f"disks[{target}]")
                continue
            keys = [
                k
                for k in (
                    "device",
                    "bus",
                    "pool",
                    "volume",
                    "path",
                    "format",
                    "cache",
                    "io",
                    "discard",
                    "readonly",
                    "boot_order",
                )
                if disk.get(k) is not None
            ]
            changed = {k: disk[k] for k in keys if differs(disk[k], have[k])}
            if disk["device"] == "cdrom" and set(changed) <= {"pool", "volume", "path"} and changed:
                # new media: live on a running guest
                xml = gx.to_string(
                    gx.disk_element(
                        {**have, **{k: v for k, v in disk.items() if v is not None}, "format": element_values["format"]}
                    )
                )
                for key, value in changed.items():
                    up.plan.diff.add(f"disks[{target}].{key}", have[key], value, LIVE)
                up.plan.add(f"change the media in {target}", self._device_call("update", xml, self._device_flags(up)))
                continue
            if changed:
                for key, value in changed.items():
                    up.plan.diff.add(f"disks[{target}].{key}", have[key], value, NEXT_BOOT)
                merged = {**have, **{k: disk[k] for k in keys}, "format": disk["format"] or have["format"]}
                up.patches.append(
                    (f"disks[{target}]", lambda root, t=target, m=merged: gx.patch_disk(gx.find_disk(root, t), m))
                )
            live_have = live_disks.get(target)
            if up.running and (
                changed
                or live_have is None  # attached to the persistent definition only, before this run
                or any(differs(disk[k], live_have[k]) for k in keys)
            ):
                up.plan.reboot_required.append(f"disks[{target}]")
            grow = up.storage["grow"].get(target)
            if grow is not None:
                vol, size = grow
                up.plan.diff.add(f"disks[{target}].size", format_size(disk["current_size"]), format_size(size), LIVE)
                if up.running:
                    up.plan.add(
                        f"grow disk {target} to {format_size(size)} on the running guest",
                        lambda t=target, s=size: (
                            self._dom().blockResize(t, s, self.lv.VIR_DOMAIN_BLOCK_RESIZE_BYTES) and None
                        ),
                    )
                else:
                    up.plan.add(
                        f"grow volume {vol.name()} to {format_size(size)}",
                        lambda v=vol, s=size: v.resize(s, 0) and None,
                    )
        for target, have in actual.items():
            if target not in wanted_targets:
                xml = gx.to_string(gx.disk_element({**have, "format": have["format"] or "raw"}))
                hotplug = self._hotplug(up, have["bus"])
                up.plan.diff.add(
                    f"disks[{target}]",
                    {k: v for k, v in have.items() if v is not None and k not in ("size", "backing_image")},
                    None,
                    LIVE if hotplug else NEXT_BOOT,
                )
                up.plan.add(
                    f"detach disk {target}"
                    + (
                        " from the running guest"
                        if hotplug and up.running
                        else self._next_boot_note(up, "from") or " (the volume is kept)"
                    ),
                    self._device_call("detach", xml, self._device_flags(up, hotplug)),
                )
                if up.running and not hotplug:
                    up.plan.reboot_required.append(f"disks[{target}]")
        # detached from the persistent definition only, before this run: still there until the next boot
        for target in live_disks:
            if target not in actual and target != seed_target and target not in wanted_targets:
                up.plan.reboot_required.append(f"disks[{target}]")

    def _hotplug(self, up: Update, bus: Optional[str]) -> bool:
        """Whether a disk on ``bus`` is attached and detached live (True also for a guest that is off)."""
        return not up.running or bus in HOTPLUG_BUSES

    def _device_flags(self, up: Update, hotplug: bool = True) -> int:
        """Flags of a device call: the persistent definition, and a running guest where the device hot-plugs."""
        return self.lv.VIR_DOMAIN_AFFECT_CONFIG | (self.lv.VIR_DOMAIN_AFFECT_LIVE if up.running and hotplug else 0)

    @staticmethod
    def _next_boot_note(up: Update, to: str = "to") -> str:
        return f" {to} the persistent definition (the running guest follows at its next boot)" if up.running else ""

    def _device_call(self, kind: str, xml: str, flags: int) -> Callable[[], None]:
        def call() -> None:
            dom = self._dom()
            method = {
                "attach": dom.attachDeviceFlags,
                "detach": dom.detachDeviceFlags,
                "update": dom.updateDeviceFlags,
            }[kind]
            method(xml, flags)

        return call

    # ------------------------------------------------------------------ interfaces

    def _compare_interfaces(self, up: Update) -> None:
        actual = list(up.config["interfaces"])
        by_mac = {nic["mac"]: nic for nic in actual}
        live_by_mac = {nic["mac"]: nic for nic in (up.live or {}).get("interfaces", [])}
        flags = self._device_flags(up)
        # an interface listed with its MAC is that interface; one without is the one at its position,
        # unless another listed interface names that one's MAC
        matched: set[str] = set()
        named = {nic["mac"] for nic in self.want["interfaces"] if nic["mac"]}
        for nic in self.want["interfaces"]:
            have = by_mac.get(nic["mac"]) if nic["mac"] else None
            if (
                have is None
                and nic["mac"] is None
                and nic["index"] < len(actual)
                and actual[nic["index"]]["mac"] not in matched | named
            ):
                have = actual[nic["index"]]
            if have is None:
                mac = nic["mac"] or derived_mac(self.name, nic["index"])
                xml = gx.to_string(gx.interface_element({**nic, "mac": mac}))
                up.plan.diff.add(
                    f"interfaces[{mac}]", None, self._display("interfaces", [{**nic, "mac": mac}])[0], LIVE
                )
                up.plan.add(
                    f"attach interface {mac} ({nic['type']} {nic['source']})"
                    + (" to the running guest" if up.running else ""),
                    self._device_call("attach", xml, flags),
                )
                continue
            mac = have["mac"]
            matched.add(mac)
            keys = [
                k
                for k in ("type", "source", "model", "vlan", "link_state", "mode", "boot_order")
                if nic.get(k) is not None
            ]
            changed = {k: nic[k] for k in keys if differs(nic[k], have[k])}
            merged = {**have, **{k: nic[k] for k in keys}}
            if set(changed) == {"link_state"}:
                up.plan.diff.add(f"interfaces[{mac}].link_state", have["link_state"], nic["link_state"], LIVE)
                up.plan.add(
                    f"set link {nic['link_state']} on interface {mac}",
                    self._device_call("update", gx.to_string(gx.interface_element(merged)), flags),
                )
                continue
            if changed:
                for key, value in changed.items():
                    up.plan.diff.add(f"interfaces[{mac}].{key}", have[key], value, NEXT_BOOT)
                up.patches.append(
                    (
                        f"interfaces[{mac}]",
                        lambda root, m=mac, merged=merged: gx.patch_interface(gx.find_interface(root, m), merged),
                    )
                )
            live_have = live_by_mac.get(mac)
            if live_have is not None and any(differs(nic[k], live_have[k]) for k in keys):
                up.plan.reboot_required.append(f"interfaces[{mac}]")
        for have in actual:  # every interface the user listed was matched above; the rest go
            if have["mac"] not in matched:
                xml = gx.to_string(gx.interface_element(have))
                up.plan.diff.add(
                    f"interfaces[{have['mac']}]", {k: v for k, v in have.items() if v is not None}, None, LIVE
                )
                up.plan.add(
                    f"detach interface {have['mac']}" + (" from the running guest" if up.running else ""),
                    self._device_call("detach", xml, flags),
                )

    # ------------------------------------------------------------------ cloud-init

    def _compare_seed(self, up: Update, seed: dict[str, Any]) -> None:
        root = ET.fromstring(up.config_xml)
        target = gx.read_meta(root, SEED_META)
        pool = _storage.find_pool(self.conn, seed["pool"])
        exists = pool is not None and _storage.find_volume(pool, seed["volume"]) is not None
        if up.config["cloud_init_hash"] == seed["hash"] and exists and target:
            return
        up.plan.diff.add(
            "cloud_init",
            "(seed " + (up.config["cloud_init_hash"] or "none") + ")",
            "(seed " + seed["hash"] + ")",
            NEXT_BOOT,
        )
        self._seed_action(up.plan, seed)
        if target is None:
            seed_disk = self._seed_disk(seed)

            def add_seed(root: ET.Element) -> None:
                gx.devices(root).append(gx.disk_element(seed_disk))
                gx.write_meta(root, SEED_META, seed["target"])

            up.patches.append(("cloud_init", add_seed))
        up.patches.append(("cloud_init", lambda root: gx.write_meta(root, "cloud-init", seed["hash"])))
        if up.running:
            up.plan.reboot_required.append("cloud_init")

    # ------------------------------------------------------------------ power

    def _plan_power(self, plan: GuestPlan) -> None:
        want = self.want["state"]
        before = plan.power_from or plan.before_state
        timeout, force = self.want["shutdown_timeout"], self.want["force"]
        restart = (
            bool(plan.reboot_required)
            and before in (power.RUNNING, power.PAUSED)
            and self.want["restart"] == "if_needed"
        )
        if restart and want in ("present", power.RUNNING, power.PAUSED):
            plan.add(
                "restart the guest (graceful shutdown, then start) for: "
                + ", ".join(sorted(set(plan.reboot_required))),
                lambda: self._restart(timeout, force, before == power.PAUSED),
            )
            plan.diff.add("restarted", False, True, CONTROL)
            plan.reboot_required = []
            return
        if want == power.RUNNING and before != power.RUNNING:
            if before == power.PAUSED:
                plan.add("resume the guest", lambda: power.resume(self._dom()))
            else:
                plan.add("start the guest", lambda: power.start(self._dom()))
        elif want == power.PAUSED and before != power.PAUSED:
            if before == power.RUNNING:
                plan.add("pause the guest", lambda: power.suspend(self._dom()))
            else:
                plan.add("start the guest paused", lambda: power.start(self._dom(), paused=True))
        elif want == power.STOPPED and before in (power.RUNNING, power.PAUSED):
            plan.add(
                f"shut the guest down (wait up to {timeout} s" + (", then power off)" if force else ")"),
                lambda: power.shutdown(self._dom(), timeout, force, "state: stopped"),
            )
            plan.reboot_required = []
        if plan.before_state == power.ABSENT:
            for change in plan.diff.changes:
                if change.path == "state" and want != "present":
                    change.after = want
        elif want not in ("present", plan.before_state):
            plan.diff.add("state", plan.before_state, want, CONTROL)

    def _restart(self, timeout: int, force: bool, paused: bool) -> None:
        dom = self._dom()
        power.shutdown(dom, timeout, force, "restart: if_needed")
        power.start(dom, paused=paused)

    # ------------------------------------------------------------------ removal

    def _plan_removal(self, plan: GuestPlan, dom: Any) -> None:
        timeout, force = self.want["shutdown_timeout"], self.want["force"]
        plan.diff.add("state", plan.before_state, power.ABSENT, CONTROL)
        if dom.isActive():
            plan.add(
                f"shut the guest down (wait up to {timeout} s" + (", then power off)" if force else ")"),
                lambda: self._if_defined(lambda dom: power.shutdown(dom, timeout, force, "state: absent")),
            )
        volumes: list[tuple[str, str]] = []
        if self.want["remove_volumes"] and dom.isPersistent():
            volumes = self._guest_volumes(dom)
        # the volumes go before the definition that names them: a run killed in between leaves a guest
        # the rerun removes with whatever volumes are left, never a volume of no guest
        for pool_name, vol_name in volumes:
            plan.add(
                f"delete volume {vol_name} from pool {pool_name}",
                lambda p=pool_name, v=vol_name: self._delete_volume(p, v),
            )
        if dom.isPersistent():
            plan.add(
                "undefine the guest (with its UEFI nvram and snapshot metadata)",
                lambda: self._if_defined(power.undefine),
            )
        if volumes:
            plan.diff.add("volumes", [f"{p}/{v}" for p, v in volumes], None, CONTROL)

    def _if_defined(self, call: Callable[[Any], None]) -> None:
        """``call`` on the guest, unless it is gone by now (the end state removal wants)."""
        dom = self._lookup()
        if dom is not None:
            call(dom)

    def _delete_volume(self, pool_name: str, vol_name: str) -> None:
        """Delete a volume of the guest; one that is gone by now is done."""
        pool = _storage.find_pool(self.conn, pool_name)
        vol = _storage.find_volume(pool, vol_name) if pool is not None else None
        if vol is not None:
            vol.delete(0)

    def _guest_volumes(self, dom: Any) -> list[tuple[str, str]]:
        """The pool volumes a guest writes to (and its cloud-init seed); shared read-only media are kept."""
        root = ET.fromstring(dom.XMLDesc(self.lv.VIR_DOMAIN_XML_INACTIVE))
        seed_target = gx.read_meta(root, SEED_META)
        found: list[tuple[str, str]] = []
        for disk in gx.read_disks(root):
            if disk["target"] != seed_target and (disk["readonly"] or disk["device"] == "cdrom"):
                continue
            if disk["volume"]:
                found.append((disk["pool"], disk["volume"]))
            elif disk["path"]:
                try:
                    vol = self.conn.storageVolLookupByPath(disk["path"])
                except self.lv.libvirtError:
                    continue
                found.append((vol.storagePoolLookupByVolume().name(), vol.name()))
        return found
