"""libvirt's configuration syntax: parsing, validation against a lens, planned edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt_conf import (
    BOOL,
    INT,
    LIMIT,
    STR,
    STR_LIST,
    ConfSyntaxError,
    current_values,
    format_value,
    lens_for,
    normalize,
    parse_entries,
    parse_lens,
    plan_settings,
    secret_names,
    validate,
)

LENS = """
   let str_entry       (kw:string) = [ key kw . value_sep . str_val ]
   let network_entry = bool_entry "listen_tls"
                     | str_entry "tcp_port"
   let processing_entry = int_entry "max_clients"
   let misc = str_array_entry "cgroup_device_acl"
   let lim = limits_entry "max_core"
"""
SCHEMA = parse_lens(LENS)

SAMPLE = """# libvirtd.conf sample
#listen_tls = 0
#max_clients = 5000

# a list example
#cgroup_device_acl = [
#    "/dev/null", "/dev/full",
#]
tcp_port = "16509"   # trailing comment
cgroup_device_acl = [
    "/dev/null",  # comment inside
    '/dev/kvm'
]
max_clients = 10
"""


def test_parse_lens_reads_names_and_types() -> None:
    assert SCHEMA == {
        "listen_tls": BOOL,
        "tcp_port": STR,
        "max_clients": INT,
        "cgroup_device_acl": STR_LIST,
        "max_core": LIMIT,
    }


def test_the_installed_lenses_know_the_common_settings() -> None:
    libvirtd = Path(lens_for("/etc/libvirt/libvirtd.conf"))
    qemu = Path(lens_for("/etc/libvirt/qemu.conf"))
    assert qemu.name == "libvirtd_qemu.aug"
    assert parse_lens(libvirtd.read_text())["max_clients"] == INT
    assert parse_lens(qemu.read_text())["set_process_name"] == BOOL
    assert parse_lens(qemu.read_text())["max_core"] == LIMIT


@pytest.mark.parametrize(
    ("path", "lens"),
    [
        ("/etc/libvirt/libvirtd.conf", "libvirtd.aug"),
        ("/etc/libvirt/qemu.conf", "libvirtd_qemu.aug"),
        ("/etc/libvirt/virtqemud.conf", "virtqemud.aug"),
        ("/etc/libvirt/qemu-lockd.conf", "libvirt_lockd.aug"),
    ],
)
def test_lens_for(path: str, lens: str) -> None:
    assert lens_for(path, "/lenses") == f"/lenses/{lens}"


def test_parse_entries_values_and_spans() -> None:
    entries = parse_entries(SAMPLE)
    assert [(e.name, e.value) for e in entries] == [
        ("tcp_port", "16509"),
        ("cgroup_device_acl", ["/dev/null", "/dev/kvm"]),
        ("max_clients", 10),
    ]
    acl = entries[1]
    assert SAMPLE[acl.start : acl.end].startswith("cgroup_device_acl = [")
    assert SAMPLE[acl.start : acl.end].endswith("]\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a = "open\n', "line 1: unterminated string"),
        ('a = [ "x"\n', "line 1: unterminated list"),
        ("\nb = yes\n", "line 2: expected a quoted string"),
        ('a = "x" y\n', "unexpected text after the value of a"),
        ("just words\n", "expected 'name = value' or a comment"),
        ('a = ["x" "y"]\n', "expected ',' or ']'"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfSyntaxError, match=message):
        parse_entries(text)


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (BOOL, True, 1),
        (BOOL, False, 0),
        (BOOL, 1, 1),
        (INT, 5, 5),
        (INT, "12", 12),
        (LIMIT, "unlimited", "unlimited"),
        (LIMIT, 1024, 1024),
        (STR, "0.0.0.0", "0.0.0.0"),
        (STR, 16509, "16509"),
        (STR, 'say "hi"', 'say "hi"'),
        (STR_LIST, ["a", "b"], ["a", "b"]),
        (None, True, 1),
        (None, ["x"], ["x"]),
        (BOOL, None, None),
    ],
)
def test_normalize(kind: str | None, value: object, expected: object) -> None:
    assert normalize("x", value, kind) == expected


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (BOOL, "yes", "expects a boolean"),
        (BOOL, 2, "expects a boolean"),
        (INT, True, "expects an integer"),
        (INT, "many", "expects an integer"),
        (LIMIT, "lots", 'expects an integer or "unlimited"'),
        (STR, ["a"], "expects a string"),
        (STR, True, "expects a string"),
        (STR, "both ' and \"", "cannot hold both"),
        (STR, "two\nlines", "cannot span lines"),
        (STR_LIST, "a", "expects a list of strings"),
        (STR_LIST, ["a", 1], "expects a list of strings"),
    ],
)
def test_normalize_rejects(kind: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize("x", value, kind)


def test_validate_reports_every_problem_with_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        validate({"max_clent": 1, "listen_tls": "yes", "max_clients": 3, "tcp_port": 1}, SCHEMA, "libvirtd.conf")
    assert caught.value.problems == [
        ("settings.max_clent", "not a setting of libvirtd.conf; did you mean max_clients?"),
        ("settings.listen_tls", "expects a boolean (true/false or 1/0), got 'yes'"),
    ]


def test_validate_without_schema_checks_names_only() -> None:
    assert validate({"anything": True}, None, "x.conf") == {"anything": 1}
    with pytest.raises(ValidationError, match=r"settings\.bad name: not a valid setting name"):
        validate({"bad name": 1}, None, "x.conf")


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1"), ("a", '"a"'), ('say "hi"', "'say \"hi\"'"), (["a", "b"], '["a", "b"]'), ([], "[]")],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def test_plan_changes_nothing_when_the_file_agrees() -> None:
    plan = plan_settings(
        SAMPLE, {"tcp_port": "16509", "max_clients": 10, "cgroup_device_acl": ["/dev/null", "/dev/kvm"]}
    )
    assert plan.text == SAMPLE
    assert plan.actions == [] and plan.before == {} and plan.after == {}


def test_plan_replaces_inserts_under_the_example_appends_and_removes() -> None:
    plan = plan_settings(
        SAMPLE,
        {"max_clients": 20, "listen_tls": 1, "cgroup_device_acl": ["/dev/null"], "tcp_port": None, "new_one": "x"},
    )
    lines = plan.text.splitlines()
    assert "max_clients = 20" in lines and "max_clients = 10" not in lines
    assert lines[lines.index("#listen_tls = 0") + 1] == "listen_tls = 1"  # under its example
    assert 'cgroup_device_acl = ["/dev/null"]' in lines
    assert "comment inside" not in plan.text  # the whole multi-line value was replaced
    assert not any(line.startswith("tcp_port") for line in lines)
    assert lines[-1] == 'new_one = "x"'  # no example: appended
    assert plan.actions == [
        "set max_clients = 20",
        "set listen_tls = 1",
        'set cgroup_device_acl = ["/dev/null"]',
        "remove tcp_port",
        'set new_one = "x"',
    ]
    assert plan.changed == ["max_clients", "listen_tls", "cgroup_device_acl", "tcp_port", "new_one"]
    assert plan.before == {"max_clients": 10, "cgroup_device_acl": ["/dev/null", "/dev/kvm"], "tcp_port": "16509"}
    assert plan.after == {"max_clients": 20, "listen_tls": 1, "cgroup_device_acl": ["/dev/null"], "new_one": "x"}
    # the new text parses, and planning it again changes nothing
    again = plan_settings(plan.text, {"max_clients": 20, "listen_tls": 1, "tcp_port": None, "new_one": "x"})
    assert again.text == plan.text and again.actions == []


def test_plan_inserts_after_a_multi_line_example() -> None:
    plan = plan_settings(
        SAMPLE.replace("\ncgroup_device_acl = [\n", "\nold = [\n"), {"cgroup_device_acl": ["/dev/kvm"]}
    )
    lines = plan.text.splitlines()
    assert lines[lines.index("#]") + 1] == 'cgroup_device_acl = ["/dev/kvm"]'


def test_plan_keeps_one_line_of_a_repeated_setting() -> None:
    text = "a = 1\nb = 2\na = 3\n"
    plan = plan_settings(text, {"a": 3})
    assert plan.text == "a = 3\nb = 2\n"
    assert plan.actions == ["set a = 3"] and plan.before == {} and plan.after == {}


def test_plan_appends_to_a_file_without_final_newline() -> None:
    assert plan_settings("a = 1", {"b": 2}).text == "a = 1\nb = 2\n"


def test_current_values_and_secrets() -> None:
    assert current_values(SAMPLE, ["max_clients", "listen_tls"]) == {"max_clients": 10, "listen_tls": None}
    assert secret_names(["vnc_password", "vnc_listen", "spice_password"]) == ["vnc_password", "spice_password"]
