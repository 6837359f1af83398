# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The escape hatch: changes of the guest's definition that no typed option covers (``xml_patches``).

Each patch names elements of the domain definition by a path relative to ``<domain>`` (ElementTree's
XPath subset: ``devices/sound[@model='ich9']``, ``features/pmu``, ``clock/timer[@name='rtc']``) and says
what they must be:

- ``element`` (an XML fragment): each element the path selects holds at least the fragment - its
  attributes, text and children, recursively - else it is replaced by the fragment; when the path selects
  nothing, the fragment is added under the path's parent (made if missing). What libvirt adds to an
  element (a PCI address, an alias) does not make it differ;
- ``attribute`` with ``value``: the attribute of each element selected has that value;
- ``value`` alone: the text of each element selected is that value;
- none of these: the element exists;
- ``state: absent``: no element matches the path (or, with ``attribute``, none of them has it).

A path that selects nothing is made from its steps when every step is a name with ``[@name='value']``
conditions only (their attributes are set on what is made); any other path (``//``, positions, ``..``)
can only change or remove elements that are there. Patches are applied in order, after every typed
option, to a new definition and to the persistent definition of a defined guest (a running guest gets
them at its next boot, as any change that is not live). A patch on an element a typed option of the same
guest writes is refused, naming both. Standard library only.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._options import NEXT_BOOT, OptionError, Problem

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"  # libvirt's own escape hatch: qemu:commandline...
ET.register_namespace("qemu", QEMU_NS)
_STEP = re.compile(r"^(?P<tag>(?:\{[^}]+\})?[A-Za-z_][\w.-]*)(?P<preds>(?:\[@[\w.:-]+=(?:'[^']*'|\"[^\"]*\")\])*)$")
_PRED = re.compile(r"\[@(?P<name>[\w.:-]+)=(?:'(?P<single>[^']*)'|\"(?P<double>[^\"]*)\")\]")


@dataclass(frozen=True)
class Step:
    """One step of a path that can be made: a tag and the attributes its conditions name."""

    tag: str
    attrs: tuple[tuple[str, str], ...] = ()


def split(path: str) -> list[str]:
    """The steps of ``path`` at the slashes outside brackets, braces (a namespace: ``{uri}tag``) and quotes."""
    steps, current, depth, quote = [], "", 0, ""
    for char in path:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "/" and depth == 0:
            steps.append(current)
            current = ""
            continue
        current += char
    steps.append(current)
    return steps


def steps_of(path: str) -> Optional[list[Step]]:
    """The steps of a path relative to ``<domain>`` when it can be made; None when it cannot."""
    steps = []
    for text in split(path):
        if text == ".":
            continue
        found = _STEP.match(text)
        if found is None:
            return None
        attrs = tuple(
            (pred.group("name"), pred.group("single") if pred.group("single") is not None else pred.group("double"))
            for pred in _PRED.finditer(found.group("preds"))
        )
        steps.append(Step(found.group("tag"), attrs))
    return steps or None


def normalize_xpath(value: str) -> str:
    """The option's normaliser: a path relative to ``<domain>`` that ElementTree can select with."""
    path = value.strip()
    if path in ("/domain", "domain"):
        raise OptionError("selects the whole definition; name the elements inside <domain> to patch")
    for prefix in ("/domain/", "domain/"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if path.startswith("/") and not path.startswith("//"):
        raise OptionError(f"{value!r}: an absolute path must start with /domain/ (paths are taken from <domain>)")
    if path.startswith("//"):
        path = "." + path
    try:
        ET.Element("domain").findall(path)
    except (SyntaxError, KeyError, TypeError) as exc:
        raise OptionError(
            f"{value!r} is not a path ElementTree can select with (names, *, ., .., //, [@name], [@name='value'], "
            "[tag], [tag='text'], [position])"
        ) from exc
    return path


def fragment(value: str) -> str:
    """The option's normaliser of ``element``: well-formed XML of one element."""
    try:
        ET.fromstring(value)
    except ET.ParseError as exc:
        raise OptionError(f"is not well-formed XML of one element: {exc}") from exc
    return value


def patch_checks(patch: dict[str, Any], path: str) -> list[Problem]:
    """What a patch may combine."""
    problems: list[Problem] = []
    given = [key for key in ("element", "attribute", "value") if patch.get(key) is not None]
    if patch["state"] == "absent":
        if patch.get("element") is not None or patch.get("value") is not None:
            problems.append((f"{path}.state", "absent takes only xpath (and attribute): it removes what they select"))
    elif patch.get("element") is not None and len(given) > 1:
        problems.append((f"{path}.element", "is a whole element: give attribute and value without it"))
    elif patch.get("attribute") is not None and patch.get("value") is None:
        problems.append((f"{path}.attribute", "needs value (or state: absent to remove the attribute)"))
    if patch.get("element") is not None:
        made = steps_of(patch["xpath"])
        tag = ET.fromstring(patch["element"]).tag
        if made is not None and made[-1].tag != tag:
            problems.append(
                (f"{path}.element", f"is a <{tag}>, but xpath {patch['xpath']} selects <{made[-1].tag}> elements")
            )
    return problems


# ---------------------------------------------------------------------------------------------- applying


def contains(actual: ET.Element, wanted: ET.Element) -> bool:
    """Whether ``actual`` holds all of ``wanted``: its tag, attributes, text and (each matched by a
    different one) children; what else ``actual`` has does not count."""
    if actual.tag != wanted.tag or any(actual.get(key) != value for key, value in wanted.attrib.items()):
        return False
    if (wanted.text or "").strip() and (wanted.text or "").strip() != (actual.text or "").strip():
        return False
    free = list(actual)
    for child in wanted:
        match = next((candidate for candidate in free if contains(candidate, child)), None)
        if match is None:
            return False
        free.remove(match)
    return True


def _made(root: ET.Element, steps: list[Step]) -> ET.Element:
    """The element of ``steps``, each step found (by tag and attributes) or made."""
    node = root
    for step in steps:
        found = next((child for child in node.findall(step.tag) if all(child.get(k) == v for k, v in step.attrs)), None)
        if found is None:
            found = ET.SubElement(node, step.tag, dict(step.attrs))
        node = found
    return node


def _parent_of(root: ET.Element, element: ET.Element) -> Optional[ET.Element]:
    return next((node for node in root.iter() if element in list(node)), None)


class Unmakeable(ValueError):
    """A patch selects nothing and its path cannot be made."""


def satisfied(root: ET.Element, patch: dict[str, Any]) -> bool:
    """Whether the definition already is as ``patch`` says."""
    found = root.findall(patch["xpath"])
    attribute, value = patch.get("attribute"), patch.get("value")
    if patch["state"] == "absent":
        return not found if attribute is None else all(element.get(attribute) is None for element in found)
    if not found:
        return False
    if patch.get("element") is not None:
        wanted = ET.fromstring(patch["element"])
        return all(contains(element, wanted) for element in found)
    if attribute is not None:
        return all(element.get(attribute) == value for element in found)
    if value is not None:
        return all((element.text or "") == value for element in found)
    return True


def apply(root: ET.Element, patch: dict[str, Any]) -> None:
    """Make the definition as ``patch`` says (Unmakeable when its path selects nothing and cannot be made)."""
    found = root.findall(patch["xpath"])
    attribute, value = patch.get("attribute"), patch.get("value")
    if patch["state"] == "absent":
        for element in found:
            if attribute is not None:
                element.attrib.pop(attribute, None)
                continue
            parent = _parent_of(root, element)
            if parent is not None:
                parent.remove(element)
        return
    if patch.get("element") is not None:
        wanted = ET.fromstring(patch["element"])
        for element in found:
            if not contains(element, wanted):
                parent = _parent_of(root, element)
                if parent is not None:
                    parent[list(parent).index(element)] = copy.deepcopy(wanted)
        if not found:
            steps = _steps_or_fail(patch)
            _made(root, steps[:-1]).append(copy.deepcopy(wanted))
        return
    if not found:
        found = [_made(root, _steps_or_fail(patch))]
    for element in found:
        if attribute is not None:
            element.set(attribute, value)
        elif value is not None:
            element.text = value


def _steps_or_fail(patch: dict[str, Any]) -> list[Step]:
    steps = steps_of(patch["xpath"])
    if steps is None:
        raise Unmakeable(
            f"{patch['xpath']} selects nothing in the definition and cannot be made from its steps (only names "
            "with [@name='value'] conditions can be)"
        )
    return steps


def shown(root: ET.Element, patch: dict[str, Any]) -> Optional[str]:
    """What the patch's path selects now, as the diff shows it (None: nothing)."""
    found = root.findall(patch["xpath"])
    if not found:
        return None
    if patch.get("attribute") is not None:
        return ", ".join(f"{patch['attribute']}={element.get(patch['attribute'])}" for element in found)
    return "".join(ET.tostring(element, encoding="unicode").strip() for element in found)


def wanted(patch: dict[str, Any]) -> Optional[str]:
    """What the patch asks for, as the diff shows it."""
    if patch["state"] == "absent":
        return "(removed)" if patch.get("attribute") is None else f"{patch['attribute']} removed"
    if patch.get("element") is not None:
        return patch["element"]
    if patch.get("attribute") is not None:
        return f"{patch['attribute']}={patch['value']}"
    return patch.get("value") or f"{patch['xpath']} present"


# ---------------------------------------------------------------------------------------------- typed options


def _paths(root: ET.Element, prefix: str = "") -> dict[str, tuple[str, bool]]:
    """Each element's tag path (from ``<domain>``, without positions): its own attributes and text, and whether
    it holds elements (siblings of one tag are taken together)."""
    found: dict[str, tuple[str, bool]] = {}
    for element in root:
        path = f"{prefix}/{element.tag}" if prefix else element.tag
        own, holds = found.get(path, ("", False))
        found[path] = (
            own + f"{sorted(element.attrib.items())}{(element.text or '').strip()}",
            holds or len(element) > 0,
        )
        for sub, (text, sub_holds) in _paths(element, path).items():
            had, had_holds = found.get(sub, ("", False))
            found[sub] = (had + text, had_holds or sub_holds)
    return found


def written_by(write: Callable[[ET.Element], None], name: str) -> set[str]:
    """The tag paths a typed option's binding writes into a definition: the elements it makes or whose
    attributes or text it changes, and those it removes - not the bare containers it makes on the way
    (``<devices>``, ``<features>``)."""
    root = gx.skeleton(name)
    before = _paths(root)
    write(root)
    after = _paths(root)
    written = {path for path in before if path not in after}
    for path, (own, holds) in after.items():
        if path in before:
            if before[path][0] != own:
                written.add(path)
        elif own.strip("[]") or not holds:
            written.add(path)
    return written


def target_path(xpath: str) -> Optional[str]:
    """The tag path a patch's xpath names (None when its steps are not plain names with conditions)."""
    steps = steps_of(xpath)
    return "/".join(step.tag for step in steps) if steps is not None else None


def conflicts(patches: list[dict[str, Any]], typed: dict[str, set[str]], at: Callable[[str], str]) -> list[Problem]:
    """A patch whose element a typed option also writes (``typed``: option -> its tag paths)."""
    problems: list[Problem] = []
    for index, patch in enumerate(patches):
        target = target_path(patch["xpath"])
        if target is None:
            continue
        for option, paths in sorted(typed.items()):
            clash = next(
                (p for p in sorted(paths) if p == target or p.startswith(target + "/") or target.startswith(p + "/")),
                None,
            )
            if clash is not None:
                problems.append(
                    (
                        at(f"xml_patches[{index}].xpath"),
                        f"{patch['xpath']} is <{clash.replace('/', '><')}>, which the option {option} writes: "
                        f"set it through {option}, or leave {option} unset and patch it here",
                    )
                )
                break
    return problems


# ---------------------------------------------------------------------------------------------- the plan


def typed_paths(
    want: dict[str, Any], name: str, bindings: dict[str, Any], resolve: Callable[[str, Any], Any]
) -> dict[str, set[str]]:
    """option -> the tag paths it writes, for every typed option the guest sets (``bindings``: the guest's
    field bindings; ``resolve``: an option's value as meant on this hypervisor)."""
    typed: dict[str, set[str]] = {}
    for option, field in bindings.items():
        if want.get(option) is None or field.write is None or option == "name":
            continue
        value = resolve(option, want[option])
        typed[option] = written_by(lambda root, field=field, value=value: field.write(root, value), name)
    for option, paths in LISTS.items():
        if want.get(option) is not None:
            typed[option] = set(paths)
    return typed


# the device lists the guest's own planners write (devices.py, storage.py)
LISTS = {"disks": ("devices/disk",), "interfaces": ("devices/interface",), "cloud_init": ("devices/disk",)}


def apply_all(root: ET.Element, patches: list[dict[str, Any]], at: Callable[[str], str]) -> None:
    """Every patch, in order, on a new definition."""
    for index, patch in enumerate(patches):
        try:
            apply(root, patch)
        except Unmakeable as exc:
            raise ValidationError([(at(f"xml_patches[{index}].xpath"), str(exc))]) from exc


def unkept(xml: str, patches: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """Warnings for the patches a definition libvirt just stored does not satisfy: libvirt changed it back (a
    default it adds, such as the memory balloon, or a value it normalises), so each run would change it again."""
    root = ET.fromstring(xml)
    return [
        f"libvirt did not keep xml_patches[{index}] ({patch['xpath']}): it changed the definition back (a default "
        "it adds, or a value it normalises), so the patch will be a change on every run; remove it, or use the "
        "option that covers it"
        for index, patch in patches
        if not satisfied(root, patch)
    ]


def compare(draft: Any, patches: list[dict[str, Any]]) -> None:
    """Each patch the persistent definition does not already satisfy becomes a change of it (with the
    typed options' changes, in one redefine); a running guest takes it at its next boot."""
    scratch = copy.deepcopy(draft.read.config_root)  # the read is shared: never changed
    applied: list[tuple[int, dict[str, Any]]] = []
    draft.kept = lambda xml: unkept(xml, applied)
    for index, patch in enumerate(patches):
        if satisfied(scratch, patch):
            continue
        before = shown(scratch, patch)
        try:
            apply(scratch, patch)
        except Unmakeable as exc:
            raise ValidationError([(draft.ref.at(f"xml_patches[{index}].xpath"), str(exc))]) from exc
        draft.plan.diff.add(f"xml_patches[{index}]", before, wanted(patch), NEXT_BOOT)
        applied.append((index, patch))
        draft.patch("xml_patches", lambda root, patch=patch: apply(root, patch))
        draft.validate = True
        if draft.running:
            draft.reboot("xml_patches")
