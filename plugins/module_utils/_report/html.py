# Copyright (c) kvmfleet maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report as one self-contained HTML page (pure: the report's data in, text out).

Everything is inside the file: the styles, the charts (SVG drawn here), a little script that sorts and
filters the guests' table. It loads nothing (its Content-Security-Policy forbids it), so it works from a
file:// URL, in a mail attachment and in an air-gapped site. Without the script the page is whole; the
script adds sorting (click a column's header) and filtering (text, status, hypervisor).
"""

from __future__ import annotations

from html import escape
from typing import Any, Optional

STATUS_LABELS = {
    "duplicate": "defined twice",
    "error": "error",
    "missing": "missing",
    "unknown": "not found",
    "elsewhere": "elsewhere",
    "drifted": "drifted",
    "undeclared": "undeclared",
    "in_sync": "as declared",
}
BAD = ("duplicate", "error", "missing", "unknown")
WARN = ("elsewhere", "drifted", "undeclared")

STYLE = """
:root{--ink:#1d2430;--muted:#5b6576;--line:#d9dee7;--bg:#f6f7f9;--card:#fff;--ok:#1a7f37;--warn:#9a6700;
--bad:#c62828;--info:#0b5cad;--entry:#8fb4e3;--bar2:#0b5cad;--free:#e3e8ef}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}header{background:#1d2430;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}header .meta{color:#c6cdd8;font-size:13px}
main{padding:18px 28px 48px;max-width:1500px}section{margin-top:26px}h2{font-size:18px;margin:0 0 10px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}.card{background:var(--card);border:1px solid var(--line);
border-radius:8px;padding:10px 14px;min-width:120px}.card b{display:block;font-size:24px}.card span{color:var(--muted);
font-size:12px}.card.bad b{color:var(--bad)}.card.warn b{color:var(--warn)}.card.ok b{color:var(--ok)}
ul.summary{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px 10px 30px;margin:0}
ul.summary li{margin:3px 0}li.bad{color:var(--bad)}li.warn{color:var(--warn)}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;overflow-x:auto}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:14px}
svg text{font:12px system-ui,sans-serif;fill:var(--ink)}svg .muted{fill:var(--muted)}
table{border-collapse:collapse;width:100%;background:var(--card)}th,td{border-bottom:1px solid var(--line);
padding:5px 8px;text-align:left;vertical-align:top}th{background:#eef1f5;font-weight:600;white-space:nowrap}
th[data-sort]{cursor:pointer;user-select:none}th[data-sort]:after{content:" \\2195";color:#9aa3b2}
th.asc:after{content:" \\25B2";color:var(--ink)}th.desc:after{content:" \\25BC";color:var(--ink)}
td.num,th.num{text-align:right}.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;
border:1px solid var(--line);background:#eef1f5;margin:1px 2px 1px 0;white-space:nowrap}.badge.bad{background:#fdecea;
border-color:#f3b7b2;color:var(--bad)}.badge.warn{background:#fff4d6;border-color:#ecd38b;color:var(--warn)}
.badge.ok{background:#e6f4ea;border-color:#a8d5b5;color:var(--ok)}.badge.info{background:#e7f0fb;border-color:#a9c6ea;
color:var(--info)}code{font-size:12px;background:#eef1f5;border-radius:4px;padding:0 3px}details summary{cursor:pointer}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-bottom:8px}.filters input{padding:5px 8px;
min-width:260px;border:1px solid var(--line);border-radius:6px}.filters select{padding:4px;border:1px solid var(--line);
border-radius:6px}.muted{color:var(--muted)}.changes td{border:0;padding:1px 6px}.changes{width:auto;background:none}
.del{color:var(--bad)}.add{color:var(--ok)}tr.largest td{background:#f3f7fd}
"""

SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("guests");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headers = table.tHead.rows[0].cells;
  var count = document.getElementById("shown");
  var text = document.getElementById("filter-text");
  var status = document.getElementById("filter-status");
  var host = document.getElementById("filter-hypervisor");
  var state = {column: -1, ascending: true};
  function key(row, column, numeric) {
    var cell = row.cells[column];
    var value = cell.getAttribute("data-value");
    if (value === null) { value = cell.textContent; }
    if (numeric) { var number = parseFloat(value); return isNaN(number) ? -Infinity : number; }
    return value.toLowerCase();
  }
  function sortBy(column) {
    var numeric = headers[column].getAttribute("data-sort") === "num";
    state.ascending = state.column === column ? !state.ascending : true;
    state.column = column;
    var keyed = rows.map(function (row, index) { return [key(row, column, numeric), index, row]; });
    var sign = state.ascending ? 1 : -1;
    keyed.sort(function (a, b) {
      if (a[0] < b[0]) { return -sign; }
      if (a[0] > b[0]) { return sign; }
      return a[1] - b[1];
    });
    var fragment = document.createDocumentFragment();
    rows = keyed.map(function (entry) { fragment.appendChild(entry[2]); return entry[2]; });
    body.appendChild(fragment);
    for (var i = 0; i < headers.length; i++) { headers[i].classList.remove("asc", "desc"); }
    headers[column].classList.add(state.ascending ? "asc" : "desc");
  }
  function filter() {
    var words = text.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var wanted = status.value;
    var where = host.value;
    var shown = 0;
    rows.forEach(function (row) {
      var visible = (!wanted || row.getAttribute("data-status") === wanted) &&
        (!where || row.getAttribute("data-hypervisor") === where);
      if (visible && words.length) {
        var haystack = row.textContent.toLowerCase();
        visible = words.every(function (word) { return haystack.indexOf(word) !== -1; });
      }
      row.hidden = !visible;
      if (visible) { shown++; }
    });
    count.textContent = String(shown);
  }
  Array.prototype.forEach.call(headers, function (header, column) {
    if (header.hasAttribute("data-sort")) {
      header.addEventListener("click", function () { sortBy(column); });
    }
  });
  [text, status, host].forEach(function (input) { input.addEventListener("input", filter); });
  filter();
  window.kvmfleetReport = {sortBy: sortBy, filter: filter};
}());
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def size(mib: Optional[float]) -> str:
    """MiB as a person reads them."""
    if mib is None:
        return "-"
    if abs(mib) >= 1024:
        return f"{mib / 1024:.1f} GiB"
    return f"{mib:.0f} MiB"


def _status_class(status: str) -> str:
    return "bad" if status in BAD else "warn" if status in WARN else "ok"


def _badge(text: str, kind: str = "") -> str:
    return f'<span class="badge {kind}">{_e(text)}</span>'


# ---------------------------------------------------------------------------------------------- charts


def bar_chart(title: str, bars: list[dict[str, Any]], unit: str) -> str:
    """A horizontal entry per hypervisor: its allocatable amount (light), the part guests hold (dark), what
    the hardware has (a tick), each with its words. ``bars``: label, allocatable, committed, physical, note."""
    longest = max([len(str(entry["label"])) for entry in bars] + [8])
    left = min(12 + 7 * longest, 240)  # room for the longest label (about 7 px a character)
    width, right, row = 450 + left, 20, 60
    height = 34 + row * max(len(bars), 1)
    top = max([max(entry.get(key) or 0 for key in ("allocatable", "committed", "physical")) for entry in bars] + [1])
    scale = (width - left - right) / top
    shown = size if unit == "MiB" else (lambda value: f"{value:g} vCPUs")
    parts = [
        f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" font-weight="600">{_e(title)}</text>',
    ]
    for index, entry in enumerate(bars):
        y = 30 + index * row
        parts.append(f'<text x="0" y="{y + 13}">{_e(entry["label"])}</text>')
        if entry.get("allocatable") is None:
            parts.append(f'<text x="{left}" y="{y + 13}" class="muted">{_e(entry.get("note") or "not read")}</text>')
            continue
        allocatable = max(entry["allocatable"], 0) * scale
        committed = max(entry["committed"], 0) * scale
        parts.append(
            f'<rect class="allocatable" x="{left}" y="{y}" width="{allocatable:.1f}" height="16" fill="var(--entry)">'
            f"<title>allocatable {_e(shown(entry['allocatable']))}</title></rect>"
        )
        color = "var(--bad)" if entry["committed"] > entry["allocatable"] else "var(--bar2)"
        parts.append(
            f'<rect class="committed" x="{left}" y="{y + 3}" width="{committed:.1f}" height="10" fill="{color}">'
            f"<title>committed {_e(shown(entry['committed']))}</title></rect>"
        )
        if entry.get("physical"):
            x = left + entry["physical"] * scale
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 3}" y2="{y + 19}" stroke="var(--ink)" />')
        for line, text in enumerate(entry.get("note", "").split("\n")):
            parts.append(f'<text x="{left}" y="{y + 31 + 13 * line}" class="muted">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _capacity_charts(hypervisors: list[dict[str, Any]]) -> str:
    memory, vcpus, pools = [], [], []
    for host in hypervisors:
        label = host["name"] + (" (maint.)" if host.get("maintenance") else "")
        capacity = host.get("capacity")
        if not host["reachable"] or not capacity:
            note = "unreachable"
            memory.append({"label": label, "allocatable": None, "note": note})
            vcpus.append({"label": label, "allocatable": None, "note": note})
            continue
        memory.append(
            {
                "label": label,
                "allocatable": capacity["allocatable_memory_mib"],
                "committed": capacity["committed_memory_mib"],
                "physical": capacity["memory_mib"],
                "note": f"{size(capacity['committed_memory_mib'])} committed of "
                f"{size(capacity['allocatable_memory_mib'])} allocatable, {size(capacity['available_memory_mib'])} "
                f"free\n{size(capacity['memory_mib'])} physical x {capacity['memory_overcommit']:g} overcommit - "
                f"{size(capacity['reserved_memory_mib'])} reserved",
            }
        )
        vcpus.append(
            {
                "label": label,
                "allocatable": capacity["allocatable_vcpus"],
                "committed": capacity["committed_vcpus"],
                "physical": capacity["cpus"],
                "note": f"{capacity['committed_vcpus']} of {capacity['allocatable_vcpus']} vCPUs committed, "
                f"{capacity['available_vcpus']} free\n{capacity['cpus']} CPUs x {capacity['vcpu_overcommit']:g} "
                "overcommit",
            }
        )
        for pool in host.get("pools") or []:
            if not pool["active"]:
                continue
            pools.append(
                {
                    "label": f"{host['name']}/{pool['name']}",
                    "allocatable": pool["capacity_mib"],
                    "committed": pool["allocation_mib"],
                    "physical": None,
                    "note": f"{size(pool['allocation_mib'])} of {size(pool['capacity_mib'])} allocated, "
                    f"{size(pool['available_mib'])} available\n{pool['type']} pool, {pool['volumes']} volumes",
                }
            )
    charts = [bar_chart("Memory: committed to guests / allocatable (tick: physical)", memory, "MiB")]
    charts.append(bar_chart("vCPUs: committed to guests / allocatable (tick: CPUs)", vcpus, "vCPU"))
    if pools:
        charts.append(bar_chart("Storage pools: allocated / capacity", pools, "MiB"))
    return '<div class="charts">' + "".join(f'<div class="panel">{chart}</div>' for chart in charts) + "</div>"


# ---------------------------------------------------------------------------------------------- tables


def _hosts_table(hypervisors: list[dict[str, Any]], n_plus_1: Optional[dict[str, Any]]) -> str:
    head = (
        "<tr><th>Hypervisor</th><th>State</th><th>Labels</th><th>libvirt</th><th>Guests</th>"
        "<th>Memory overcommit</th><th>vCPU overcommit</th><th>If drained</th></tr>"
    )
    body = []
    for host in hypervisors:
        if not host["reachable"]:
            body.append(
                f'<tr data-hypervisor="{_e(host["name"])}"><td><b>{_e(host["name"])}</b><br>'
                f'<span class="muted">{_e(host["uri"])}</span></td><td>{_badge("unreachable", "bad")}</td>'
                f'<td colspan="6">{_e(host["error"])}</td></tr>'
            )
            continue
        capacity = host["capacity"]
        state = _badge("in maintenance", "warn") if host.get("maintenance") else _badge("in service", "ok")
        if host.get("maintenance") and host["maintenance"].get("reason"):
            state += f'<br><span class="muted">{_e(host["maintenance"]["reason"])}</span>'
        room = host.get("headroom") or {}
        if not room.get("destinations"):
            drained = '<span class="muted">no other hypervisor answered</span>'
        elif room.get("fits"):
            drained = _badge(f"all {room['guests_to_move']} running guests fit elsewhere", "ok")
        else:
            drained = _badge(f"{len(room['unplaced'])} of {room['guests_to_move']} fit nowhere", "bad") + "".join(
                f"<br><b>{_e(item['name'])}</b>: "
                + "; ".join(f"{_e(dest)}: {_e(why)}" for dest, why in item["refusals"].items())
                for item in room["unplaced"]
            )
        largest = n_plus_1 is not None and n_plus_1["hypervisor"] == host["name"]
        kvm = "KVM" if host["kvm"]["usable"] else "TCG"
        body.append(
            f'<tr data-hypervisor="{_e(host["name"])}"{" class=largest" if largest else ""}>'
            f"<td><b>{_e(host['name'])}</b>{' ' + _badge('largest', 'info') if largest else ''}<br>"
            f'<span class="muted">{_e(host["uri"])}</span></td><td>{state}</td>'
            f"<td>{''.join(_badge(label) for label in host['labels']) or '-'}</td>"
            f"<td>{_e(host['libvirt_version'])}, {kvm}<br><span class=muted>{host['cpus']} CPUs, "
            f"{_e(size(host['memory_mib']))}</span></td>"
            f"<td>{capacity['guests']} ({capacity['running_guests']} running)"
            f"{'<br>' + _badge(str(host['drifted']) + ' drifted', 'warn') if host.get('drifted') else ''}</td>"
            f"<td>{capacity['memory_overcommit']:g} (committed "
            f"{_ratio(capacity['committed_memory_mib'], capacity['memory_mib'])} of physical)</td>"
            f"<td>{capacity['vcpu_overcommit']:g} (committed "
            f"{_ratio(capacity['committed_vcpus'], capacity['cpus'])} of CPUs)</td>"
            f"<td>{drained}</td></tr>"
        )
    rows = "".join(body)
    return f'<div class="panel"><table id="hypervisors"><thead>{head}</thead><tbody>{rows}</tbody></table></div>'


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.2f}x" if whole else "-"


def _changes(drift: Optional[dict[str, Any]]) -> str:
    """What a run would change, field by field; the actions it would take."""
    if not drift:
        return '<span class="muted">-</span>'
    if drift.get("error"):
        return f'<span class="del">{_e(drift["error"])}</span>'
    diff = drift.get("diff") or {}
    before, after = diff.get("before") or {}, diff.get("after") or {}
    fields = sorted(set(before) | set(after))
    lines = "".join(
        f'<tr><td><code>{_e(field)}</code></td><td class="del">{_e(_short(before.get(field)))}</td>'
        f'<td>&rarr;</td><td class="add">{_e(_short(after.get(field)))}</td></tr>'
        for field in fields
    )
    actions = "".join(f"<li>{_e(action)}</li>" for action in drift.get("actions") or [])
    summary = ", ".join(fields) or (f"{len(drift.get('actions') or [])} actions" if drift.get("changed") else "none")
    if not drift.get("changed"):
        return '<span class="muted">none</span>'
    return (
        f"<details><summary>{_e(summary)}</summary>"
        f"{'<table class=changes>' + lines + '</table>' if lines else ''}<ul>{actions}</ul></details>"
    )


def _short(value: Any) -> str:
    text = "-" if value is None else value if isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def _migration(movable: Optional[dict[str, Any]]) -> tuple[str, str]:
    """(cell, sort value) of a guest's migratability."""
    if movable is None:
        return '<span class="muted">-</span>', "-"
    kind = "live" if movable["live"] else "offline"
    if movable["movable"]:
        cell = _badge(f"{kind}: {len(movable['destinations'])} hosts", "ok")
        cell += f'<br><span class="muted">{_e(", ".join(movable["destinations"]))}</span>'
        return cell, f"1 {kind}"
    if not movable["refusals"]:
        return _badge("no other hypervisor", "warn"), f"0 {kind}"
    cell = "".join(_badge(code, "bad" if movable["live"] else "warn") for code in movable["codes"])
    details = "".join(
        f"<li><b>{_e(host)}</b>: "
        + "; ".join(f"[{_e(reason['code'])}] {_e(reason['message'])} (fix: {_e(reason['fix'])})" for reason in reasons)
        + "</li>"
        for host, reasons in movable["refusals"].items()
    )
    cell += f"<details><summary>why</summary><ul>{details}</ul></details>"
    return cell, f"0 {kind} " + " ".join(movable["codes"])


def _guest_row(row: dict[str, Any]) -> str:
    status = row["status"]
    declared = row["declared"]
    where = "-" if not declared else ("fleet" if declared["by"] == "fleet" else f"for {declared['hypervisor']}")
    migration, migration_key = _migration(row["migration"])
    notes = "".join(f'<br><span class="muted">{_e(note)}</span>' for note in row["notes"])
    memory = row["memory_mib"]
    return (
        f'<tr id="guest-{_e(row["name"])}-{_e(row["hypervisor"] or "")}" data-guest="{_e(row["name"])}" '
        f'data-hypervisor="{_e(row["hypervisor"] or "")}" data-status="{_e(status)}">'
        f"<td><b>{_e(row['name'])}</b>{notes}</td><td>{_e(row['hypervisor'] or '-')}</td><td>{_e(row['state'])}</td>"
        f'<td data-value="{_e(status)}">{_badge(STATUS_LABELS[status], _status_class(status))}</td>'
        f'<td class="num">{_e(row["vcpus"] if row["vcpus"] is not None else "-")}</td>'
        f'<td class="num" data-value="{memory if memory is not None else ""}">{_e(size(memory))}</td>'
        f"<td>{_e(where)}</td><td>{_changes(row['drift'])}</td>"
        f'<td data-value="{_e(migration_key)}">{migration}</td>'
        f"<td>{_e(row['address'] or '-')}</td><td>{''.join(_badge(tag) for tag in row['tags'])}</td></tr>"
    )


def _guests_table(report: dict[str, Any]) -> str:
    guests = report["guests"]
    hosts = [host["name"] for host in report["hypervisors"]]
    statuses = [status for status in STATUS_LABELS if any(row["status"] == status for row in guests)]
    options = "".join(f'<option value="{_e(status)}">{_e(STATUS_LABELS[status])}</option>' for status in statuses)
    host_options = "".join(f'<option value="{_e(host)}">{_e(host)}</option>' for host in hosts)
    head = (
        '<tr><th data-sort="text">Guest</th><th data-sort="text">Hypervisor</th><th data-sort="text">State</th>'
        '<th data-sort="text">Status</th><th data-sort="num" class="num">vCPUs</th>'
        '<th data-sort="num" class="num">Memory</th><th data-sort="text">Declared</th><th>Drift</th>'
        '<th data-sort="text">Can move</th><th data-sort="text">Address</th><th>Tags</th></tr>'
    )
    return (
        '<div class="filters"><input id="filter-text" type="search" placeholder="filter: names, codes, tags..." '
        'aria-label="filter the guests">'
        f'<select id="filter-status" aria-label="status"><option value="">every status</option>{options}</select>'
        f'<select id="filter-hypervisor" aria-label="hypervisor"><option value="">every hypervisor</option>'
        f'{host_options}</select><span class="muted"><span id="shown">{len(guests)}</span> of {len(guests)} '
        "guests shown; click a column to sort</span></div>"
        f'<div class="panel"><table id="guests"><thead>{head}</thead><tbody>'
        + "".join(_guest_row(row) for row in guests)
        + "</tbody></table></div>"
    )


def _cards(counts: dict[str, Any]) -> str:
    cards = [
        ("hypervisors", f"{counts['reachable']}/{counts['hypervisors']}", "bad" if counts["unreachable"] else "ok"),
        ("guests", counts["guests"], ""),
        ("running", counts["running"], ""),
        ("as declared", counts["in_sync"], "ok"),
        ("drifted", counts["drifted"], "warn" if counts["drifted"] else "ok"),
        ("missing", counts["missing"] + counts["unknown"], "bad" if counts["missing"] + counts["unknown"] else "ok"),
        ("undeclared", counts["undeclared"], "warn" if counts["undeclared"] else "ok"),
        ("defined twice", counts["duplicate"], "bad" if counts["duplicate"] else "ok"),
        ("errors", counts["error"], "bad" if counts["error"] else "ok"),
        ("cannot move", counts["unmovable"], "warn" if counts["unmovable"] else "ok"),
        (
            "N+1",
            "-" if counts["n_plus_1"] is None else "holds" if counts["n_plus_1"] else "fails",
            "" if counts["n_plus_1"] is None else "ok" if counts["n_plus_1"] else "bad",
        ),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card {kind}" data-count="{_e(label)}"><b>{_e(value)}</b><span>{_e(label)}</span></div>'
            for label, value, kind in cards
        )
        + "</div>"
    )


def _line_class(line: str) -> str:
    word = line.split(" ", 1)[0].rstrip(":")
    if word in ("UNREACHABLE", "DEFINED", "ERRORS", "MISSING") or line.startswith("N+1 FAILS"):
        return "bad"
    if word in ("DRIFT", "UNDECLARED", "ELSEWHERE", "CANNOT"):
        return "warn"
    return ""


def render(report: dict[str, Any]) -> str:
    """The report as one HTML page."""
    summary = report["summary"]
    lines = "".join(f'<li class="{_line_class(line)}">{_e(line)}</li>' for line in summary["lines"])
    sources = ", ".join(report["inventory"]) or "-"
    meta = (
        f"generated {_e(report['generated'])} &middot; inventory {_e(sources)} &middot; "
        f"{_e(report['collection']['name'])} {_e(report['collection']['version'])} &middot; "
        f"read in {report['seconds']:.1f} s"
    )
    warnings = "".join(f"<li>{_e(warning)}</li>" for warning in report.get("placement_warnings") or [])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(report['title'])}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{_e(report["title"])}</h1><div class="meta">{meta}</div></header><main>'
        f"{_cards(summary['counts'])}"
        f'<section id="summary"><h2>Summary</h2><ul class="summary">{lines}</ul></section>'
        f'<section id="capacity"><h2>Capacity</h2>{_capacity_charts(report["hypervisors"])}</section>'
        f'<section id="hosts"><h2>Hypervisors and N+1 headroom</h2>'
        f'<p class="muted">If drained: whether the other hypervisors could take its running guests by live migration '
        "(placement's labels, anti-affinity and capacity, and the migration's pre-flight check), as "
        "playbooks/drain.yml would place them.</p>"
        f"{_hosts_table(report['hypervisors'], report.get('n_plus_1'))}"
        f"{'<ul>' + warnings + '</ul>' if warnings else ''}</section>"
        f'<section id="guests-section"><h2>Guests</h2>'
        f'<p class="muted">Drift is what a run of the declared state would change (the guests role in check '
        "mode, only what differs); Can move is where a running guest could be live-migrated (a stopped "
        "one: its definition moved), else the pre-flight check's codes.</p>"
        f"{_guests_table(report)}</section>"
        f"</main><script>{SCRIPT}</script></body></html>\n"
    )
