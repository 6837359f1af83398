# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guest's definition from its table and bindings: a new one written, a defined one compared.

Nothing here names an option. Each bound option is compared as its table row says (``compare``), shown
as its row says (sizes with units, secrets hidden), and a difference reaches the guest as its row's
``update`` says: ``live`` through its binding's live call when the running guest can take it (and
persisted), ``next_boot`` as a patch of the persistent definition (a running guest is then marked
``reboot_required``), ``impossible`` only by recreating the guest.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import devices, patches, power, storage
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.draft import Draft, GuestPlan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.bindings import BINDINGS
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.fields.field import Field
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.read import (
    SEED_HASH,
    SEED_META,
    GuestRead,
    GuestRef,
    HostContext,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import define_domain, define_new, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    CONTROL,
    IMPOSSIBLE,
    LIVE,
    Option,
    OptionTable,
    differs,
)
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Action


def _setting(name: str, value: Any) -> str:
    """How an action that sets an option on the domain is described."""
    if isinstance(value, bool):
        return f"{'enable' if value else 'disable'} {name}"
    return f"set {name} to {value}"


# ---------------------------------------------------------------------------------------------- a new guest


def plan_create(
    plan: GuestPlan, ref: GuestRef, host: HostContext, want: dict[str, Any], store: storage.Storage
) -> None:
    """Define the guest from the skeleton and every set option (or its create default), then its volumes,
    seed and domain settings."""
    root = gx.skeleton(ref.name)
    settings = []
    for name, field in BINDINGS.items():
        value = want.get(name)
        if value is None:
            value = GUEST[name].create_default
        if value is None:
            continue
        if field.resolve is not None:
            value = field.resolve(host, value)
        if field.write is not None:
            field.write(root, value)
        elif field.to_domain is not None and value:  # a new domain starts with every setting off
            settings.append((name, field, value))
    devs = gx.devices(root)
    for disk in want["disks"] or []:
        devs.append(gx.disk_element(devices.disk_values(disk, store)))
    for index, nic in enumerate(want["interfaces"] or []):
        devs.append(gx.interface_element(devices.nic_values(ref.name, index, nic)))
    seed = store.seed
    if seed is not None:
        devs.append(gx.disk_element(storage.seed_disk(seed)))
        gx.write_meta(root, SEED_META, seed["target"])
    if want["xml_patches"]:  # after every typed option; libvirt checks the result against its schema (_define)
        patches.apply_all(root, want["xml_patches"], ref.at)
    unseeded = gx.to_string(root)
    if seed is not None:
        gx.write_meta(root, SEED_HASH, seed["hash"])
    xml = gx.to_string(root)
    plan.definition = xml
    define = f"define guest {ref.name}"
    if plan.before_state == power.ABSENT:
        # a new guest is defined before its volumes and seed are made: a run killed in between leaves
        # a guest that names them (the rerun makes them, a removal finds them), never a volume of no
        # guest. Its seed's hash is recorded once the seed is written: until then a rerun rewrites it.
        first = unseeded if seed is not None else xml
        plan.actions.insert(0, Action(define, lambda: _define(ref, first, want, plan)))
        if seed is not None:
            storage.add_seed_action(plan, ref, seed)
            plan.add(f"record cloud-init seed {seed['hash']} in the definition", lambda: storage.record_seed(ref, seed))
    else:  # recreated: defined again after the old definition is gone
        if seed is not None:
            storage.add_seed_action(plan, ref, seed)
        plan.add(define, lambda: _define(ref, xml, want, plan))
    for name, field, value in settings:
        plan.add(_setting(name, value), lambda field=field, value=value: field.to_domain(ref.dom(), value))
    plan.diff.add("state", power.ABSENT, "defined", CONTROL)
    for opt in GUEST.options:
        if opt.update != CONTROL and want.get(opt.name) is not None and opt.name != "name":
            plan.diff.add(opt.name, None, opt.show(want[opt.name]), opt.update)


def _define(ref: GuestRef, xml: str, want: dict[str, Any], plan: GuestPlan) -> None:
    validate = bool(want["xml_patches"])
    define_new(lambda text: define_domain(ref.conn, text, validate), ref.conn.lookupByName, ref.name, xml, "guest")
    if validate:
        stored = ref.dom().XMLDesc(require_libvirt().VIR_DOMAIN_XML_INACTIVE)
        plan.warnings.extend(patches.unkept(stored, list(enumerate(want["xml_patches"]))))


# ---------------------------------------------------------------------------------------------- a defined guest


def impossible_changes(plan: GuestPlan, ref: GuestRef, want: dict[str, Any], read: GuestRead) -> bool:
    """Record the differences that cannot be made in place; fail unless ``recreate`` allows them."""
    changes = [
        (opt.name, read.config[opt.name], want[opt.name])
        for opt in GUEST.options
        if opt.update == IMPOSSIBLE
        and opt.name != "name"  # the guest is found by it
        and differs(want[opt.name], read.config[opt.name], opt.compare)
    ]
    if changes and not want["recreate"]:
        name, before, after = changes[0]
        raise NeedsOption(
            f"{ref.at(name)}: changing {before!r} to {after!r} cannot be done in place; "
            "the guest would have to be recreated",
            "recreate",
        )
    for name, before, after in changes:
        plan.diff.add(name, before, after, IMPOSSIBLE)
    return bool(changes)


def compare_fields(draft: Draft, want: dict[str, Any], host: HostContext) -> None:
    """Every bound option the user set, against the persistent definition and the running guest."""
    for name, field in BINDINGS.items():
        opt = GUEST[name]
        if opt.update in (CONTROL, IMPOSSIBLE) or want.get(name) is None:
            continue
        wanted = field.resolve(host, want[name]) if field.resolve is not None else want[name]
        if not field.applies(draft.read.config):
            continue
        if field.from_domain is not None:
            _compare_setting(draft, opt, field, wanted)
        elif opt.type == "dict" and opt.options is not None:
            _compare_dict(draft, opt, field, wanted)
        else:
            _compare_value(draft, opt, field, host, wanted)


def _compare_setting(draft: Draft, opt: Option, field: Field, wanted: Any) -> None:
    """A setting kept beside the definition: one call changes it for the persistent and the running guest."""
    actual = field.from_domain(draft.read.dom)  # type: ignore[misc]
    if differs(wanted, actual, opt.compare):
        draft.plan.diff.add(opt.name, opt.show(actual), opt.show(wanted), opt.update)
        draft.plan.add(_setting(opt.name, wanted), lambda: field.to_domain(draft.ref.dom(), wanted))  # type: ignore[misc]


def _compare_value(draft: Draft, opt: Option, field: Field, host: HostContext, wanted: Any) -> None:
    def same(actual: Any) -> bool:
        if field.same is not None:
            return field.same(host, wanted, actual)
        return not differs(wanted, actual, opt.compare)

    read, plan = draft.read, draft.plan
    config_differs = not same(read.config[opt.name])
    if config_differs:
        plan.diff.add(opt.name, opt.show(read.config[opt.name]), opt.show(wanted), opt.update)
        draft.patch(opt.name, lambda root: field.write(root, wanted))  # type: ignore[misc]
    if read.live is None:
        return
    live_value = field.live_read(read.live_root) if field.live_read is not None else read.live[opt.name]
    if same(live_value):
        return
    if opt.update == LIVE and field.live is not None and field.live_possible(read.live, wanted):
        if not config_differs:
            plan.diff.add(opt.name, opt.show(live_value), opt.show(wanted), LIVE)
        plan.add(
            f"set {opt.name} to {opt.show(wanted)} on the running guest",
            lambda: field.live(draft.ref.dom(), wanted, draft.live_meta),  # type: ignore[misc]
        )
    else:
        draft.reboot(opt.name)


def _compare_dict(draft: Draft, opt: Option, field: Field, wanted: dict[str, Any]) -> None:
    """A device given as a dictionary: the keys the user set, each compared and shown as its sub-row says;
    a change rewrites the device with the keys not set kept as they are."""
    table = opt.options or OptionTable([])  # a dict option with sub-options (see compare_fields)
    set_keys = {key: value for key, value in wanted.items() if value is not None}

    def changes(actual: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in set_keys.items() if differs(value, actual.get(key), table[key].compare)}

    actual = draft.read.config[opt.name] or {}
    changed = changes(actual)
    for key, value in changed.items():
        draft.plan.diff.add(f"{opt.name}.{key}", table[key].show(actual.get(key)), table[key].show(value), opt.update)
    if changed:
        merged = {**actual, **set_keys}
        draft.patch(opt.name, lambda root: field.write(root, merged))  # type: ignore[misc]
    if draft.read.live is not None and changes(draft.read.live[opt.name] or {}):
        draft.reboot(opt.name)
