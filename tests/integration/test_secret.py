"""kvmfleet.kvm.secret on the real libvirtd: values set, compared and never shown; virsh reads them back."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import kvmtest
import pytest

pytestmark = pytest.mark.integration

KEY = base64.b64encode(b"kvmfleet-test-cephx-key-0123456789").decode()


def secret_uuid(usage: str, usage_id: str) -> str:
    for line in kvmtest.virsh("secret-list").splitlines():
        uuid = line.split()[0] if line.strip() else ""
        if uuid and usage_id in line and usage in line:
            return uuid
    raise AssertionError(f"no secret {usage} {usage_id}: {kvmtest.virsh('secret-list')}")


def test_a_ceph_key_is_defined_compared_and_changed_without_ever_being_shown(
    triad: Callable[..., list[dict[str, Any]]], play: Callable[..., kvmtest.PlayResult], prefix: str
) -> None:
    usage_id = f"{prefix}client.libvirt"
    task = {"usage": "ceph", "usage_id": usage_id, "value_base64": KEY, "description": "cephx key"}
    check, done, _again, _rerun = triad({"kvmfleet.kvm.secret": task})
    assert check["actions"] == [f"define secret ceph {usage_id}", f"set the value of secret ceph {usage_id}"]
    assert done["has_value"] is True and done["private"] is False
    # the host itself: virsh finds it by its usage and reads back the decoded key
    uuid = secret_uuid("ceph", usage_id)
    assert done["uuid"] == uuid
    assert kvmtest.virsh("secret-get-value", uuid).strip() == KEY  # virsh prints the value in base64
    dumped = kvmtest.virsh("secret-dumpxml", uuid)
    assert f"<name>{usage_id}</name>" in dumped and "<description>cephx key</description>" in dumped

    rotated = base64.b64encode(b"another-key").decode()
    changed = play([{"name": "s", "kvmfleet.kvm.secret": {**task, "value_base64": rotated}}], diff=True).result("s")
    assert changed["changed"] and changed["actions"] == [f"set the value of secret ceph {usage_id}"]
    assert kvmtest.virsh("secret-get-value", uuid).strip() == rotated
    for result in (check, done, changed):
        text = json.dumps(result)
        assert KEY not in text and rotated not in text and "kvmfleet-test-cephx" not in text

    gone = triad({"kvmfleet.kvm.secret": {"usage": "ceph", "usage_id": usage_id, "state": "absent"}})
    assert gone[1]["actions"] == [f"undefine secret ceph {usage_id}"]
    assert uuid not in kvmtest.virsh("secret-list")


def test_a_private_chap_password_is_set_once_with_on_create(
    triad: Callable[..., list[dict[str, Any]]], play: Callable[..., kvmtest.PlayResult], prefix: str
) -> None:
    target = f"{prefix}iqn.2026-12.com.example:storage1"
    task = {
        "usage": "iscsi",
        "usage_id": target,
        "value": "chap-secret-9",
        "private": True,
        "update_value": "on_create",
    }
    _check, done, _again, rerun = triad({"kvmfleet.kvm.secret": task})
    assert done["private"] is True and rerun["has_value"] is None  # libvirt does not say of a private secret
    uuid = secret_uuid("iscsi", target)
    refused = kvmtest.virsh("secret-get-value", uuid, check=False)
    assert refused == ""  # private: libvirt gives the value to no client
    always = play([{"name": "s", "kvmfleet.kvm.secret": {**task, "update_value": "always"}}]).result("s")
    assert always["changed"] and "update_value: always sets it on every run" in always["actions"][0]
    assert "chap-secret-9" not in json.dumps(always) + json.dumps(done)

    # libvirt does not make a private secret public: it is defined again, only with recreate and the value
    public = {**task, "private": False}
    failed = play([{"name": "s", "kvmfleet.kvm.secret": public}]).result("s")
    assert failed["failed"] and failed["needs_option"] == "recreate" and secret_uuid("iscsi", target) == uuid
    recreated = play([{"name": "s", "kvmfleet.kvm.secret": {**public, "recreate": True}}]).result("s")
    assert recreated["changed"] and not recreated.get("failed"), recreated.get("msg")
    assert secret_uuid("iscsi", target) == uuid  # the same secret, its UUID kept
    assert base64.b64decode(kvmtest.virsh("secret-get-value", uuid).strip()) == b"chap-secret-9"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"usage": "volume", "usage_id": "crypt.qcow2", "value": "volume-passphrase-1"},
            "usage_id: 'crypt.qcow2': the secret of a volume",
        ),
        ({"usage": "ceph", "usage_id": "x", "value_base64": "%%%"}, "value_base64: is not base64 text"),
        ({"usage": "ceph", "usage_id": "x", "uuid": "nope"}, "uuid: 'nope' is not the UUID of a libvirt secret"),
    ],
    ids=["volume without a path", "bad base64", "bad uuid"],
)
def test_bad_input_fails_naming_the_field_before_anything_is_defined(
    play: Callable[..., kvmtest.PlayResult], options: dict[str, Any], message: str
) -> None:
    before = kvmtest.virsh("secret-list")
    for check in (True, False):
        result = play([{"name": "s", "kvmfleet.kvm.secret": options}], check=check).result("s")
        assert result["failed"] and message in result["msg"], result["msg"]
        assert "volume-passphrase-1" not in json.dumps(result)
    assert kvmtest.virsh("secret-list") == before
