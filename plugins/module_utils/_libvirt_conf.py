# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ground layer: libvirt's configuration file syntax (libvirtd.conf, qemu.conf, virtqemud.conf, ...).

The files hold ``key = value`` lines; a value is a quoted string, an integer (booleans are 0/1) or a
list of quoted strings that may span lines. Comments start with ``#``. The settings each file knows,
and their types, come from the Augeas lens libvirt installs next to it
(``/usr/share/augeas/lenses/libvirtd.aug`` for libvirtd.conf, ``libvirtd_qemu.aug`` for qemu.conf).

``plan_settings`` compares desired settings with a file's text and returns the new text, the list of
actions and the differences; it touches nothing, so check mode and a real run share it.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.kvmfleet.kvm.plugins.module_utils._errors import KvmFleetError, ValidationError

STR = "str"
INT = "int"
BOOL = "bool"
STR_LIST = "str_array"
LIMIT = "limits"  # an integer or the string "unlimited"
TYPE_WORDS = {
    STR: "a string",
    INT: "an integer",
    BOOL: "a boolean (true/false or 1/0)",
    STR_LIST: "a list of strings",
    LIMIT: 'an integer or "unlimited"',
}

LENS_DIR = "/usr/share/augeas/lenses"
# config file name -> lens file name, where they differ (otherwise NAME.conf -> NAME.aug)
LENS_NAMES = {
    "qemu.conf": "libvirtd_qemu.aug",
    "qemu-lockd.conf": "libvirt_lockd.aug",
    "qemu-sanlock.conf": "libvirt_sanlock.aug",
}
_LENS_ENTRY = re.compile(r'\b(str|bool|int|str_array|limits)_entry\s+"([A-Za-z0-9_]+)"')
_KEY = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*", re.MULTILINE)
_INT = re.compile(r"-?[0-9]+")
SECRET_SUFFIXES = ("_password",)


class ConfSyntaxError(KvmFleetError):
    """The file is not in libvirt's configuration syntax."""


def lens_for(path: str, lens_dir: str = LENS_DIR) -> str:
    """The Augeas lens file libvirt installs for the configuration file ``path``."""
    name = os.path.basename(path)
    return os.path.join(lens_dir, LENS_NAMES.get(name, re.sub(r"\.conf$", "", name) + ".aug"))


def parse_lens(text: str) -> dict[str, str]:
    """Setting name -> type (STR, INT, BOOL, STR_LIST, LIMIT) from the text of a libvirt Augeas lens."""
    return {name: kind for kind, name in _LENS_ENTRY.findall(text)}


@dataclass
class Entry:
    """One active setting in a file: its name, value and the span of text it occupies (whole lines)."""

    name: str
    value: Any
    start: int
    end: int


@dataclass
class Plan:
    text: str
    actions: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # names of the settings the new text changes
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


def _parse_value(text: str, pos: int, line_no: int) -> tuple[Any, int]:
    """Parse one value starting at ``pos``; return it and the position after it."""
    char = text[pos : pos + 1]
    if char in ('"', "'"):
        close = text.find(char, pos + 1)
        newline = text.find("\n", pos + 1)
        if close < 0 or (0 <= newline < close):
            raise ConfSyntaxError(f"line {line_no}: unterminated string")
        return text[pos + 1 : close], close + 1
    if char == "[":
        items: list[Any] = []
        pos += 1
        while True:
            pos = _skip_blanks(text, pos, comments=True)
            if pos >= len(text):
                raise ConfSyntaxError(f"line {line_no}: unterminated list")
            if text[pos] == "]":
                return items, pos + 1
            item, pos = _parse_value(text, pos, line_no)
            items.append(item)
            pos = _skip_blanks(text, pos, comments=True)
            if pos >= len(text):
                raise ConfSyntaxError(f"line {line_no}: unterminated list")
            if text[pos : pos + 1] == ",":
                pos += 1
            elif text[pos : pos + 1] != "]":
                raise ConfSyntaxError(f"line {line_no}: expected ',' or ']' in a list")
    match = _INT.match(text, pos)
    if match:
        return int(match.group()), match.end()
    raise ConfSyntaxError(f"line {line_no}: expected a quoted string, an integer or a list")


def _skip_blanks(text: str, pos: int, comments: bool) -> int:
    while pos < len(text):
        if text[pos] in " \t\r\n":
            pos += 1
        elif comments and text[pos] == "#":
            newline = text.find("\n", pos)
            pos = len(text) if newline < 0 else newline
        else:
            break
    return pos


def _line_end(text: str, pos: int) -> int:
    """Position after the newline that ends the line holding ``pos`` (or the end of the text)."""
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline + 1


def parse_entries(text: str) -> list[Entry]:
    """Every active ``key = value`` of a file, in order; raises ConfSyntaxError on bad syntax."""
    entries: list[Entry] = []
    pos = 0
    while pos < len(text):
        end = _line_end(text, pos)
        match = _KEY.match(text, pos, end)
        if match:
            line_no = text.count("\n", 0, pos) + 1
            value, after = _parse_value(text, match.end(), line_no)
            rest_end = _line_end(text, after)
            rest = text[after:rest_end].strip()
            if rest and not rest.startswith("#"):
                raise ConfSyntaxError(f"line {line_no}: unexpected text after the value of {match.group(1)}: {rest!r}")
            entries.append(Entry(match.group(1), value, pos, rest_end))
            end = rest_end
        else:
            stripped = text[pos:end].strip()
            if stripped and not stripped.startswith("#"):
                line_no = text.count("\n", 0, pos) + 1
                raise ConfSyntaxError(f"line {line_no}: expected 'name = value' or a comment: {stripped!r}")
        pos = end
    return entries


def format_value(value: Any) -> str:
    """A normalised value in libvirt's syntax."""
    if isinstance(value, list):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    quote = "'" if '"' in value else '"'
    return f"{quote}{value}{quote}"


def normalize(name: str, value: Any, kind: Optional[str]) -> Any:
    """The value as the file will hold it (booleans as 0/1); raises ValueError with the reason."""
    if value is None:
        return None
    if kind is None:  # no schema: any value of the file's syntax
        kind = _kind_of(value)
    if kind == BOOL:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int) and value in (0, 1):
            return value
    elif kind in (INT, LIMIT):
        if kind == LIMIT and value == "unlimited":
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value)
    elif kind == STR:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return _checked_string(str(value))
    elif kind == STR_LIST and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [_checked_string(item) for item in value]
    raise ValueError(f"expects {TYPE_WORDS[kind]}, got {value!r}")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    return STR_LIST if isinstance(value, list) else STR


def _checked_string(value: str) -> str:
    if '"' in value and "'" in value:
        raise ValueError("a string cannot hold both ' and \" in libvirt's syntax")
    if "\n" in value:
        raise ValueError("a string cannot span lines in libvirt's syntax")
    return value


def validate(settings: dict[str, Any], schema: Optional[dict[str, str]], file_label: str) -> dict[str, Any]:
    """Normalised settings; every unknown name and wrong type is reported at once, with its field path."""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {}
    for name, value in settings.items():
        path = f"settings.{name}"
        if schema is not None and name not in schema:
            close = difflib.get_close_matches(name, list(schema), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append((path, f"not a setting of {file_label}{hint}"))
            continue
        if schema is None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
            problems.append((path, "not a valid setting name"))
            continue
        try:
            values[name] = normalize(name, value, schema.get(name) if schema is not None else None)
        except ValueError as exc:
            problems.append((path, str(exc)))
    if problems:
        raise ValidationError(problems)
    return values


def _example_end(text: str, name: str) -> Optional[int]:
    """End of the commented-out example of ``name`` (``#name = ...``, lists to their ``]``), if any."""
    match = re.search(rf"^[ \t]*#[ \t]*{re.escape(name)}[ \t]*=(.*)$", text, re.MULTILINE)
    if not match:
        return None
    end = _line_end(text, match.start())
    if "[" in match.group(1) and "]" not in match.group(1):
        while end < len(text):
            line = text[end : _line_end(text, end)]
            if not line.lstrip().startswith("#"):
                break
            end = _line_end(text, end)
            if "]" in line:
                break
    return end


def plan_settings(text: str, desired: dict[str, Any]) -> Plan:
    """The file's new text for the normalised ``desired`` settings (None removes a setting)."""
    entries = parse_entries(text)
    by_name: dict[str, list[Entry]] = {}
    for entry in entries:
        by_name.setdefault(entry.name, []).append(entry)
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) on the original text
    appended: list[str] = []
    plan = Plan(text)
    for name, value in desired.items():
        found = by_name.get(name, [])
        actual = found[-1].value if found else None  # libvirt keeps the last occurrence
        line = f"{name} = {format_value(value)}\n" if value is not None else ""
        if value is None:
            if not found:
                continue
            plan.actions.append(f"remove {name}")
            plan.changed.append(name)
            edits.extend((entry.start, entry.end, "") for entry in found)
        elif found:
            if len(found) == 1 and actual == value:
                continue
            plan.actions.append(f"set {name} = {format_value(value)}")
            plan.changed.append(name)
            edits.append((found[0].start, found[0].end, line))
            edits.extend((entry.start, entry.end, "") for entry in found[1:])
        else:
            plan.actions.append(f"set {name} = {format_value(value)}")
            plan.changed.append(name)
            example = _example_end(text, name)
            if example is None:
                appended.append(line)
            else:
                edits.append((example, example, line))
        if actual != value:
            if actual is not None:
                plan.before[name] = actual
            if value is not None:
                plan.after[name] = value
    new = text
    for start, end, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1]), reverse=True):
        new = new[:start] + replacement + new[end:]
    if appended:
        if new and not new.endswith("\n"):
            new += "\n"
        new += "".join(appended)
    plan.text = new
    return plan


def current_values(text: str, names: list[str]) -> dict[str, Any]:
    """The values ``names`` have in ``text`` (None where a setting is not set)."""
    values: dict[str, Any] = {name: None for name in names}
    for entry in parse_entries(text):
        if entry.name in values:
            values[entry.name] = entry.value
    return values


def secret_names(names: list[str]) -> list[str]:
    """The settings whose values are secrets (passwords): hidden from output."""
    return [name for name in names if name.endswith(SECRET_SUFFIXES)]


def load_schema(path: str, schema: str) -> tuple[Optional[dict[str, str]], str]:
    """The settings ``path`` knows (None: not checked) and a label for messages."""
    label = os.path.basename(path)
    if schema == "none":
        return None, label
    lens = lens_for(path) if schema == "auto" else schema
    try:
        with open(lens, encoding="utf-8") as handle:
            known = parse_lens(handle.read())
    except OSError as exc:
        raise KvmFleetError(
            f"schema: cannot read the Augeas lens {lens} that lists the settings of {label} ({exc.strerror}); "
            "install libvirt's daemon package, name the lens in schema, or set schema=none"
        ) from exc
    if not known:
        raise KvmFleetError(f"schema: {lens} lists no settings; is it a libvirt Augeas lens?")
    return known, f"{label} (per {lens})"


def run_conf_module(module: Any) -> None:
    """The libvirt_conf module: plan, then write only in a real run; one failure path."""
    params = module.params
    path = params["path"]
    settings = params["settings"]
    module.no_log_values.update(
        str(settings[name]) for name in secret_names(list(settings)) if settings[name] not in (None, "")
    )
    try:
        schema, label = load_schema(path, params["schema"])
        desired = validate(settings, schema, label)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise KvmFleetError(f"path: cannot read {path}: {exc.strerror}") from exc
        try:
            plan = plan_settings(text, desired)
        except ConfSyntaxError as exc:
            raise KvmFleetError(f"{path}: {exc.msg}") from exc
    except KvmFleetError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    changed = plan.text != text
    result: dict[str, Any] = {
        "changed": changed,
        "actions": plan.actions,
        "changed_settings": plan.changed,
        "settings": current_values(plan.text, list(desired)),
        "diff": {"before": plan.before, "after": plan.after, "before_header": path, "after_header": path},
    }
    if changed and not module.check_mode:
        if params["backup"]:
            result["backup_file"] = module.backup_local(path)
        fd, tmp = tempfile.mkstemp(prefix=".kvmfleet-", dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(plan.text)
        module.atomic_move(tmp, path)
    module.exit_json(**result)
