"""kvmfleet.kvm.secret: the table, and the plan on an in-memory secret store that answers as libvirt's
secrets driver does (the test driver has none): a private secret's value is refused, a secret without a
value says so, the private flag of an existing secret does not change."""

from __future__ import annotations

import uuid as uuidlib
import xml.etree.ElementTree as ET
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import NeedsOption, ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.module import SECRET_ENTRY
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.options import SECRET_MODULE
from ansible_collections.kvmfleet.kvm.plugins.module_utils._secret.plan import SecretPlanner, secret_xml


def error(code: int, message: str) -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, 0, message, 0, None, None, None, 0, 0)
    return exc


class Secret:
    def __init__(self, store: Store, xml: str) -> None:
        self.store, self.xml = store, xml
        self.stored: bytes | None = None

    @property
    def root(self) -> ET.Element:
        return ET.fromstring(self.xml)

    def XMLDesc(self, _flags: int) -> str:  # noqa: N802 (libvirt's names)
        return self.xml

    def UUIDString(self) -> str:  # noqa: N802
        return str(self.root.findtext("uuid"))

    def usageType(self) -> int:  # noqa: N802
        return int(getattr(libvirt, f"VIR_SECRET_USAGE_TYPE_{str(self.root.find('usage').get('type')).upper()}"))

    def usageID(self) -> str:  # noqa: N802
        return str(self.root.find("usage")[0].text)

    def value(self, _flags: int) -> bytes:
        if self.root.get("private") == "yes":
            raise error(libvirt.VIR_ERR_INVALID_SECRET, "Invalid secret: secret is private")
        if self.stored is None:
            raise error(libvirt.VIR_ERR_NO_SECRET, "Secret not found: secret does not have a value")
        return self.stored

    def setValue(self, value: bytes, _flags: int) -> None:  # noqa: N802
        self.store.calls.append(f"setValue {self.usageID()}")
        self.stored = value

    def undefine(self) -> None:
        self.store.calls.append(f"undefine {self.usageID()}")
        self.store.secrets.remove(self)


class Store:
    """A libvirt connection with secrets only."""

    def __init__(self) -> None:
        self.secrets: list[Secret] = []
        self.calls: list[str] = []

    def secretLookupByUsage(self, usage: int, usage_id: str) -> Secret:  # noqa: N802
        for secret in self.secrets:
            if secret.usageType() == usage and secret.usageID() == usage_id:
                return secret
        raise error(libvirt.VIR_ERR_NO_SECRET, f"Secret not found: no secret with matching usage '{usage_id}'")

    def secretLookupByUUIDString(self, uuid: str) -> Secret:  # noqa: N802
        for secret in self.secrets:
            if secret.UUIDString() == uuid:
                return secret
        raise error(libvirt.VIR_ERR_NO_SECRET, "Secret not found")

    def getLibVersion(self) -> int:  # noqa: N802
        return 9_000_000  # the libvirtd whose secrets driver this store answers like

    def secretDefineXML(self, xml: str, _flags: int) -> Secret:  # noqa: N802
        root = ET.fromstring(xml)
        if root.find("uuid") is None:
            ET.SubElement(root, "uuid").text = str(uuidlib.uuid4())
        for secret in self.secrets:
            if secret.UUIDString() == root.findtext("uuid"):
                if secret.root.get("private") == "yes" and root.get("private") != "yes":
                    raise error(libvirt.VIR_ERR_INTERNAL_ERROR, "cannot change private flag on existing secret")
                secret.xml = ET.tostring(root, encoding="unicode")
                self.calls.append(f"redefine {secret.usageID()}")
                return secret
        secret = Secret(self, ET.tostring(root, encoding="unicode"))
        self.secrets.append(secret)
        self.calls.append(f"define {secret.usageID()}")
        return secret


def values(**options: Any) -> dict[str, Any]:
    validated, problems = SECRET_MODULE.validate({"usage": "ceph", "usage_id": "client.libvirt", **options})
    assert problems == [], problems
    return validated


def run(store: Store, check: bool = False, **options: Any) -> dict[str, Any]:
    class Invocation:
        check_mode = check

        def __init__(self) -> None:
            self.values = values(**options)

    return SECRET_ENTRY.work(store, Invocation())


KEY = "QVFCeG1GZGw1eGhBQUJBQVFQOXBQZ2ZqM3c9PQ=="  # base64 text, as `ceph auth get-key` prints a key


def test_define_set_then_nothing_to_do_and_the_value_is_never_returned() -> None:
    store = Store()
    checked = run(store, check=True, value_base64=KEY, description="cephx key")
    assert checked["changed"] and store.calls == []
    assert checked["actions"] == ["define secret ceph client.libvirt", "set the value of secret ceph client.libvirt"]
    done = run(store, value_base64=KEY, description="cephx key")
    assert done["actions"] == checked["actions"] and done["diff"] == checked["diff"]
    assert done["diff"]["after"] == {"state": "present", "private": False, "ephemeral": False,
                                     "description": "cephx key", "value": "(hidden)"}  # fmt: skip
    (secret,) = store.secrets
    assert secret.stored == b"AQBxmFdl5xhAABAAQP9pPgfj3w==" and done["uuid"] == secret.UUIDString()
    assert done["has_value"] is True and KEY not in repr(done) and "AQBx" not in repr(done)
    for check in (True, False):
        again = run(store, check=check, value_base64=KEY, description="cephx key")
        assert again["changed"] is False and again["actions"] == [], again
    assert store.calls == ["define client.libvirt", "setValue client.libvirt"]


def test_a_new_value_is_set_and_shown_only_as_changed() -> None:
    store = Store()
    run(store, value="old-password")
    changed = run(store, value="new-password")
    assert changed["actions"] == ["set the value of secret ceph client.libvirt"]
    assert changed["diff"]["before"] == {"value": "(hidden)"} and changed["diff"]["after"] == {
        "value": "(hidden), another"
    }
    assert store.secrets[0].stored == b"new-password" and "password" not in repr(changed)
    kept = run(store)  # no value given: the value is left as it is
    assert kept["changed"] is False and store.secrets[0].stored == b"new-password"


def test_a_private_secret_is_set_on_every_run_or_only_on_create() -> None:
    store = Store()
    first = run(store, value="chap", private=True, update_value="on_create")
    assert first["changed"] and first["has_value"] is True
    again = run(store, value="chap", private=True, update_value="on_create")
    assert again["changed"] is False and again["has_value"] is None  # libvirt does not say
    always = run(store, value="chap", private=True)
    assert always["changed"] and "update_value: always sets it on every run" in always["actions"][0]


def test_private_and_ephemeral_change_only_with_recreate_and_the_value() -> None:
    store = Store()
    run(store, value="k", private=True)
    with pytest.raises(NeedsOption) as refused:
        run(store, value="k", private=False)
    assert refused.value.option == "recreate" and "does not make a private secret public" in refused.value.msg
    with pytest.raises(ValidationError) as no_value:
        run(store, private=False, recreate=True)
    assert no_value.value.problems[0][0] == "value"
    uuid = store.secrets[0].UUIDString()
    done = run(store, value="k", private=False, recreate=True)
    assert done["actions"] == [
        "undefine secret ceph client.libvirt to define it again",
        "define secret ceph client.libvirt",
        "set the value of secret ceph client.libvirt",
    ]
    (secret,) = store.secrets
    assert secret.UUIDString() == uuid and secret.root.get("private") == "no" and secret.stored == b"k"


def test_private_and_ephemeral_are_changed_in_place_where_libvirt_allows_it() -> None:
    store = Store()
    run(store, value="k", description="kept")
    done = run(store, value="k", private=True, ephemeral=True)
    assert done["actions"] == ["redefine secret ceph client.libvirt (private, ephemeral)"]
    (secret,) = store.secrets
    assert secret.root.get("private") == "yes" and secret.root.get("ephemeral") == "yes" and secret.stored == b"k"
    assert secret.root.findtext("description") == "kept" and done["has_value"] is None  # private now: not said


def test_a_recreated_secret_keeps_its_description_and_uuid() -> None:
    store = Store()
    run(store, value="k", private=True, description="cephx key")
    done = run(store, value="k", recreate=True)
    assert done["description"] == "cephx key" and store.secrets[0].root.findtext("description") == "cephx key"
    assert done["diff"]["before"] == {"private": True, "value": "(hidden)"} and done["has_value"] is True
    renamed = run(store, value="k", private=True)
    assert renamed["actions"] == ["redefine secret ceph client.libvirt (private)"]


def test_a_description_is_redefined_keeping_the_value_and_absent_undefines() -> None:
    store = Store()
    run(store, value="k", description="one")
    changed = run(store, description="two")
    assert changed["actions"] == ["redefine secret ceph client.libvirt (description)"]
    assert store.secrets[0].root.findtext("description") == "two" and store.secrets[0].stored == b"k"
    gone = run(store, state="absent")
    assert gone["actions"] == ["undefine secret ceph client.libvirt"] and store.secrets == []
    assert run(store, state="absent")["changed"] is False


def test_uuids_are_checked_before_anything_is_done() -> None:
    store = Store()
    fixed = "2ec115d7-3a88-3ceb-bc12-0ac909a6fd87"
    run(store, uuid=fixed)
    with pytest.raises(ValidationError) as other:
        run(store, usage_id="client.other", uuid=fixed)
    assert other.value.problems == [("uuid", f"{fixed} is the UUID of another secret (usage 2 client.libvirt)")]
    with pytest.raises(ValidationError) as changed:
        run(store, uuid="11111111-2222-3333-4444-555555555555")
    assert changed.value.problems[0][0] == "uuid" and "does not change" in changed.value.problems[0][1]
    assert store.calls == ["define client.libvirt"]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"usage": "volume", "usage_id": "crypt.qcow2"}, ("usage_id", "named by the volume's absolute path")),
        ({"usage": "tls", "usage_id": "kvmfleet-hypervisor"}, ("usage_id", "kvmfleet.kvm.hypervisor manages it")),
        ({"value": "a", "value_base64": "YQ=="}, ("value_base64", "give the value once")),
        ({"value_base64": "not base64!"}, ("value_base64", "is not base64 text")),
        ({"state": "absent", "value": "a"}, ("value", "leave it out with state absent")),
        ({"usage": "nfs"}, ("usage", "must be one of")),
        ({"uuid": "nope"}, ("uuid", "is not the UUID of a libvirt secret")),
    ],
)
def test_bad_input_names_the_field(options: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = SECRET_MODULE.validate({"usage": "ceph", "usage_id": "client.libvirt", **options})
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems
    assert all("not base64!" not in message and "'a'" not in message for _path, message in problems)


def test_the_definition_escapes_its_text() -> None:
    xml = secret_xml(values(usage="iscsi", usage_id="iqn.2026-12.com.example:t<1>", description="a & b"), None)
    root = ET.fromstring(xml)
    assert root.findtext("usage/target") == "iqn.2026-12.com.example:t<1>" and root.findtext("description") == "a & b"
    assert root.get("private") == "no" and root.find("uuid") is None


def test_the_planner_changes_nothing_itself() -> None:
    store = Store()
    planner = SecretPlanner(store, values(value="x"))
    plan = planner.make()
    assert [action.description for action in plan.actions] == [
        "define secret ceph client.libvirt",
        "set the value of secret ceph client.libvirt",
    ]
    assert planner.uuid_after() is None and store.calls == []
