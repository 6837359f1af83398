# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Engine layer: option tables.

One table per resource is the single source of truth for its options. Each row says the option's
type, how it is normalised, how it is compared and how a change is applied. From the table come:

- the Ansible argument spec (``OptionTable.argument_spec``),
- validation of raw user input that reports *every* problem at once, each with its field path
  (``disks[1].size: ...``), before anything on a host is touched (``OptionTable.validate``),
- the values to hide from output (``OptionTable.secrets``),
- and, with ``DiffTracker``, a diff holding only the keys that differ.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.kvmfleet.kvm.plugins.module_utils._libvirt import DEFAULT_URI
from ansible_collections.kvmfleet.kvm.plugins.module_utils._units import format_size, parse_size

Problem = tuple[str, str]

# How a change to an option reaches a guest (or any resource with a running form).
LIVE = "live"  # applied to the running object and persisted
NEXT_BOOT = "next_boot"  # persisted; takes effect at the next boot
IMPOSSIBLE = "impossible"  # cannot change in place
CONTROL = "control"  # steers the module (state, force, ...); not part of the definition

# How a desired value is compared with the actual one.
STRICT = "strict"
UNORDERED = "unordered"  # lists whose order does not matter
IGNORE = "ignore"  # never compared (write-only, e.g. secrets libvirt does not return)


# the option names ansible-test's validate-modules takes for secrets unless no_log is set either way
_LOOKS_SECRET = re.compile(r"pass(?!ive)|secret|token|key", re.IGNORECASE)


class OptionError(ValueError):
    """Raised by a normaliser: the message without the field path, which the table adds."""


def join_path(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


@dataclass
class Option:
    """One user-facing option."""

    name: str
    type: str = "str"  # str, int, float, bool, size, list, dict, raw
    elements: Optional[str] = None  # for lists: str, int, dict
    choices: Optional[tuple[Any, ...]] = None
    default: Any = None
    required: bool = False
    no_log: bool = False
    aliases: tuple[str, ...] = ()
    options: Optional[OptionTable] = None  # sub-options of a dict, or of each dict in a list
    normalize: Optional[Callable[[Any], Any]] = None  # after type conversion; raises OptionError
    compare: str = STRICT
    update: str = NEXT_BOOT
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    size_unit: str = "MiB"  # unit of a bare number, for sizes
    create_default: Any = None  # used only when the resource is created; never compared
    in_spec: bool = True  # False: Ansible sees a plain dict/list of dicts, the table validates inside

    def show(self, value: Any) -> Any:
        """A value as a diff or a message shows it: sizes with units, secrets hidden, unset keys left out."""
        if value is None:
            return None
        if self.no_log:
            return "(hidden)"
        if self.type == "size" and isinstance(value, int):
            return format_size(value)
        if self.options is not None and isinstance(value, dict):
            return self.options.show(value)
        if self.options is not None and isinstance(value, list):
            return [self.options.show(item) if isinstance(item, dict) else item for item in value]
        return value

    def argument_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": "raw" if self.type == "size" else self.type}
        if self.elements:
            spec["elements"] = self.elements
        if self.choices is not None:
            spec["choices"] = list(self.choices)
        if self.default is not None:
            spec["default"] = copy.deepcopy(self.default)
        if self.required:
            spec["required"] = True
        if self.no_log:
            spec["no_log"] = True
        elif self.options is None and _LOOKS_SECRET.search(self.name):  # not a secret, though its name says so
            spec["no_log"] = False
        if self.aliases:
            spec["aliases"] = list(self.aliases)
        if self.options is not None and self.in_spec:
            spec["options"] = self.options.argument_spec()
        return spec


@dataclass
class OptionTable:
    """The options of one resource (or of one nested dict), plus checks that span several options."""

    options: list[Option]
    checks: list[Callable[[dict[str, Any], str], list[Problem]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_name = {opt.name: opt for opt in self.options}
        self.alias_of = {alias: opt.name for opt in self.options for alias in opt.aliases}

    def __getitem__(self, name: str) -> Option:
        return self.by_name[name]

    def argument_spec(self) -> dict[str, dict[str, Any]]:
        return {opt.name: opt.argument_spec() for opt in self.options}

    def show(self, values: dict[str, Any]) -> dict[str, Any]:
        """Set values of this table as shown (``Option.show``); keys that are no option of it left out."""
        return {
            key: self.by_name[key].show(value)
            for key, value in values.items()
            if value is not None and key in self.by_name
        }

    def validate(self, raw: Optional[dict[str, Any]], path: str = "") -> tuple[dict[str, Any], list[Problem]]:
        """Convert, check and normalise ``raw`` user input; return (values, problems).

        Unset options come back as their default (usually None: not managed). Problems are
        ``(field path, message)`` pairs; values of no_log options never appear in messages.
        """
        problems: list[Problem] = []
        out: dict[str, Any] = {}
        raw = dict(raw or {})
        for key in sorted(raw):
            if key.startswith("_ansible_"):
                continue
            if key not in self.by_name and key not in self.alias_of:
                known = ", ".join(sorted(self.by_name))
                problems.append((join_path(path, key), f"unknown option; known options are: {known}"))
        for opt in self.options:
            value = raw.get(opt.name)
            for alias in opt.aliases:
                if value is None and raw.get(alias) is not None:
                    value = raw[alias]
            where = join_path(path, opt.name)
            if value is None and opt.options is not None and opt.default is not None:
                value = copy.deepcopy(opt.default)  # a dictionary (or list) of sub-options gets their defaults
            if value is None:
                if opt.required:
                    problems.append((where, "is required"))
                out[opt.name] = copy.deepcopy(opt.default)
                continue
            out[opt.name] = convert(opt, value, where, problems)
        if not problems:
            for check in self.checks:
                problems.extend(check(out, path))
        return out, problems

    def secrets(self, raw: Any) -> set[str]:
        """The values of no_log options found anywhere in ``raw`` (to hide them from output)."""
        found: set[str] = set()
        if not isinstance(raw, dict):
            return found
        for opt in self.options:
            value = raw.get(opt.name)
            for alias in opt.aliases:
                value = raw.get(alias, value)
            if value is None:
                continue
            if opt.no_log:
                found.update(_strings(value))
            elif opt.options is not None:
                for item in value if isinstance(value, list) else [value]:
                    found |= opt.options.secrets(item)
        return found


def _strings(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return {str(value)} if value not in (None, "") else set()


def _describe(opt: Option, value: Any) -> str:
    return "(hidden)" if opt.no_log else repr(value)


def _scalar(opt: Option, kind: str, value: Any, where: str, problems: list[Problem]) -> Any:
    """Convert one scalar to ``kind``; on failure record a problem and return None."""
    shown = _describe(opt, value)
    if kind == "str":
        if isinstance(value, (dict, list, bool)):
            problems.append((where, f"expected a string, got {type(value).__name__}"))
            return None
        return str(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            problems.append((where, f"expected a whole number, got {shown}"))
            return None
        try:
            return int(value)
        except ValueError:
            problems.append((where, f"expected a whole number, got {shown}"))
            return None
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            problems.append((where, f"expected a number, got {shown}"))
            return None
        try:
            return float(value)
        except ValueError:
            problems.append((where, f"expected a number, got {shown}"))
            return None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        key = value.lower() if isinstance(value, str) else value
        if key in BOOLEANS_TRUE:
            return True
        if key in BOOLEANS_FALSE:
            return False
        problems.append((where, f"expected true or false, got {shown}"))
        return None
    if kind == "size":
        try:
            return parse_size(value, opt.size_unit)
        except ValueError as exc:
            problems.append((where, str(exc)))
            return None
    return value  # raw


def convert(opt: Option, value: Any, where: str, problems: list[Problem]) -> Any:
    """Type conversion, choices, minimum, nested tables and the option's normaliser."""
    before = len(problems)
    if opt.type == "dict":
        if not isinstance(value, dict):
            problems.append((where, f"expected a dictionary, got {type(value).__name__}"))
            return None
        result: Any = value
        if opt.options is not None:
            result, sub = opt.options.validate(value, where)
            problems.extend(sub)
    elif opt.type == "list":
        if isinstance(value, str) and opt.elements != "dict":
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list):
            problems.append((where, f"expected a list, got {type(value).__name__}"))
            return None
        result = []
        for index, item in enumerate(value):
            item_where = f"{where}[{index}]"
            if opt.elements == "dict":
                if not isinstance(item, dict):
                    problems.append((item_where, f"expected a dictionary, got {type(item).__name__}"))
                    continue
                if opt.options is not None:
                    checked, sub = opt.options.validate(item, item_where)
                    problems.extend(sub)
                    result.append(checked)
                else:
                    result.append(item)
            else:
                converted = _scalar(opt, opt.elements or "raw", item, item_where, problems)
                if opt.choices is not None and converted is not None and converted not in opt.choices:
                    problems.append(
                        (item_where, f"must be one of {', '.join(map(str, opt.choices))}; got {converted!r}")
                    )
                result.append(converted)
    else:
        result = _scalar(opt, opt.type, value, where, problems)
        if result is not None and opt.choices is not None and result not in opt.choices:
            problems.append((where, f"must be one of {', '.join(map(str, opt.choices))}; got {_describe(opt, result)}"))
        if result is not None and opt.minimum is not None and result < opt.minimum:
            shown = format_size(opt.minimum) if opt.type == "size" else opt.minimum
            problems.append((where, f"must be at least {shown}"))
        if result is not None and opt.maximum is not None and result > opt.maximum:
            shown = format_size(opt.maximum) if opt.type == "size" else opt.maximum
            problems.append((where, f"must be at most {shown}"))
    if len(problems) == before and opt.normalize is not None and result is not None:
        try:
            result = opt.normalize(result)
        except OptionError as exc:
            problems.append((where, str(exc)))
    return result if len(problems) == before else None


@dataclass
class Change:
    """One difference between the desired and the actual state."""

    path: str
    before: Any
    after: Any
    update: str


class DiffTracker:
    """Collects differences; ``diff()`` holds only the keys that differ, as Ansible's --diff shows them."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def add(self, path: str, before: Any, after: Any, update: str = NEXT_BOOT) -> None:
        self.changes.append(Change(path, before, after, update))

    def __bool__(self) -> bool:
        return bool(self.changes)

    def by_update(self, update: str) -> list[Change]:
        return [change for change in self.changes if change.update == update]

    def diff(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        before = {join_path(prefix, c.path): c.before for c in self.changes if c.before is not None}
        after = {join_path(prefix, c.path): c.after for c in self.changes if c.after is not None}
        return {"before": before, "after": after}


def differs(desired: Any, actual: Any, compare: str = STRICT) -> bool:
    """Whether a set (non-None) desired value differs from the actual one."""
    if compare == IGNORE or desired is None:
        return False
    if compare == UNORDERED and isinstance(desired, list) and isinstance(actual, list):
        return sorted(map(repr, desired)) != sorted(map(repr, actual))
    return desired != actual


def duplicates(
    items: list[dict[str, Any]], key: Callable[[dict[str, Any]], Any], where: str, field: str, says: str
) -> list[Problem]:
    """A problem for each item whose key an earlier item has, such as ``disks[2].target: vda is also ...``."""
    problems: list[Problem] = []
    first: dict[Any, int] = {}
    for index, item in enumerate(items):
        value = key(item)
        if value is None:
            continue
        if value in first:
            shown = f"{value[1]} in pool {value[0]}" if isinstance(value, tuple) else value
            problems.append((f"{where}[{index}].{field}", f"{shown} {says}[{first[value]}]"))
        else:
            first[value] = index
    return problems


RECONNECT_TIMEOUT = 30  # seconds


def connection_options() -> list[Option]:
    """The options every module of the collection shares; documented by the kvmfleet.kvm.connection fragment."""
    return [
        Option("uri", default=DEFAULT_URI, update=CONTROL),
        Option("reconnect_timeout", type="int", default=RECONNECT_TIMEOUT, minimum=0, update=CONTROL),
    ]


# ------------------------------------------------------------------ normalisers shared by the resources

_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


_OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$")


def object_name(kind: str) -> Callable[[str], str]:
    """The normaliser of a guest's or network's name: what libvirt, a host name and a file name all take."""

    def check(value: str) -> str:
        if not _OBJECT_NAME.match(value):
            raise OptionError(
                f"{value!r} is not a usable {kind} name: 1 to 63 letters, digits, '.', '_', '+' or '-', "
                "starting with a letter or digit"
            )
        return value

    return check


def mac_address(value: str) -> str:
    """A unicast MAC address, lower case with colons."""
    mac = value.strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise OptionError(f"{value!r} is not a MAC address (six hex pairs such as 52:54:00:12:34:56)")
    if int(mac[:2], 16) & 1:
        raise OptionError(f"{value!r} is a multicast address; a NIC needs a unicast MAC (even first octet)")
    return mac


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def secret_uuid(value: str) -> str:
    """The UUID of a libvirt secret, lower case."""
    if not _UUID.match(value.lower()):
        raise OptionError(f"{value!r} is not the UUID of a libvirt secret")
    return value.lower()


def absolute_path(value: str) -> str:
    """An absolute path without a trailing '/'."""
    if not value.startswith("/"):
        raise OptionError(f"{value!r} is not an absolute path")
    return value.rstrip("/") or "/"


def volume_name(value: str) -> str:
    """A storage volume's name: letters, digits, '.', '_', '+', '-', no '/'."""
    if not _VOLUME.match(value):
        raise OptionError(f"{value!r} is not a volume name (letters, digits, '.', '_', '+', '-'; no '/')")
    return value


def labels(values: list[str]) -> list[str]:
    """Hypervisor labels (ssd, gpu, rack-a1): sorted, each once."""
    for value in values:
        if not _LABEL.match(value):
            raise OptionError(f"{value!r} is not a label: 1 to 63 letters, digits, '.', '_' or '-'")
    return sorted(set(values))
