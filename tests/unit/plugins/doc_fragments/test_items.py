"""The list modules' items are documented by the one-object modules' own documentation, nested, with the
references made from inside an item; and that documentation is the option table's (names, types, choices,
defaults), so neither can drift from the code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.kvmfleet.kvm.plugins.doc_fragments.items import ModuleDocFragment
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import OptionTable
from ansible_collections.kvmfleet.kvm.plugins.module_utils._pool.options import POOL

TYPES = {"size": "raw"}
SCRIPT = Path(__file__).resolve().parents[4] / "scripts/item_docs.py"
_SPEC = importlib.util.spec_from_file_location("item_docs", SCRIPT)
assert _SPEC is not None and _SPEC.loader is not None
items = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(items)


def test_the_fragment_is_what_the_script_writes_now() -> None:
    assert items.FRAGMENT.read_text(encoding="utf-8") == items.render(), "run: python scripts/item_docs.py"


@pytest.mark.parametrize(("fragment", "module", "option"), [("GUESTS", "guest", "guests"), ("POOLS", "pool", "pools")])
def test_items_take_the_one_object_modules_documentation(fragment: str, module: str, option: str) -> None:
    nested = yaml.safe_load(getattr(ModuleDocFragment, fragment))["options"][option]
    own = items._documented(module)["options"]
    assert set(nested["suboptions"]) == set(own) - set(items.CONNECTION)
    text = yaml.safe_dump(nested)
    assert not re.search(r"O\((?!kvmfleet|" + option + r"\[\]\.|uri|defaults)", text), "a reference left unscoped"
    assert "RV(kvmfleet.kvm." in text or "RV(" not in text


def test_references_are_made_from_inside_an_item() -> None:
    names = {"memory", "disks"}
    assert items._rescoped(
        {"description": ["O(memory) and O(disks[].size=2GiB), O(uri), O(kvmfleet.kvm.guest#module:memory), RV(xml)"]},
        "guests", "guest", names,
    ) == {"description": ["O(guests[].memory) and O(guests[].disks[].size=2GiB), O(uri), "
                          "O(kvmfleet.kvm.guest#module:memory), RV(kvmfleet.kvm.guest#module:xml)"]}  # fmt: skip


def documented_like_the_table(table: OptionTable, documented: dict[str, Any], where: str) -> list[str]:
    problems = []
    for opt in table.options:
        doc = documented.get(opt.name)
        if doc is None:
            problems.append(f"{where}{opt.name}: not documented")
            continue
        if doc.get("type", "str") != TYPES.get(opt.type, opt.type):
            problems.append(f"{where}{opt.name}: documented as {doc.get('type')}, the table says {opt.type}")
        if opt.choices is not None and list(doc.get("choices") or []) != list(opt.choices):
            problems.append(f"{where}{opt.name}: documented choices {doc.get('choices')} are not {list(opt.choices)}")
        if opt.default is not None and doc.get("default") != opt.default:
            problems.append(f"{where}{opt.name}: documented default {doc.get('default')!r} is not {opt.default!r}")
        if opt.options is not None:
            problems += documented_like_the_table(opt.options, doc.get("suboptions") or {}, f"{where}{opt.name}.")
    problems += [f"{where}{name}: documented, not in the table" for name in documented if name not in table.by_name]
    return problems


@pytest.mark.parametrize(("table", "module"), [(GUEST, "guest"), (POOL, "pool")])
def test_the_documentation_is_the_option_tables(table: OptionTable, module: str) -> None:
    documented = {k: v for k, v in items._documented(module)["options"].items() if k not in items.CONNECTION}
    assert documented_like_the_table(table, documented, "") == []
