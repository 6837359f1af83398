"""Migration: the pre-flight check (pure: guest and host facts in, reasons out), reading those facts on
the test driver, the convergence policy, libvirt's flags and parameters, the time budget, and the
definitions sent to the destination."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._hypervisor.record import Record
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import connect, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import carry, job, move
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate import preflight as pf
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.module import result_of
from ansible_collections.kvmfleet.kvm.plugins.module_utils._migrate.options import MIGRATE_MODULE, MIGRATION

CAPACITY = {
    "available_memory_mib": 8192,
    "allocatable_memory_mib": 15360,
    "free_memory_mib": 12000,
    "available_vcpus": 30,
    "allocatable_vcpus": 64,
}
ARCHES = {
    "x86_64": {
        "domain_types": ["qemu", "kvm"],
        "emulator": "/usr/bin/qemu-system-x86_64",
        "machines": ["pc-q35-7.2", "q35"],
    }
}


def host(name: str, **changes: Any) -> pf.Host:
    facts = pf.Host(
        name=name,
        uri=f"qemu+tcp://{name}/system",
        uuid=f"uuid-{name}",
        cpu_xml="<cpu><model>Skylake-Client</model></cpu>",
        caps={"arch": "x86_64", "cpu_model": "Skylake-Client", "uuid": f"uuid-{name}", "guests": copy.deepcopy(ARCHES)},
        networks={"default"},
        interfaces={"br0", "eth0"},
        pools={
            "shared": pf.Pool(
                "shared",
                "dir",
                "/srv/shared",
                True,
                {"web.qcow2": "/srv/shared/web.qcow2", "base.qcow2": "/srv/shared/base.qcow2"},
            ),
            "local": pf.Pool("local", "dir", "/var/lib/libvirt/images", True, {}),
        },
        capacity=dict(CAPACITY),
        record=Record(),
        domains={},
    )
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def disk(**changes: Any) -> pf.Disk:
    facts = pf.Disk(
        target="vda", device="disk", kind="volume", path="/srv/shared/web.qcow2", pool="shared", volume="web.qcow2",
        format="qcow2", cache="none", readonly=False, shareable=False, capacity=10 * 2**30, allocation=2**30,
    )  # fmt: skip
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def guest(**changes: Any) -> pf.Guest:
    facts = pf.Guest(
        name="web",
        uuid="u-web",
        running=True,
        paused=False,
        persistent=True,
        memory_mib=2048,
        vcpus=2,
        virt_type="kvm",
        arch="x86_64",
        machine="pc-q35-7.2",
        emulator="/usr/bin/qemu-system-x86_64",
        cpu_mode="host-model",
        cpu_xml="<cpu mode='host-model'/>",
        invtsc=False,
        tsc_frequency=False,
        nvram=None,
        files=[],
        disks=[disk()],
        interfaces=[
            {"type": "network", "source": "default", "mac": "52:54:00:00:00:01", "vdpa": False, "passthrough": False}
        ],
    )
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def codes(reasons: list[pf.Reason], blocking: bool = True) -> list[str]:
    return [reason.code for reason in reasons if reason.blocking is blocking]


def test_a_guest_that_can_move_has_no_reason() -> None:
    assert pf.check(guest(), host("hv1"), host("hv2"), allow_unsafe=True) == []


@pytest.mark.parametrize(
    ("guest_changes", "dest_changes", "options", "expected"),
    [
        pytest.param({"running": False}, {}, {}, ["not_running"], id="stopped"),
        pytest.param({"running": False}, {}, {"offline": True}, [], id="stopped, offline allowed"),
        pytest.param({}, {"uuid": "uuid-hv1"}, {}, ["same_host"], id="same host UUID"),
        pytest.param(
            {},
            {"record": Record(maintenance={"since": "t", "reason": ""})},
            {},
            ["dest_in_maintenance"],
            id="maintenance",
        ),
        pytest.param(
            {}, {"domains": {"web": ("other-uuid", False)}}, {}, ["dest_has_other_guest"], id="other guest of that name"
        ),
        pytest.param({"arch": "aarch64"}, {}, {}, ["arch_unavailable"], id="architecture"),
        pytest.param(
            {},
            {"caps": {"guests": {"x86_64": {**ARCHES["x86_64"], "domain_types": ["qemu"]}}}},
            {},
            ["virt_type_unavailable"],
            id="KVM guest to a TCG host",
        ),
        pytest.param({"machine": "pc-q35-9.0"}, {}, {}, ["machine_unavailable"], id="machine type"),
        pytest.param({"emulator": "/opt/qemu/bin/qemu-kvm"}, {}, {}, ["emulator_missing"], id="emulator"),
        pytest.param(
            {"cpu_mode": "host-passthrough"},
            {"cpu_xml": "<cpu><model>EPYC</model></cpu>"},
            {},
            ["cpu_host_passthrough"],
            id="host-passthrough",
        ),
        pytest.param({"cpu_mode": "host-passthrough"}, {}, {}, [], id="host-passthrough between identical CPUs"),
        pytest.param(
            {},
            {},
            {"cpu_incompatible": "Host CPU does not provide required features: avx512f"},
            ["cpu_incompatible"],
            id="CPU",
        ),
        pytest.param({"invtsc": True}, {}, {}, ["invtsc"], id="invtsc"),
        pytest.param({"invtsc": True, "tsc_frequency": True}, {}, {}, [], id="invtsc with a TSC frequency"),
        pytest.param({"hostdevs": ["pci 0000:03:00.0"]}, {}, {}, ["hostdev"], id="PCI passthrough"),
        pytest.param(
            {
                "interfaces": [
                    {"type": "vdpa", "source": None, "mac": "52:54:00:00:00:02", "vdpa": True, "passthrough": False}
                ]
            },
            {},
            {},
            ["hostdev"],
            id="vDPA interface",
        ),
        pytest.param({"snapshots": 2}, {}, {}, [], id="snapshots on shared storage (they move with the guest)"),
        pytest.param({"checkpoints": 1}, {}, {}, ["checkpoints"], id="checkpoints"),
        pytest.param({"block_jobs": ["vda"]}, {}, {}, ["block_job"], id="block job"),
        pytest.param({}, {"networks": set()}, {}, ["network_missing"], id="network"),
        pytest.param(
            {"interfaces": [{"type": "bridge", "source": "br1", "mac": "m", "vdpa": False, "passthrough": False}]},
            {},
            {},
            ["bridge_missing"],
            id="bridge",
        ),
        pytest.param(
            {"interfaces": [{"type": "bridge", "source": "br1", "mac": "m", "vdpa": False, "passthrough": False}]},
            {"interfaces": None},
            {},
            [],
            id="bridge, where libvirt cannot list interfaces",
        ),
        pytest.param(
            {"interfaces": [{"type": "direct", "source": "eno2", "mac": "m", "vdpa": False, "passthrough": False}]},
            {},
            {},
            ["direct_missing"],
            id="macvtap device",
        ),
        pytest.param({"memory_mib": 9000}, {}, {}, ["insufficient_memory"], id="memory (record)"),
        pytest.param(
            {}, {"capacity": {**CAPACITY, "free_memory_mib": 1024}}, {}, ["insufficient_memory"], id="memory (free now)"
        ),
        pytest.param({"vcpus": 31}, {}, {}, ["insufficient_vcpus"], id="vCPUs"),
        pytest.param({"files": ["/srv/shared/vmlinuz"]}, {}, {}, ["file_missing"], id="kernel not in the shared pool"),
        pytest.param({"files": ["/boot/vmlinuz"]}, {}, {}, [], id="kernel outside every pool (not seen)"),
    ],
)
def test_each_reason_a_guest_cannot_move(
    guest_changes: dict[str, Any], dest_changes: dict[str, Any], options: dict[str, Any], expected: list[str]
) -> None:
    dest = host("hv2", **dest_changes)
    reasons = pf.check(guest(**guest_changes), host("hv1"), dest, allow_unsafe=True, **options)
    assert codes(reasons) == expected, [reason.line() for reason in reasons]
    for reason in reasons:
        assert reason.message and reason.fix and reason.line().startswith(f"[{reason.code}] ")


@pytest.mark.parametrize(
    "changes", [{"snapshots": 2}, {"carried": ["before", "after"]}], ids=["defined", "recorded by an interrupted move"]
)
def test_snapshots_refuse_a_copy_of_the_disks(changes: dict[str, Any]) -> None:
    local = disk(pool="local", volume="db.qcow2", path="/var/lib/libvirt/images/db.qcow2")
    (snapshots,) = pf.check(guest(disks=[local], **changes), host("hv1"), host("hv2"), storage="copy")
    assert snapshots.code == "snapshots" and snapshots.blocking
    assert "has 2 snapshot(s) and its disk(s) vda would be copied" in snapshots.message
    assert "storage: shared" in snapshots.fix


def test_the_messages_carry_libvirts_words_and_the_fix() -> None:
    (same,) = pf.check(guest(), host("hv1"), host("hv2", uuid="uuid-hv1"), allow_unsafe=True)
    assert "Attempt to migrate guest to the same host" in same.message and "host_uuid" in same.fix


@pytest.mark.parametrize(
    ("storage", "disks", "dest_changes", "expected"),
    [
        pytest.param(
            "shared",
            [disk(pool="local", path="/var/lib/libvirt/images/web.qcow2")],
            {},
            ["local_disk"],
            id="local disk, shared storage",
        ),
        pytest.param(
            "copy",
            [disk(pool="local", volume="db.qcow2", path="/var/lib/libvirt/images/db.qcow2")],
            {},
            [],
            id="copied",
        ),
        pytest.param(
            "copy",
            [disk(pool="fast", volume="db.qcow2", path="/fast/db.qcow2")],
            {},
            ["dest_pool_missing"],
            id="no pool to copy into",
        ),
        pytest.param("copy", [disk()], {}, ["dest_volume_exists"], id="the destination has that volume"),
        pytest.param(
            "copy_incremental",
            [
                disk(
                    pool="local",
                    volume="o.qcow2",
                    path="/var/lib/libvirt/images/o.qcow2",
                    backing="/srv/shared/base.qcow2",
                )
            ],
            {},
            [],
            id="incremental over a shared base",
        ),
        pytest.param(
            "copy_incremental",
            [disk(pool="local", volume="o.qcow2", path="/var/lib/libvirt/images/o.qcow2", backing="/base/x.qcow2")],
            {},
            ["backing_missing"],
            id="incremental without the base there",
        ),
        pytest.param(
            "copy",
            [
                disk(
                    device="cdrom",
                    readonly=True,
                    pool="local",
                    volume="seed.iso",
                    path="/var/lib/libvirt/images/seed.iso",
                )
            ],
            {},
            [],
            id="a read-only seed the destination lacks is copied ahead",
        ),
        pytest.param("shared", [disk(kind="network", path=None, pool=None, volume=None)], {}, [], id="network storage"),
        pytest.param("shared", [disk(path=None, pool=None, volume=None, device="cdrom")], {}, [], id="an empty cdrom"),
    ],
)
def test_storage_reasons(storage: str, disks: list[pf.Disk], dest_changes: dict[str, Any], expected: list[str]) -> None:
    reasons = pf.check(guest(disks=disks), host("hv1"), host("hv2", **dest_changes), storage=storage, allow_unsafe=True)
    assert codes(reasons) == expected, [reason.line() for reason in reasons]


def test_the_copy_an_interrupted_move_made_to_that_host_is_not_refused() -> None:
    """The source guest carries the mark of a move copying to hv2: hv2's volume is that move's copy."""
    marked = guest(disks=[disk()], copying_to="uuid-hv2")
    assert pf.check(marked, host("hv1"), host("hv2"), storage="copy", allow_unsafe=True) == []
    to_another = guest(disks=[disk()], copying_to="uuid-hv3")  # a copy to elsewhere: hv2's volume is someone's
    assert codes(pf.check(to_another, host("hv1"), host("hv2"), storage="copy", allow_unsafe=True)) == [
        "dest_volume_exists"
    ]


def test_a_disk_on_a_filesystem_libvirt_does_not_share_is_refused_where_it_can_be_seen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pf, "mount_type", lambda path: "ext4" if path.startswith("/srv") else "nfs4")
    local = host("hv1", local=True)
    (reason,) = pf.check(guest(), local, host("hv2"))
    assert reason.code == "disk_not_shared" and reason.blocking and "ext4 filesystem" in reason.message
    assert pf.check(guest(), local, host("hv2"), allow_unsafe=True) == []
    nfs = guest(disks=[disk(path="/mnt/nfs/web.qcow2", pool=None, volume=None, kind="file")])
    nfs_dest = host("hv2", pools={"nfs": pf.Pool("nfs", "dir", "/mnt/nfs", True, {"web.qcow2": "/mnt/nfs/web.qcow2"})})
    assert pf.check(nfs, local, nfs_dest) == []
    (remote,) = pf.check(guest(), host("hv1"), host("hv2"))  # from elsewhere: a warning, libvirt decides
    assert remote.code == "disk_not_shared" and not remote.blocking


@pytest.mark.parametrize(
    ("resolved", "expected"),
    [
        (["10.0.0.2"], []),
        (None, ["dest_name_unresolvable"]),
        (["127.0.1.1"], ["dest_name_loopback"]),
        (["::1"], ["dest_name_loopback"]),
    ],
)
def test_the_migration_address_must_resolve_on_the_source(resolved: list[str] | None, expected: list[str]) -> None:
    reasons = pf.check(
        guest(), host("hv1", local=True), host("hv2"), allow_unsafe=True, migration_host="hv2", resolved=resolved
    )
    assert codes(reasons) == expected


def test_uefi_variables_on_local_storage_are_a_warning() -> None:
    reasons = pf.check(
        guest(nvram="/var/lib/libvirt/qemu/nvram/web_VARS.fd"), host("hv1"), host("hv2"), allow_unsafe=True
    )
    assert codes(reasons) == [] and codes(reasons, blocking=False) == ["nvram_local"]


def test_a_guest_already_defined_on_the_destination_is_not_counted_twice() -> None:
    dest = host("hv2", domains={"web": ("u-web", False)}, capacity={**CAPACITY, "available_memory_mib": 0})
    assert pf.check(guest(), host("hv1"), dest, allow_unsafe=True) == []


# ------------------------------------------------------------------------------------------ reading on the test driver


@pytest.fixture
def test_conn() -> Iterator[Any]:
    conn = connect("test:///default")
    yield conn
    conn.close()


def test_read_guest_and_read_host_on_the_test_driver(test_conn: Any) -> None:
    dom = test_conn.lookupByName("test")
    facts = pf.read_guest(dom, test_conn)
    assert (facts.name, facts.running, facts.persistent) == ("test", True, True)
    assert facts.memory_mib > 0 and facts.vcpus >= 1 and facts.snapshots == 0
    assert facts.xml.startswith("<domain") and facts.config_xml.startswith("<domain")
    here = pf.read_host(test_conn, "test:///default")
    assert here.domains["test"] == (dom.UUIDString(), True)
    assert "default" in here.networks and "default-pool" in here.pools
    assert here.capacity["allocatable_memory_mib"] > 0 and here.record == Record()


# ---------------------------------------------------------------------------------------------- snapshots


def snapshot_series(dom: Any) -> list[carry.Saved]:
    """Snapshots a (parent of b) on the test driver's guest, a current; their definitions as carried."""
    for name in ("a", "b"):
        dom.snapshotCreateXML(f"<domainsnapshot><name>{name}</name><description>{name}</description></domainsnapshot>")
    dom.revertToSnapshot(dom.snapshotLookupByName("a"))
    return carry.defined(dom)


def forget(dom: Any) -> None:
    """What stash does on a real libvirtd (the test driver deletes no metadata alone): none defined."""
    for snap in reversed(dom.listAllSnapshots(require_libvirt().VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)):
        snap.delete(0)


def test_the_record_of_carried_snapshots_travels_in_the_destinations_definitions() -> None:
    saved = [carry.Saved("a", "<domainsnapshot><name>a</name></domainsnapshot>", True), carry.Saved("b", "<x/>", False)]
    domain = "<domain type='kvm'><name>web</name><devices/></domain>"
    moving = move.Move("web", host("hv1"), host("hv2"), migration(), "qemu+tcp://hv2/system", None)
    moving.guest, moving.saved = guest(xml=domain, config_xml=domain), saved
    live, persistent = move.definitions(moving)
    assert carry.read_record(ET.fromstring(live)) == saved == carry.read_record(ET.fromstring(persistent))
    root = ET.fromstring(live)
    carry.write_record(root, [])
    assert carry.read_record(root) == [] and gx.read_tags(root) == []


def test_restore_defines_the_recorded_snapshots_parents_first_with_the_current_one(test_conn: Any) -> None:
    dom = test_conn.lookupByName("test")
    saved = snapshot_series(dom)
    assert [(snap.name, snap.current) for snap in saved] == [("a", True), ("b", False)]
    carry.update_metadata(dom, lambda root: carry.write_record(root, saved))
    forget(dom)
    assert carry.to_carry(carry.read_record(ET.fromstring(dom.XMLDesc(0))), dom) == saved  # the record, not libvirt's

    assert carry.restore(dom, saved) == ["a", "b"]
    assert dom.snapshotCurrent().getName() == "a" and dom.snapshotLookupByName("b").getParent().getName() == "a"
    assert carry.read_record(ET.fromstring(dom.XMLDesc(0))) == []  # the record is cleared
    assert carry.restore(dom, saved) == []  # a rerun defines nothing twice
    assert dom.snapshotNum(0) == 2
    forget(dom)


def test_a_snapshot_taken_since_the_record_is_carried_too_and_pending_records_are_found(test_conn: Any) -> None:
    dom = test_conn.lookupByName("test")
    saved = snapshot_series(dom)
    assert carry.to_carry(saved[:1], dom) == saved  # the record first, then what libvirt has besides
    carry.update_metadata(dom, lambda root: carry.write_record(root, saved[:1]))
    assert [(found.name(), record) for found, record in carry.pending(test_conn)] == [("test", saved[:1])]
    carry.update_metadata(dom, lambda root: carry.write_record(root, []))
    assert carry.pending(test_conn) == []
    forget(dom)


def test_a_guest_moved_by_an_interrupted_run_gets_its_snapshots_on_the_rerun(test_conn: Any) -> None:
    dom = test_conn.lookupByName("test")
    saved = snapshot_series(dom)
    forget(dom)
    carry.update_metadata(dom, lambda root: carry.write_record(root, saved))  # as the migration left it
    moving = move.Move("test", host("hv1"), host("hv2"), migration(), "test:///default", None)
    move._plan_finish(moving, dom)
    assert moving.changed and moving.guest is None
    assert moving.actions == ["define the snapshots a, b of test on hv2, where an interrupted move left them recorded"]
    result = move.execute_move(moving, test_conn, test_conn)
    assert result["snapshots"] == ["a", "b"] and dom.snapshotNum(0) == 2
    task = result_of(moving, False, result)
    assert task["changed"] and task["hypervisor"] == "hv2" and task["snapshots"] == ["a", "b"]
    assert (task["diff"]["before"], task["diff"]["after"]) == ({"snapshots": []}, {"snapshots": ["a", "b"]})
    again = move.Move("test", host("hv1"), host("hv2"), migration(), "test:///default", None)
    move._plan_finish(again, dom)
    assert not again.changed
    forget(dom)


# ---------------------------------------------------------------------------------------------- the job


def migration(**options: Any) -> dict[str, Any]:
    values, problems = MIGRATION.validate(options)
    assert problems == []
    return values


@pytest.mark.parametrize(
    ("options", "memory", "copied", "seconds"),
    [
        ({}, 128, 0, 30.0),
        ({}, 2048, 0, 300.0),
        ({}, 1024, 2**30, 300.0),
        ({"timeout": 8}, 65536, 0, 8.0),
        ({"timeout_per_gib": 10}, 8192, 0, 80.0),
    ],
)
def test_the_time_budget(options: dict[str, Any], memory: int, copied: int, seconds: float) -> None:
    assert job.budget(migration(**options), memory, copied) == seconds


def test_the_flags_and_parameters() -> None:
    lv = require_libvirt()
    base = lv.VIR_MIGRATE_PERSIST_DEST | lv.VIR_MIGRATE_UNDEFINE_SOURCE
    live = base | lv.VIR_MIGRATE_LIVE | lv.VIR_MIGRATE_ABORT_ON_ERROR
    assert job.migration_flags(migration(), True, False) == live | lv.VIR_MIGRATE_PEER2PEER
    assert job.migration_flags(migration(p2p=False), True, False) == live
    assert job.migration_flags(migration(), False, False) == base | lv.VIR_MIGRATE_OFFLINE
    assert job.migration_flags(migration(storage="copy"), True, True) & lv.VIR_MIGRATE_NON_SHARED_DISK
    incremental = job.migration_flags(migration(storage="copy_incremental"), True, True)
    assert incremental & lv.VIR_MIGRATE_NON_SHARED_INC and not incremental & lv.VIR_MIGRATE_NON_SHARED_DISK
    assert job.migration_flags(migration(storage="copy"), True, False) & lv.VIR_MIGRATE_NON_SHARED_DISK == 0
    flags = job.migration_flags(
        migration(tunnelled=True, tls=True, converge="auto_converge", allow_unsafe=True), True, False
    )
    for flag in ("TUNNELLED", "TLS", "AUTO_CONVERGE", "UNSAFE"):
        assert flags & getattr(lv, f"VIR_MIGRATE_{flag}"), flag
    assert job.migration_flags(migration(converge="postcopy"), True, False) & lv.VIR_MIGRATE_POSTCOPY
    assert job.migration_flags(migration(parallel_connections=4), True, False) & lv.VIR_MIGRATE_PARALLEL

    params = job.migration_params(
        migration(bandwidth=100, parallel_connections=4), "tcp://10.0.0.2", "<x/>", "<y/>", ["vda"]
    )
    assert params == {
        lv.VIR_MIGRATE_PARAM_DEST_XML: "<x/>",
        lv.VIR_MIGRATE_PARAM_PERSIST_XML: "<y/>",
        lv.VIR_MIGRATE_PARAM_URI: "tcp://10.0.0.2",
        lv.VIR_MIGRATE_PARAM_BANDWIDTH: 100,
        lv.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS: 4,
        lv.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["vda"],
    }
    assert lv.VIR_MIGRATE_PARAM_URI not in job.migration_params(migration(tunnelled=True), "tcp://x", "<x/>", None, [])


def at(elapsed: float, remaining: int, iteration: int) -> job.Sample:
    return job.Sample(elapsed, remaining, 0, 0, iteration)


def test_the_policy_fail_aborts_at_the_end_of_the_budget_only() -> None:
    policy = job.Policy("fail", 10, 300, 2000)
    assert [policy.step(at(t, 100, i)) for t, i in ((1, 1), (5, 3), (9, 6))] == [None, None, None]
    assert policy.step(at(10, 100, 7)) == "abort"


def test_the_policy_raise_downtime_doubles_at_each_new_pass_once_stalled() -> None:
    policy = job.Policy("raise_downtime", 100, 300, 1000)
    steps = [policy.step(at(t, 100, i)) for t, i in ((1, 1), (2, 2), (3, 3), (3.5, 3), (4, 4), (5, 5), (6, 6))]
    assert steps == [None, None, "raise_downtime", None, "raise_downtime", None, None]  # 300 -> 600 -> 1000
    assert policy.downtime == 1000


def test_a_migration_that_makes_progress_is_not_stalled() -> None:
    policy = job.Policy("raise_downtime", 100, 300, 1000)
    assert [policy.step(at(t, 1000 // t, t)) for t in range(1, 6)] == [None] * 5


def test_the_policy_postcopy_switches_once_and_never_aborts() -> None:
    policy = job.Policy("postcopy", 10, 300, 2000)
    assert policy.step(at(1, 100, 1)) is None
    assert policy.step(at(5, 100, 2)) == "postcopy"  # half the budget
    assert policy.step(at(11, 100, 3)) is None and policy.step(at(50, 100, 4)) is None


def test_progress_is_thinned_to_at_most_120_samples() -> None:
    outcome = job.Outcome(True, False, None, None, 300.0, [at(t, 1, 1) for t in range(300)], [])
    progress = outcome.progress()
    assert len(progress) <= job.MAX_SAMPLES and progress[0]["elapsed_s"] == 0.0


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("qemu+tcp://10.0.0.2/system", "tcp://10.0.0.2"),
        ("qemu+ssh://root@hv2.example.com/system", "tcp://hv2.example.com"),
        ("qemu+tls://[fd00::2]/system", "tcp://[fd00::2]"),
        ("qemu:///system", None),
    ],
)
def test_the_default_migration_address_is_the_destinations_host(uri: str, expected: str | None) -> None:
    assert move.default_migrate_uri(uri) == expected


def test_the_destinations_definitions_point_copied_disks_at_their_new_place_and_carry_the_origin() -> None:
    domain = """<domain type='kvm'><name>web</name>
      <devices>
        <disk type='volume' device='disk'>
          <source pool='local' volume='web.qcow2'/><target dev='vda' bus='virtio'/>
        </disk>
        <disk type='file' device='disk'><source file='/data/web-b.raw'/><target dev='vdb' bus='virtio'/></disk>
      </devices></domain>"""
    moving = move.Move("web", host("hv1"), host("hv2"), migration(), "qemu+tcp://hv2/system", None, origin="hv1")
    moving.guest = guest(xml=domain, config_xml=domain)
    fast = pf.Pool("fast", "dir", "/fast", True)
    moving.copies = [
        move.Copy(disk(pool="local"), fast, "web.qcow2", "/fast/web.qcow2", ahead=False),
        move.Copy(
            disk(target="vdb", kind="file", path="/data/web-b.raw"), fast, "web-b.raw", "/fast/web-b.raw", ahead=False
        ),
    ]
    live, persistent = move.definitions(moving)
    assert live == persistent
    root = ET.fromstring(live)
    assert root.find("devices/disk[1]/source").attrib == {"pool": "fast", "volume": "web.qcow2"}
    assert root.find("devices/disk[2]/source").attrib == {"file": "/fast/web-b.raw"}
    assert root.find("metadata/{urn:kvmfleet:guest:1}guest").get("origin") == "hv1"
    moving.origin = ""
    cleared = ET.fromstring(move._edit(live, moving))
    assert cleared.find("metadata/{urn:kvmfleet:guest:1}guest").get("origin") is None
    # an incremental copy: the live definition names the volume by its file (libvirt finds the target by
    # path only), the persistent one keeps the pool and volume
    moving.values = migration(storage="copy_incremental")
    live, persistent = move.definitions(moving)
    disk_live = ET.fromstring(live).find("devices/disk[1]")
    assert disk_live.get("type") == "file" and disk_live.find("source").attrib == {"file": "/fast/web.qcow2"}
    assert ET.fromstring(persistent).find("devices/disk[1]/source").attrib == {"pool": "fast", "volume": "web.qcow2"}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"tunnelled": True, "p2p": False}, ("tunnelled", "needs p2p: true")),
        ({"tunnelled": True, "parallel_connections": 2}, ("parallel_connections", "tunnelled migration over parallel")),
        ({"converge": "postcopy", "storage": "copy"}, ("converge", "while it copies disks")),
        ({"max_downtime": 500, "max_downtime_limit": 400}, ("max_downtime_limit", "is less than max_downtime")),
        ({"migrate_uri": "10.0.0.2"}, ("migrate_uri", "is not a migration URI")),
        ({"dest_uri": "hv2"}, ("dest_uri", "is not a libvirt URI")),
        ({"parallel_connections": 1}, ("parallel_connections", "must be at least 2")),
    ],
)
def test_migrate_input_is_checked_naming_the_field(options: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = MIGRATE_MODULE.validate({"name": "web", "dest_uri": "qemu+tcp://hv2/system", **options})
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems
