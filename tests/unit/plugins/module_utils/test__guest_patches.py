"""The guest's XML patches (xml_patches): paths, what is satisfied, what is made, the refusal of a patch on
what a typed option writes, and the whole planner on libvirt's test driver."""

from __future__ import annotations

import contextlib
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import ValidationError
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import patches
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest import xml as gx
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.options import GUEST
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.plan import GuestPlanner, HostContext
from ansible_collections.kvmfleet.kvm.plugins.module_utils._guest.runner import execute

URI = "test:///default"
DOMAIN = """<domain type='qemu'><name>g</name><memory unit='KiB'>131072</memory>
  <clock offset='utc'><timer name='rtc' tickpolicy='delay'/></clock>
  <devices><sound model='ich9'><codec type='micro'/><address type='pci' slot='0x1b'/></sound><disk type='file'/>
  </devices></domain>"""


def patch(**given: Any) -> dict[str, Any]:
    return {"state": "present", "element": None, "attribute": None, "value": None, **given}


def root() -> ET.Element:
    return ET.fromstring(DOMAIN)


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("devices/sound", "devices/sound"),
        ("/domain/devices/sound[@model='ich9']", "devices/sound[@model='ich9']"),
        ("domain/clock", "clock"),
        ("./features/pmu", "./features/pmu"),
        ("//timer[@name='rtc']", ".//timer[@name='rtc']"),
    ],
)
def test_paths_are_taken_from_domain(given: str, normal: str) -> None:
    assert patches.normalize_xpath(given) == normal


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("/domain", "selects the whole definition"),
        ("/devices/sound", "an absolute path must start with /domain/"),
        ("devices/sound[", "is not a path ElementTree can select with"),
    ],
)
def test_bad_paths_are_refused(given: str, words: str) -> None:
    with pytest.raises(patches.OptionError, match=words.replace("[", r"\[")):
        patches.normalize_xpath(given)


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("devices/sound[@model='ich9']", [patches.Step("devices"), patches.Step("sound", (("model", "ich9"),))]),
        ("./clock/timer[@name=\"rtc\"][@track='guest']", [
            patches.Step("clock"), patches.Step("timer", (("name", "rtc"), ("track", "guest")))]),
        ("devices/disk[@file='/a/b.img']", [patches.Step("devices"), patches.Step("disk", (("file", "/a/b.img"),))]),
        (f"{{{patches.QEMU_NS}}}commandline", [patches.Step(f"{{{patches.QEMU_NS}}}commandline")]),
        (".//timer", None),
        ("devices/disk[1]", None),
        ("devices/*", None),
    ],
)  # fmt: skip
def test_steps_of_paths_that_can_be_made(path: str, steps: list[patches.Step] | None) -> None:
    assert patches.steps_of(path) == steps


@pytest.mark.parametrize(
    ("given", "satisfied"),
    [
        (patch(xpath="devices/sound", element="<sound model='ich9'/>"), True),  # libvirt's address is extra
        (patch(xpath="devices/sound", element="<sound model='ich9'><codec type='micro'/></sound>"), True),
        (patch(xpath="devices/sound", element="<sound model='ich9'><codec type='duplex'/></sound>"), False),
        (patch(xpath="devices/sound", element="<sound model='ac97'/>"), False),
        (patch(xpath="clock/timer[@name='rtc']", attribute="tickpolicy", value="delay"), True),
        (patch(xpath="clock/timer[@name='rtc']", attribute="tickpolicy", value="catchup"), False),
        (patch(xpath="clock/timer[@name='hpet']", attribute="present", value="no"), False),  # nothing selected
        (patch(xpath="memory", value="131072"), True),
        (patch(xpath="devices/sound"), True),
        (patch(xpath="devices/tpm", state="absent"), True),
        (patch(xpath="devices/sound", state="absent"), False),
        (patch(xpath="clock", attribute="offset", state="absent"), False),
        (patch(xpath="clock", attribute="adjustment", state="absent"), True),
    ],
)
def test_what_is_already_as_a_patch_says(given: dict[str, Any], satisfied: bool) -> None:
    assert patches.satisfied(root(), given) is satisfied
    tree = root()
    patches.apply(tree, given)
    assert patches.satisfied(tree, given)  # and once applied, it is


def test_applying_makes_what_is_missing_replaces_what_differs_and_removes() -> None:
    tree = root()
    patches.apply(tree, patch(xpath="features/pmu", attribute="state", value="off"))
    patches.apply(tree, patch(xpath="clock/timer[@name='hpet']", attribute="present", value="no"))
    patches.apply(tree, patch(xpath="devices/sound", element="<sound model='ac97'/>"))
    patches.apply(tree, patch(xpath="devices/memballoon[@model='none']"))
    patches.apply(tree, patch(xpath="devices/disk", state="absent"))
    patches.apply(tree, patch(xpath="clock", attribute="offset", state="absent"))
    assert ET.tostring(tree.find("features"), encoding="unicode") == '<features><pmu state="off" /></features>'
    assert tree.find("clock/timer[@name='hpet']").attrib == {"name": "hpet", "present": "no"}
    assert tree.find("clock").get("offset") is None
    assert ET.tostring(tree.find("devices/sound"), encoding="unicode") == '<sound model="ac97" />'
    assert tree.find("devices/memballoon").attrib == {"model": "none"}
    assert tree.find("devices/disk") is None


def test_a_path_that_selects_nothing_and_cannot_be_made_is_said_so() -> None:
    with pytest.raises(patches.Unmakeable, match="cannot be made from its steps"):
        patches.apply(root(), patch(xpath=".//nothing", value="x"))


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"xpath": "clock", "attribute": "offset"}, ("xml_patches[0].attribute", "needs value")),
        ({"xpath": "clock", "state": "absent", "value": "x"}, ("xml_patches[0].state", "absent takes only xpath")),
        ({"xpath": "devices/sound", "element": "<sound/>", "value": "x"}, ("xml_patches[0].element", "whole element")),
        ({"xpath": "devices/sound", "element": "<video/>"}, ("xml_patches[0].element", "is a <video>, but xpath")),
        ({"xpath": "devices/sound", "element": "<sound>"}, ("xml_patches[0].element", "is not well-formed XML")),
    ],
)
def test_patch_problems_name_the_field(given: dict[str, Any], problem: tuple[str, str]) -> None:
    _values, problems = GUEST.validate({"name": "g", "xml_patches": [given]})
    assert [(path, message.split(":")[0] if "well-formed" in message else message) for path, message in problems]
    assert any(path == problem[0] and problem[1] in message for path, message in problems), problems


def test_what_typed_options_write_and_the_patches_that_would_touch_it() -> None:
    written = patches.written_by(lambda tree: gx.devices(tree).append(ET.Element("graphics", {"type": "vnc"})), "g")
    assert written == {"devices/graphics"}  # not <devices>, which the skeleton has
    typed = {"graphics": written, "tb_cache": {"features/tcg/tb-cache"}}
    found = patches.conflicts(
        [
            patch(xpath="devices/graphics/listen"),
            patch(xpath="devices"),
            patch(xpath="features/pmu"),
            patch(xpath=".//graphics"),  # not a path of names: what it selects is not known beforehand
        ],
        typed,
        lambda field: field,
    )
    assert [path for path, _message in found] == ["xml_patches[0].xpath", "xml_patches[1].xpath"]
    assert "which the option graphics writes" in found[0][1]


# ---------------------------------------------------------------------------------------------- the planner


@pytest.fixture
def name(conn: Any) -> Iterator[str]:
    guest = f"unit-{secrets.token_hex(3)}"
    yield guest
    with contextlib.suppress(libvirt.libvirtError):
        conn.lookupByName(guest).undefine()


def plan(conn: Any, **options: Any) -> Any:
    validated, problems = GUEST.validate(options)
    assert problems == []
    return GuestPlanner(HostContext(conn, URI), validated).plan()


SOUND = {"xpath": "devices/sound[@model='ich9']", "element": "<sound model='ich9'><codec type='micro'/></sound>"}
PMU = {"xpath": "features/pmu", "attribute": "state", "value": "off"}


def test_patches_are_applied_after_the_typed_options_and_a_rerun_changes_nothing(conn: Any, name: str) -> None:
    first = plan(conn, name=name, memory="256MiB", xml_patches=[SOUND, PMU])
    assert first.changed and '<pmu state="off" />' in first.definition
    execute(first)
    xml = conn.lookupByName(name).XMLDesc(0)
    assert "<sound model='ich9'>" in xml and "<codec type='micro'/>" in xml and "<pmu state='off'/>" in xml
    again = plan(conn, name=name, memory="256MiB", xml_patches=[SOUND, PMU])
    assert not again.changed, again.diff.diff()
    removed = plan(conn, name=name, xml_patches=[{"xpath": "devices/sound", "state": "absent"}, PMU])
    assert removed.diff.diff()["before"]["xml_patches[0]"].startswith('<sound model="ich9">')
    assert removed.diff.diff()["after"] == {"xml_patches[0]": "(removed)"}
    assert [action.description for action in removed.actions] == ["update the persistent definition: xml_patches"]
    execute(removed)
    assert "<sound" not in conn.lookupByName(name).XMLDesc(0)
    assert not plan(conn, name=name, xml_patches=[{"xpath": "devices/sound", "state": "absent"}, PMU]).changed


def test_a_patch_on_what_a_typed_option_writes_is_refused_before_anything(conn: Any, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        plan(conn, name=name, vcpus=2, xml_patches=[{"xpath": "vcpu", "value": "4"}])
    assert caught.value.problems == [
        ("xml_patches[0].xpath", "vcpu is <vcpu>, which the option vcpus writes: set it through vcpus, or leave "
         "vcpus unset and patch it here"),
    ]  # fmt: skip
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName(name)
