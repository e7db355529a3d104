"""`migrate report --html`: one self-contained page, inline CSS and SVG, that loads nothing.

Why self-contained: the report is mailed, attached to an issue, opened from a USB stick. Its Content
Security Policy (`default-src 'none'`) forbids the browser any request, so a page that tried one would
be broken in plain sight, and the tests assert it in headless Chromium.

Sections: the summary, a Gantt chart of the phases (planned against actual and projected), the hosts x
criteria matrix, the zerotier topology from the inventory (the roles of the zerotier instances, read
through `dendrite.inventory`), the open red flags, and the latest journal events.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path
from typing import Any

from dendrite.errors import DendriteError
from dendrite.fsutil import atomic_write
from dendrite.migration.clock import ClockState
from dendrite.migration.decide import decide
from dendrite.migration.state import State
from dendrite.migration.status import next_action
from dendrite.migration.timeline import Timeline, timeline

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


CSS = """
:root { --ink:#1f2933; --muted:#6b7785; --line:#e3e7ec; --bg:#f6f7f9; --card:#fff;
  --pass:#2f9e58; --fail:#d64545; --pending:#d9a21b; --plan:#c9d3de; --actual:#3b6fd1; --proj:#9db7ea; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:var(--bg); }
header { background:#17212b; color:#fff; padding:24px 40px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header .meta { color:#b8c4d0; font-size:14px; }
main { max-width:1180px; margin:0 auto; padding:24px 40px 48px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:20px 24px; margin:0 0 20px; }
h2 { font-size:17px; margin:0 0 14px; font-weight:600; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(180px,1fr)); gap:12px; }
.card { border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:20px; font-weight:600; }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; font-weight:600; font-size:13px; color:#fff; }
.GO { background:var(--pass); } .CONDITIONAL { background:var(--pending); } .NO-GO { background:var(--fail); }
.next { margin-top:12px; padding:10px 12px; background:#eef3fb; border-radius:6px; font-family:ui-monospace,monospace; font-size:13px; }
table { border-collapse:collapse; width:100%; font-size:14px; }
th, td { text-align:left; padding:7px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.chip { display:inline-block; margin:2px 4px 2px 0; padding:1px 8px; border-radius:5px; font-size:12px; border:1px solid; }
.chip.pass { color:var(--pass); border-color:var(--pass); background:#eaf6ee; }
.chip.fail { color:var(--fail); border-color:var(--fail); background:#fbecec; }
.chip.pending { color:#9a7000; border-color:var(--pending); background:#fcf5e3; }
.chip.critical { font-weight:600; }
.sev-critical { color:var(--fail); font-weight:600; } .sev-major { color:#c0651b; font-weight:600; } .sev-minor { color:var(--muted); }
.muted { color:var(--muted); } .mono { font-family:ui-monospace,monospace; font-size:12.5px; }
svg text { font-family:system-ui,sans-serif; }
.legend span { display:inline-block; margin-right:16px; font-size:13px; color:var(--muted); }
.legend i { display:inline-block; width:14px; height:10px; margin-right:6px; border-radius:2px; vertical-align:middle; }
"""


def _x(d: dt.date, t0: dt.date, days: int, left: int, width: int) -> float:
    return left + (d - t0).days / max(days, 1) * width


def gantt(tl: Timeline) -> str:
    if not tl.spans:
        return "<p class='muted'>No phases in the plan.</p>"
    dates = [s.planned_start for s in tl.spans] + [s.actual_start for s in tl.spans if s.actual_start]
    t0 = min([*dates, tl.today]) - dt.timedelta(days=3)
    t1 = max([tl.planned_end, tl.projected_end, tl.today]) + dt.timedelta(days=7)
    days = (t1 - t0).days
    left, width, row = 190, 900, 44
    height = 40 + row * len(tl.spans) + 10
    parts = [
        f"<svg id='gantt' role='img' aria-label='phases planned against actual' viewBox='0 0 {left + width + 20} {height}' width='100%'>"
    ]
    week = t0 + dt.timedelta(days=(7 - t0.weekday()) % 7)
    while week <= t1:
        x = _x(week, t0, days, left, width)
        parts.append(f"<line x1='{x:.1f}' y1='24' x2='{x:.1f}' y2='{height - 6}' stroke='#eef1f4'/>")
        if (week - t0).days % 14 < 7:
            parts.append(
                f"<text x='{x:.1f}' y='16' font-size='11' fill='#6b7785' text-anchor='middle'>{week:%d %b}</text>"
            )
        week += dt.timedelta(days=7)
    for i, s in enumerate(tl.spans):
        y = 32 + i * row
        parts.append(f"<g class='gantt-phase' data-phase='{s.phase}'>")
        parts.append(
            f"<text x='8' y='{y + 17}' font-size='13' fill='#1f2933'>Phase {s.phase}: {e(s.name[:20])}</text>"
        )
        px0, px1 = _x(s.planned_start, t0, days, left, width), _x(s.planned_end, t0, days, left, width)
        parts.append(
            f"<rect class='planned' x='{px0:.1f}' y='{y}' width='{max(px1 - px0, 2):.1f}' height='12' rx='3' fill='#c9d3de'>"
            f"<title>planned {s.planned_start} to {s.planned_end}</title></rect>"
        )
        jx0, jx1 = _x(s.projected_start, t0, days, left, width), _x(s.projected_end, t0, days, left, width)
        if s.done:
            fill, label = "#3b6fd1", f"actual {s.actual_start} to {s.actual_end}"
        elif s.actual_start:
            fill, label = "#7c9fe0", f"running since {s.actual_start}, projected end {s.projected_end}"
        else:
            fill, label = "#dbe5f7", f"projected {s.projected_start} to {s.projected_end}"
        slip = f" ({'+' if s.slip_days > 0 else ''}{s.slip_days} d)" if s.slip_days else ""
        parts.append(
            f"<rect class='actual' x='{jx0:.1f}' y='{y + 15}' width='{max(jx1 - jx0, 2):.1f}' height='12' rx='3' fill='{fill}'>"
            f"<title>{e(label)}{slip}</title></rect>"
        )
        if s.slip_days > 0:
            parts.append(
                f"<text x='{jx1 + 6:.1f}' y='{y + 25}' font-size='11' fill='#d64545'>+{s.slip_days} d</text>"
            )
        parts.append("</g>")
    tx = _x(tl.today, t0, days, left, width)
    parts.append(
        f"<line id='today' x1='{tx:.1f}' y1='22' x2='{tx:.1f}' y2='{height - 4}' stroke='#d64545' stroke-dasharray='4 3'/>"
    )
    parts.append(f"<text x='{tx + 4:.1f}' y='30' font-size='11' fill='#d64545'>today</text>")
    parts.append("</svg>")
    legend = (
        "<div class='legend'><span><i style='background:#c9d3de'></i>planned</span>"
        "<span><i style='background:#3b6fd1'></i>actual (done)</span>"
        "<span><i style='background:#7c9fe0'></i>running</span>"
        "<span><i style='background:#dbe5f7'></i>projected</span></div>"
    )
    return "".join(parts) + legend


def zerotier_roles(root: Path) -> tuple[dict[str, set[str]], str | None]:
    """machine -> its roles in the zerotier instances of the inventory, or a note why there are none."""
    from dendrite.inventory import analyse

    try:
        resolved = analyse(root)
    except DendriteError as exc:
        return {}, f"the inventory could not be read: {exc.message}"
    roles: dict[str, set[str]] = {}
    for a in resolved.assignments:
        if a.service == "zerotier":
            roles.setdefault(a.machine, set()).add(a.role)
    return roles, None if roles else "the inventory has no zerotier instance"


def _clock_color(ck: ClockState | None) -> str:
    if ck is None or not ck.deployed:
        return "#9aa5b1"
    if ck.stopped_by:
        return "#d64545"
    return "#2f9e58" if ck.stable else "#d9a21b"


def topology(state: State, roles: dict[str, set[str]], why: str | None) -> str:
    names = list(dict.fromkeys([*roles, *(h for h in state.plan.hosts if state.plan.hosts[h].has_window)]))
    controllers = [n for n in names if "controller" in roles.get(n, set())]
    others = [n for n in names if n not in controllers]
    w, h = 720, 420
    cx, cy, radius = w / 2, h / 2 - 4, 140
    pos: dict[str, tuple[float, float]] = {}
    for i, n in enumerate(controllers):
        pos[n] = (cx + (i - (len(controllers) - 1) / 2) * 120, cy)
    for i, n in enumerate(others):
        a = -math.pi / 2 + 2 * math.pi * i / max(len(others), 1)
        pos[n] = (cx + radius * 1.6 * math.cos(a), cy + radius * math.sin(a))
    parts = [
        f"<svg id='topology' role='img' aria-label='zerotier topology' viewBox='0 0 {w} {h}' width='100%' style='max-width:{w}px'>"
    ]
    for n in others:
        for c in controllers:
            member = bool(roles.get(n))
            dash = "" if member else " stroke-dasharray='5 4'"
            parts.append(
                f"<line class='zt-link' data-from='{e(c)}' data-to='{e(n)}' x1='{pos[c][0]:.1f}' y1='{pos[c][1]:.1f}' "
                f"x2='{pos[n][0]:.1f}' y2='{pos[n][1]:.1f}' stroke='#b8c4d0' stroke-width='2'{dash}/>"
            )
    for n in names:
        x, y = pos[n]
        role = ", ".join(sorted(roles.get(n, set()))) or "not in the inventory's zerotier roles"
        ck = state.clocks.get(n)
        r = 30 if n in controllers else 24
        status = ck.describe() if ck else "not in the plan"
        parts.append(
            f"<g class='zt-node' data-host='{e(n)}' data-role='{e(role)}'>"
            f"<title>{e(n)}: {e(role)}; {e(status)}</title>"
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='{_clock_color(ck)}' stroke='#fff' stroke-width='3'/>"
            f"<text x='{x:.1f}' y='{y + r + 16:.1f}' font-size='13' text-anchor='middle' fill='#1f2933' font-weight='600'>{e(n)}</text>"
            f"<text x='{x:.1f}' y='{y + r + 30:.1f}' font-size='11' text-anchor='middle' fill='#6b7785'>{e(role[:34])}</text>"
            "</g>"
        )
    parts.append("</svg>")
    note = f"<p class='muted'>{e(why)}</p>" if why else ""
    legend = (
        "<div class='legend'><span><i style='background:#2f9e58'></i>stable</span>"
        "<span><i style='background:#d9a21b'></i>in its window</span>"
        "<span><i style='background:#d64545'></i>clock stopped by a red flag</span>"
        "<span><i style='background:#9aa5b1'></i>not deployed</span>"
        "<span>dashed: not a member by the inventory (an external member, as darwin hosts are)</span></div>"
    )
    return note + "".join(parts) + legend


def _matrix(state: State) -> str:
    rows = [
        "<table id='matrix'><thead><tr><th>host</th><th>phase</th><th>stability clock</th><th>criteria</th></tr></thead><tbody>"
    ]
    for p in state.plan.phases:
        for host in p.hosts or ((),):
            hname = host if isinstance(host, str) else "—"
            chips = []
            for c in p.criteria:
                r = state.result(p, c)
                tip = f"{c.text} ({c.kind}{', critical' if c.critical else ''}): {r.status}"
                if r.evidence:
                    tip += f" — {r.evidence}"
                if r.workaround:
                    tip += f" [workaround: {r.workaround}]"
                crit = " critical" if c.critical else ""
                chips.append(
                    f"<span class='chip {r.status}{crit}' data-criterion='{e(c.id)}' title='{e(tip)}'>{e(c.id)}</span>"
                )
            ck = state.clocks.get(hname)
            clock = ck.describe() if ck and state.plan.hosts[hname].has_window else "—"
            rows.append(
                f"<tr data-host='{e(hname)}' data-phase='{p.number}'><td><b>{e(hname)}</b></td>"
                f"<td>{p.number} {e(p.name)}</td><td class='muted'>{e(clock)}</td><td>{''.join(chips)}</td></tr>"
            )
    rows.append("</tbody></table>")
    return "".join(rows)


def _flags(state: State) -> str:
    flags = sorted(state.open_flags(), key=lambda f: f.id)
    if not flags:
        return "<p id='flags' class='muted'>No open red flag.</p>"
    rows = [
        "<table id='flags'><thead><tr><th>#</th><th>severity</th><th>host</th><th>what</th><th>since</th></tr></thead><tbody>"
    ]
    for f in flags:
        rows.append(
            f"<tr class='flag' data-flag='{f.id}'><td>{f.id}</td><td class='sev-{e(f.severity)}'>{e(f.severity)}</td>"
            f"<td>{e(f.host)}</td><td>{e(f.text)}</td><td class='mono'>{e(f.opened)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def _describe_event(ev: dict[str, Any]) -> str:
    k = ev["type"]
    if k == "probe":
        return f"Phase {ev.get('phase')} {ev.get('criterion')}: {ev.get('status')} — {ev.get('detail', '')}"
    if k == "attest":
        return f"Phase {ev.get('phase')} {ev.get('criterion')} attested: {ev.get('evidence', '')}"
    if k == "workaround":
        return f"Phase {ev.get('phase')} {ev.get('criterion')} workaround: {ev.get('text', '')}"
    if k == "flag":
        return f"red flag #{ev.get('id')} ({ev.get('severity')}) on {ev.get('host')}: {ev.get('text')}"
    if k == "resolve":
        return f"red flag #{ev.get('id')} resolved {ev.get('note', '')}".strip()
    if k == "deployed":
        return f"{ev.get('host')} deployed {ev.get('note', '')}".strip()
    if k == "deploy-failed":
        return f"{ev.get('host')}: machines update failed: {ev.get('error', '')}".strip()
    if k == "decision":
        return f"Phase {ev.get('phase')}: {ev.get('outcome')}"
    if k == "advance":
        risk = f" (risk accepted: {ev['accepted_risk']})" if ev.get("accepted_risk") else ""
        return f"Phase {ev.get('phase')} advanced{risk}"
    if k == "rollback":
        return f"{ev.get('host')} rolled back: {'ok' if ev.get('ok') else 'failed'}"
    return "plan written"


def _events(state: State) -> str:
    rows = [
        "<table id='events'><thead><tr><th>when (UTC)</th><th>event</th><th>what</th></tr></thead><tbody>"
    ]
    for ev in state.latest:
        rows.append(
            f"<tr class='event'><td class='mono'>{e(ev['ts'])}</td><td>{e(ev['type'])}</td><td>{e(_describe_event(ev))}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def render(state: State, root: Path) -> str:
    tl = timeline(state)
    current = state.current
    decision = decide(state, current).outcome if current else "DONE"
    badge_class = decision.split()[0] if decision != "DONE" else "GO"
    roles, why = zerotier_roles(root)
    slip = tl.slip_days
    cards = [
        ("current phase", f"{current.number}: {current.name}" if current else "all done"),
        ("decision now", f"<span class='badge {badge_class}'>{e(decision)}</span>"),
        ("planned end", tl.planned_end.isoformat()),
        ("projected end", f"{tl.projected_end} ({'+' if slip > 0 else ''}{slip} d)"),
        ("open red flags", str(len(state.open_flags()))),
        ("journal events", f"{sum(state.counts.values()):,}"),
    ]
    card_html = "".join(
        f"<div class='card'><div class='k'>{e(k)}</div><div class='v'>{v if k == 'decision now' else e(v)}</div></div>"
        for k, v in cards
    )
    problems = ""
    if state.problems:
        items = "".join(f"<li>line {p.line}: {e(p.message)}</li>" for p in state.problems[:20])
        problems = f"<section id='problems'><h2>Journal lines left out</h2><ul>{items}</ul></section>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Migration: {e(state.plan.name)}</title>
<style>{CSS}</style></head>
<body>
<header><h1>{e(state.plan.name)}</h1>
<div class="meta">report of {state.now:%Y-%m-%d %H:%M} UTC · plan started {state.plan.start} · {state.plan.total_weeks} weeks planned</div></header>
<main>
<section id="summary"><h2>Where we are</h2><div class="cards">{card_html}</div>
<div class="next">next: {e(next_action(state))}</div></section>
{problems}
<section id="timeline"><h2>Timeline: planned against actual</h2>{gantt(tl)}</section>
<section id="hosts"><h2>Hosts &times; criteria</h2>{_matrix(state)}
<p class="muted">Hover a criterion for its evidence. Bold: critical.</p></section>
<section id="network"><h2>Zerotier topology (from the inventory)</h2>{topology(state, roles, why)}</section>
<section id="redflags"><h2>Open red flags</h2>{_flags(state)}</section>
<section id="journal"><h2>Latest journal events</h2>{_events(state)}</section>
</main></body></html>
"""


def write(state: State, root: Path, path: Path) -> Path:
    """Render and write the report atomically to the file the user named."""
    path = path.absolute()
    atomic_write(path, render(state, root).encode())
    return path
