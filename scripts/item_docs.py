# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes plugins/doc_fragments/items.py: the documentation of the list modules' items.

Each item of kvmfleet.kvm.guests takes every option of kvmfleet.kvm.guest, each of kvmfleet.kvm.pools every
option of kvmfleet.kvm.pool. Their documentation is that module's own (plugins/modules/guest.py, pool.py),
nested by this script - never copied by hand: references to the one-object module's options (O(memory))
become references to the item's (O(guests[].memory)), to its return values references to that module's.
A unit test fails when the fragment is not what this script writes now.

    python scripts/item_docs.py           # (re)write the fragment
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODULES = ROOT / "plugins/modules"
FRAGMENT = ROOT / "plugins/doc_fragments/items.py"
CONNECTION = ("uri", "reconnect_timeout")  # the list module takes them once, for every item
_OPTION = re.compile(r"O\((?![\w.]+#)([a-z_][a-z0-9_]*)")
_RETURN = re.compile(r"RV\((?![\w.]+#)")


def _documented(module: str) -> dict[str, Any]:
    text = (MODULES / f"{module}.py").read_text(encoding="utf-8")
    found = re.search(r'^DOCUMENTATION = r"""(.*?)^"""', text, re.S | re.M)
    if found is None:
        raise ValueError(f"{module}.py has no DOCUMENTATION")
    return yaml.safe_load(found.group(1))


def _rescoped(value: Any, item: str, module: str, names: set[str]) -> Any:
    """Every description of ``value`` with its references made from inside an item of ``item``."""
    if isinstance(value, dict):
        return {key: _rescoped(entry, item, module, names) for key, entry in value.items()}
    if isinstance(value, list):
        return [_rescoped(entry, item, module, names) for entry in value]
    if isinstance(value, str):
        value = _OPTION.sub(lambda m: f"O({item}[].{m.group(1)}" if m.group(1) in names else m.group(0), value)
        return _RETURN.sub(f"RV(kvmfleet.kvm.{module}#module:", value)
    return value


def items(module: str, option: str, description: list[str]) -> str:
    """The documentation of the list option ``option`` whose items take ``module``'s options."""
    options = {name: doc for name, doc in _documented(module)["options"].items() if name not in CONNECTION}
    rescoped = _rescoped(options, option, module, set(options))
    documented = {"description": description, "type": "list", "elements": "dict", "required": True}
    return yaml.safe_dump({"options": {option: {**documented, "suboptions": rescoped}}}, sort_keys=False)


GUESTS = [
    "The guests. Each item takes every option of M(kvmfleet.kvm.guest) except O(uri), as documented there "
    "(O(guests[].name) is required); O(defaults) are beneath each item.",
    "Secrets in the items and in O(defaults) (C(cloud_init.user_data), C(graphics.password)) are never shown in "
    "output.",
]
POOLS = [
    "The pools. Each item takes every option of M(kvmfleet.kvm.pool) except O(uri), as documented there "
    "(O(pools[].name) is required; names must be unique).",
]
HEADER = """# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Written by scripts/item_docs.py from plugins/modules/guest.py and pool.py: edit those, then run it.
\"\"\"The items of kvmfleet.kvm.guests and kvmfleet.kvm.pools: the options of kvmfleet.kvm.guest and pool, nested.\"\"\"

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r\"\"\"
options: {}
\"\"\"
"""


def render() -> str:
    """The fragment's text, as it must be."""
    parts = [HEADER]
    for name, module, option, description in (("GUESTS", "guest", "guests", GUESTS), ("POOLS", "pool", "pools", POOLS)):
        parts.append(f'\n    {name} = r"""\n{items(module, option, description)}"""\n')
    return "".join(parts)


if __name__ == "__main__":
    FRAGMENT.write_text(render(), encoding="utf-8")
    print(FRAGMENT)
