# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Plan one ``secret`` task: a libvirt secret found by its usage, defined, given its value, or undefined.

The value is compared inside the module and never returned: libvirt gives a secret's value back to the
module unless the secret is private, so a task that sets the value it already has changes nothing. A
private secret's value cannot be read back at all (nor whether it has one): ``update_value: always``
sets it on every run (and says so), ``on_create`` only when the secret is defined. A new description,
``ephemeral`` or ``private: true`` redefines the secret in place (libvirt keeps the value); a private
secret made public is defined again (``recreate``), with the task's value.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Optional
from xml.sax.saxutils import escape

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import define_checked, require_libvirt
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import CONTROL
from ansible_collections.kvmfleet.kvm.plugins.module_utils._plan import Plan
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.options import USAGE_ELEMENT, value_bytes

UNKNOWN = "unknown"  # a private secret's value: libvirt does not say whether it has one
HIDDEN, NONE = "(hidden)", "(none)"


def secret_xml(values: dict[str, Any], uuid: Optional[str]) -> str:
    """A secret's definition from the task's values (``uuid``: keep or fix the secret's UUID)."""
    flags = f"ephemeral='{'yes' if values['ephemeral'] else 'no'}' private='{'yes' if values['private'] else 'no'}'"
    parts = [f"<secret {flags}>"]
    if uuid:
        parts.append(f"<uuid>{uuid}</uuid>")
    if values["description"] is not None:
        parts.append(f"<description>{escape(values['description'])}</description>")
    element = USAGE_ELEMENT[values["usage"]]
    parts.append(f"<usage type='{values['usage']}'><{element}>{escape(values['usage_id'])}</{element}></usage>")
    parts.append("</secret>")
    return "".join(parts)


def read_secret(xml: str) -> dict[str, Any]:
    root = ET.fromstring(xml)
    return {
        "uuid": root.findtext("uuid"),
        "description": root.findtext("description"),
        "private": root.get("private") == "yes",
        "ephemeral": root.get("ephemeral") == "yes",
    }


def usage_type(usage: str) -> int:
    return int(getattr(require_libvirt(), f"VIR_SECRET_USAGE_TYPE_{usage.upper()}"))


class SecretPlanner:
    """Plans one ``secret`` task from the table's values."""

    def __init__(self, conn: Any, values: dict[str, Any]) -> None:
        self.lv = require_libvirt()
        self.conn = conn
        self.want = values
        self.plan = Plan("secret", f"{values['usage']} {values['usage_id']}")
        self.facts: Optional[dict[str, Any]] = None  # the secret after the run (predicted in check mode)
        self.has_value: Any = False  # True, False, or UNKNOWN (private)

    def make(self) -> Plan:
        want = self.want
        found = self._lookup()
        if want["state"] == "absent":
            if found is not None:
                self.plan.diff.add("state", "present", "absent", CONTROL)
                self.plan.add(f"undefine secret {self.plan.name}", lambda: self._undefine(found))
            return self.plan
        value = value_bytes(want)
        if found is None:
            self._define(value, created=True)
            return self.plan
        facts = read_secret(found.XMLDesc(0))
        self._check_uuid(facts["uuid"])
        if facts["private"] and not want["private"]:  # libvirt refuses this one change in place
            self._recreate(found, facts, value)
            return self.plan
        kept = {**want, "description": want["description"] if want["description"] is not None else facts["description"]}
        changed = [key for key in ("private", "ephemeral", "description") if kept[key] != facts[key]]
        for key in changed:
            self.plan.diff.add(key, facts[key], kept[key], CONTROL)
        self.facts = {**facts, **{key: kept[key] for key in ("private", "ephemeral", "description")}}
        self._compare_value(found, value, redefine=(secret_xml(kept, facts["uuid"]), changed) if changed else None)
        return self.plan

    # ------------------------------------------------------------------ reading

    def _lookup(self) -> Any:
        try:
            return self.conn.secretLookupByUsage(usage_type(self.want["usage"]), self.want["usage_id"])
        except self.lv.libvirtError as exc:
            if exc.get_error_code() == self.lv.VIR_ERR_NO_SECRET:
                return None
            raise

    def _check_uuid(self, uuid: Optional[str]) -> None:
        wanted = self.want["uuid"]
        if wanted is not None and uuid != wanted:
            raise ValidationError(
                [("uuid", f"the secret of {self.plan.name} has the UUID {uuid}: a secret's UUID does not change")]
            )

    def _current_value(self, found: Any) -> Any:
        """The secret's value (bytes), None when it has none, UNKNOWN when libvirt does not say (private)."""
        try:
            return found.value(0)
        except self.lv.libvirtError as exc:
            if exc.get_error_code() == self.lv.VIR_ERR_NO_SECRET:
                return None
            if exc.get_error_code() == self.lv.VIR_ERR_INVALID_SECRET:
                return UNKNOWN
            raise

    # ------------------------------------------------------------------ planning

    def _define(self, value: Optional[bytes], created: bool, before: str = NONE) -> None:
        want = self.want
        if created and want["uuid"] is not None:
            taken = self._by_uuid(want["uuid"])
            if taken is not None:
                raise ValidationError([("uuid", f"{want['uuid']} is the UUID of another secret ({taken})")])
        if created:
            self.plan.diff.add("state", "absent", "present", CONTROL)
            for key in ("private", "ephemeral", "description"):
                if want[key] is not None:
                    self.plan.diff.add(key, None, want[key], CONTROL)
        xml = secret_xml(want, want["uuid"])
        holder: dict[str, Any] = {}
        self.plan.add(
            f"define secret {self.plan.name}", lambda: holder.update(secret=define_checked(self.conn, "secret", xml))
        )
        if value is not None:
            self.plan.diff.add("value", before, HIDDEN if created else f"{HIDDEN}, set again", CONTROL)
            self.plan.add(f"set the value of secret {self.plan.name}", lambda: holder["secret"].setValue(value, 0))
        self.facts = {"uuid": want["uuid"], **{key: want[key] for key in ("description", "private", "ephemeral")}}
        self.has_value = value is not None

    def _by_uuid(self, uuid: str) -> Optional[str]:
        try:
            other = self.conn.secretLookupByUUIDString(uuid)
        except self.lv.libvirtError as exc:
            if exc.get_error_code() == self.lv.VIR_ERR_NO_SECRET:
                return None
            raise
        return f"usage {other.usageType()} {other.usageID()}"

    def _recreate(self, found: Any, facts: dict[str, Any], value: Optional[bytes]) -> None:
        if not self.want["recreate"]:
            raise NeedsOption(
                f"secret {self.plan.name}: libvirt does not make a private secret public; it is undefined and defined "
                "again, with the task's value",
                "recreate",
            )
        if value is None:
            raise ValidationError(
                [("value", f"secret {self.plan.name} is defined again (not private): give its value")]
            )
        description = self.want["description"] if self.want["description"] is not None else facts["description"]
        self.want = {**self.want, "uuid": self.want["uuid"] or facts["uuid"], "description": description}
        for key in ("private", "ephemeral", "description"):
            if self.want[key] != facts[key]:
                self.plan.diff.add(key, facts[key], self.want[key], CONTROL)
        self.plan.add(f"undefine secret {self.plan.name} to define it again", lambda: self._undefine(found))
        self._define(value, created=False, before=HIDDEN)

    def _compare_value(self, found: Any, value: Optional[bytes], redefine: Optional[tuple[str, list[str]]]) -> None:
        """Redefine the secret for a changed description, ``private`` or ``ephemeral`` (libvirt keeps its value),
        and set the value where it differs (read before any change: a secret made private here hides it)."""
        current = self._current_value(found)
        name = self.plan.name
        if redefine is not None:
            xml, changed = redefine
            self.plan.add(
                f"redefine secret {name} ({', '.join(changed)})", lambda: define_checked(self.conn, "secret", xml)
            )
        sets = (
            value is not None and current != value and (current is not UNKNOWN or self.want["update_value"] == "always")
        )
        if sets and current is UNKNOWN:
            self.plan.diff.add("value", HIDDEN, f"{HIDDEN}, set again", CONTROL)
            self.plan.add(
                f"set the value of secret {name} (it is private: libvirt does not give it back to compare, so "
                "update_value: always sets it on every run)",
                lambda: found.setValue(value, 0),
            )
        elif sets:
            self.plan.diff.add("value", HIDDEN if current is not None else NONE, f"{HIDDEN}, another", CONTROL)
            self.plan.add(f"set the value of secret {name}", lambda: found.setValue(value, 0))
        # after the run: set by it, unknown for a private secret (libvirt does not say), else as read
        self.has_value = True if sets else (UNKNOWN if self.want["private"] else current is not None)

    def _undefine(self, found: Any) -> None:
        try:
            found.undefine()
        except self.lv.libvirtError as exc:
            if exc.get_error_code() != self.lv.VIR_ERR_NO_SECRET:  # gone meanwhile: done
                raise

    # ------------------------------------------------------------------ result

    def uuid_after(self) -> Optional[str]:
        """The secret's UUID after a real run (libvirt picks one for a new secret without ``uuid``)."""
        if self.facts is None:
            return None
        if self.facts.get("uuid"):
            return str(self.facts["uuid"])
        found = self._lookup()
        return found.UUIDString() if found is not None else None
