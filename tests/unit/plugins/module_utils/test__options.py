"""The generic option engine: argument specs, validation with field paths, secrets, diffs."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import (
    LIVE,
    NEXT_BOOT,
    UNORDERED,
    DiffTracker,
    Option,
    OptionError,
    OptionTable,
    differs,
)


def even(value: int) -> int:
    if value % 2:
        raise OptionError("must be even")
    return value


ITEM = OptionTable(
    [
        Option("size", type="size", minimum=1024),
        Option("bus", choices=("virtio", "sata"), default="virtio"),
        Option("key", no_log=True),
        Option("count", type="int", normalize=even),
    ]
)
TABLE = OptionTable(
    [
        Option("name", required=True),
        Option("flag", type="bool"),
        Option("items", type="list", elements="dict", options=ITEM),
        Option("words", type="list", elements="str", choices=("a", "b")),
        Option("nested", type="dict", options=OptionTable([Option("port", type="int", maximum=10)])),
        Option("password", no_log=True),
        Option("batch", type="list", elements="dict", options=ITEM, in_spec=False),
        Option("alias_me", aliases=("other",)),
    ]
)


def validate(raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    return TABLE.validate(raw)


def test_argument_spec() -> None:
    spec = TABLE.argument_spec()
    assert spec["name"] == {"type": "str", "required": True}
    assert spec["items"]["options"]["size"] == {"type": "raw"}
    assert spec["items"]["options"]["bus"] == {"type": "str", "choices": ["virtio", "sata"], "default": "virtio"}
    assert spec["items"]["options"]["key"] == {"type": "str", "no_log": True}
    assert spec["password"] == {"type": "str", "no_log": True}
    assert "options" not in spec["batch"]
    assert spec["alias_me"]["aliases"] == ["other"]


def test_valid_input_is_normalised() -> None:
    values, problems = validate(
        {
            "name": "x",
            "flag": "yes",
            "items": [{"size": "2K", "count": "4"}],
            "words": "a,b",
            "other": "v",
            "_ansible_check_mode": True,
        }
    )
    assert problems == []
    assert values["flag"] is True
    assert values["items"] == [{"size": 2048, "bus": "virtio", "key": None, "count": 4}]
    assert values["words"] == ["a", "b"]
    assert values["alias_me"] == "v"
    assert values["nested"] is None and values["password"] is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("name", "is required")]),
        (
            {"name": "x", "bogus": 1},
            [
                (
                    "bogus",
                    "unknown option; known options are: alias_me, batch, flag, items, name, nested, password, words",
                )
            ],
        ),
        ({"name": "x", "flag": "maybe"}, [("flag", "expected true or false, got 'maybe'")]),
        ({"name": "x", "items": [{}, {"size": "1B"}]}, [("items[1].size", "must be at least 1KiB")]),
        ({"name": "x", "items": [{"bus": "ide"}]}, [("items[0].bus", "must be one of virtio, sata; got 'ide'")]),
        ({"name": "x", "items": [{"count": 3}]}, [("items[0].count", "must be even")]),
        ({"name": "x", "items": ["disk"]}, [("items[0]", "expected a dictionary, got str")]),
        ({"name": "x", "items": {"size": 1}}, [("items", "expected a list, got dict")]),
        ({"name": "x", "words": ["a", "c"]}, [("words[1]", "must be one of a, b; got 'c'")]),
        ({"name": "x", "nested": {"port": 11}}, [("nested.port", "must be at most 10")]),
        (
            {"name": "x", "nested": {"port": "x", "speed": 1}},
            [
                ("nested.speed", "unknown option; known options are: port"),
                ("nested.port", "expected a whole number, got 'x'"),
            ],
        ),
        ({"name": "x", "batch": [{"size": "x"}]}, [("batch[0].size", "expected a size such as 512M or 2GiB, got 'x'")]),
        ({"name": ["x"]}, [("name", "expected a string, got list")]),
    ],
)
def test_every_problem_is_reported_with_its_path(raw: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert validate(raw)[1] == expected


def test_all_problems_are_reported_together() -> None:
    problems = validate({"flag": 3, "items": [{"bus": "x"}, {"size": "q"}]})[1]
    assert [problem[0] for problem in problems] == ["name", "flag", "items[0].bus", "items[1].size"]


def test_secret_values_never_appear_in_messages() -> None:
    table = OptionTable([Option("key", no_log=True, choices=("a",))])
    problems = table.validate({"key": "hunter2"})[1]
    assert problems == [("key", "must be one of a; got (hidden)")]


def test_secrets_are_found_at_every_depth() -> None:
    raw = {"name": "x", "password": "p1", "items": [{"key": "k1"}, {"key": "k2"}], "batch": [{"key": "k3"}]}
    assert TABLE.secrets(raw) == {"p1", "k1", "k2", "k3"}


def test_cross_field_checks_run_only_on_clean_input() -> None:
    calls = []

    def check(values: dict[str, Any], path: str) -> list[tuple[str, str]]:
        calls.append(values)
        return [(f"{path}.a" if path else "a", "bad combination")]

    table = OptionTable([Option("a", type="int")], checks=[check])
    assert table.validate({"a": "x"})[1] == [("a", "expected a whole number, got 'x'")]
    assert calls == []
    assert table.validate({"a": 1})[1] == [("a", "bad combination")]


@pytest.mark.parametrize(
    ("desired", "actual", "compare", "result"),
    [
        (None, 5, "strict", False),
        (5, 5, "strict", False),
        (5, 6, "strict", True),
        (["b", "a"], ["a", "b"], UNORDERED, False),
        (["b", "a"], ["a", "b"], "strict", True),
        (["a"], ["a", "b"], UNORDERED, True),
        ("x", "y", "ignore", False),
    ],
)
def test_differs(desired: Any, actual: Any, compare: str, result: bool) -> None:
    assert differs(desired, actual, compare) is result


def test_diff_tracker_holds_only_what_differs() -> None:
    diff = DiffTracker()
    assert not diff
    diff.add("memory", "1GiB", "2GiB", LIVE)
    diff.add("disks[vdb]", None, {"size": "1GiB"}, LIVE)
    diff.add("machine", "pc", "q35", NEXT_BOOT)
    assert diff.diff() == {
        "before": {"memory": "1GiB", "machine": "pc"},
        "after": {"memory": "2GiB", "disks[vdb]": {"size": "1GiB"}, "machine": "q35"},
    }
    assert [c.path for c in diff.by_update(NEXT_BOOT)] == ["machine"]
