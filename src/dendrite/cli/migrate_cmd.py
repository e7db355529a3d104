"""`dendrite migrate init|plan|status|check|attest|flag|resolve|deployed|decide|advance|rollback|report`.

Registered on the `migrate` group beside `scan` and `convert` (`migrate_group.migrate_app`). The migration
package is imported inside each command, so `dendrite --help` and the other commands do not pay for it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from dendrite.cli.common import emit_json, err, note, out, progress, repo

if TYPE_CHECKING:
    from dendrite.migration.decide import Decision
    from dendrite.migration.state import State

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
PhaseArg = Annotated[str, typer.Argument(help="A phase number (0-6), as in the plan.")]
_MARK = {"pass": "[green]✔[/green]", "fail": "[red]✘[/red]", "pending": "[yellow]…[/yellow]"}
_OUTCOME_STYLE = {"GO": "bold green", "CONDITIONAL GO": "bold yellow", "NO-GO": "bold red"}


def _root() -> Path:
    return repo().root


def _warn_problems(state: State) -> None:
    for p in state.problems:
        note(f"warning: migration/journal.jsonl:{p.line}: this line {p.message}")


def init(
    start: Annotated[
        str | None, typer.Option("--start", help="The plan's start date, YYYY-MM-DD (default: today, UTC).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing plan.toml.")] = False,
) -> None:
    """Write migration/plan.toml: the seed's phases 0-6, hosts, criteria and red flags, editable by hand."""
    from dendrite.errors import InputError
    from dendrite.migration import ops

    try:
        day = dt.date.fromisoformat(start) if start else None
    except ValueError:
        raise InputError(f"--start {start!r} is not a date", hint="write it as YYYY-MM-DD") from None
    path = ops.init(_root(), day, force=force)
    out.print(f"wrote {path}", markup=False)
    note("see it with `dendrite migrate plan --show`; edit it by hand to add hosts and criteria")


def plan_cmd(
    show: Annotated[bool, typer.Option("--show", help="List the phases and criteria (the default).")] = True,
    json_: JsonOpt = False,
) -> None:
    """The plan: phases, hosts, weeks, and which criteria are probes and which are attestations."""
    from dendrite.migration import ops

    p = ops.load_plan(_root())
    if json_:
        emit_json(
            {
                "name": p.name,
                "start": p.start.isoformat(),
                "total_weeks": p.total_weeks,
                "phases": [
                    {
                        "number": ph.number,
                        "name": ph.name,
                        "hosts": list(ph.hosts),
                        "weeks": ph.weeks,
                        "criteria": [
                            {
                                "id": c.id,
                                "text": c.text,
                                "critical": c.critical,
                                "kind": c.kind,
                                "probe": c.probe.describe() if c.probe else None,
                            }
                            for c in ph.criteria
                        ],
                    }
                    for ph in p.phases
                ],
                "red_flags": list(p.red_flags),
            }
        )
        return
    out.print(f"[bold]{p.name}[/bold]: starts {p.start}, {p.total_weeks} weeks planned")
    for ph in p.phases:
        hosts = ", ".join(ph.hosts) or "no host"
        out.print(f"\n[bold]Phase {ph.number}[/bold] {ph.name} ({hosts}; {ph.weeks} weeks)")
        for c in ph.criteria:
            crit = "critical" if c.critical else "        "
            how = f"probe: {c.probe.describe()}" if c.probe else "attestation"
            out.print(f"  {c.id:30} {crit}  {c.text}", markup=False)
            out.print(f"  {'':30}           {how}", markup=False)
    out.print("\n[bold]Red flags[/bold] (pause or roll back):")
    for f in p.red_flags:
        out.print(f"  - {f}", markup=False)


def status(json_: JsonOpt = False) -> None:
    """Phases, criteria with their last evidence, stability clocks, open red flags, and the next action."""
    from dendrite.migration.load import load_state
    from dendrite.migration.status import summary

    state = load_state(_root())
    _warn_problems(state)
    s = summary(state)
    if json_:
        emit_json(s)
        return
    render_status(s)


def render_status(s: dict[str, Any]) -> None:
    p = out.print
    cur = s["current_phase"]
    p(f"[bold]{s['plan']}[/bold]")
    tl = s["timeline"]
    slip = tl["slip_days"]
    p(
        f"  started {tl['start']}, planned end {tl['planned_end']}, projected end {tl['projected_end']} "
        f"({'+' if slip > 0 else ''}{slip} days), {s['events']} journal events"
    )
    for ph in s["phases"]:
        state = "done" if ph["advanced"] else "current" if ph["number"] == cur else "planned"
        risk = f" (risk accepted: {ph['accepted_risk']})" if ph["accepted_risk"] else ""
        c = ph["counts"]
        p(
            f"\n[bold]Phase {ph['number']}[/bold] {escape(ph['name'])} \\[{state}]{escape(risk)}: "
            f"{c['pass']} passed, {c['fail']} failed, {c['pending']} pending"
        )
        if state == "planned":
            continue
        for cr in ph["criteria"]:
            crit = "!" if cr["critical"] else " "
            ev = f" — {cr['evidence']}" if cr["evidence"] else ""
            wk = f" [workaround: {cr['workaround']}]" if cr["workaround"] else ""
            p(f"  {_MARK[cr['status']]} {crit} {cr['id']}", end="")
            out.print(f": {cr['text']}{ev}{wk}", markup=False)
    p("\n[bold]Stability clocks[/bold]")
    for h in s["hosts"]:
        out.print(f"  {h['name']:10} {h['clock']}", markup=False)
    p("\n[bold]Open red flags[/bold]" + ("" if s["open_flags"] else ": none"))
    for f in s["open_flags"]:
        out.print(
            f"  #{f['id']} {f['severity']:8} {f['host']}: {f['text']} (since {f['opened']})", markup=False
        )
    if s["decision"]:
        p(f"\nPhase {cur} now: [{_OUTCOME_STYLE[s['decision']]}]{s['decision']}[/]")
    out.print(f"next: {s['next']}", markup=False)


def check(
    phase: Annotated[str | None, typer.Argument(help="A phase number (default: the current phase).")] = None,
    criterion: Annotated[str | None, typer.Option("--criterion", "-c", help="Only this criterion.")] = None,
    json_: JsonOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the commands the probes would run; run nothing.")
    ] = False,
) -> None:
    """Run the phase's probes and record each result in the journal; exit 1 when one fails.

    The commands come from migration/plan.toml: on someone else's branch, read them first (--dry-run).
    """
    from dendrite.migration import ops

    if dry_run:
        for c, commands in ops.planned_checks(_root(), phase, criterion):
            for cmd in commands:
                out.print(f"{c.id}: {cmd}", markup=False)
        return
    with progress("probes") as cb:
        ph, results = ops.check(_root(), phase, criterion, cb)
    if json_:
        emit_json([r.event() for r in results])
    else:
        out.print(f"[bold]Phase {ph.number}[/bold] {ph.name}: {len(results)} probes")
        for r in results:
            mark = {"pass": _MARK["pass"], "fail": _MARK["fail"]}.get(r.status, "[yellow]?[/yellow]")
            out.print(f"  {mark} {r.criterion} ", end="")
            out.print(f"({r.seconds:.1f} s): {r.detail}", markup=False)
            if r.status == "fail" and r.excerpt:
                for line in r.excerpt.splitlines()[-5:]:
                    out.print(f"      {line}", markup=False)
        unavailable = [r.criterion for r in results if r.status == "unavailable"]
        if unavailable:
            note(f"unavailable here (a program is missing), still pending: {', '.join(unavailable)}")
    if any(r.status == "fail" for r in results):
        raise typer.Exit(1)


def attest(
    phase: PhaseArg,
    criterion: Annotated[str, typer.Argument(help="The criterion's id, as `migrate plan --show` lists it.")],
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="What shows the criterion holds (a file, a log, a link).")
    ] = None,
    workaround: Annotated[
        str | None,
        typer.Option("--workaround", help="For a failing non-critical criterion: how you live with it."),
    ] = None,
) -> None:
    """Record that a criterion holds, with evidence (or a workaround for a non-critical one)."""
    from dendrite.errors import InputError
    from dendrite.migration import ops

    if (evidence is None) == (workaround is None):
        raise InputError("give exactly one of --evidence and --workaround")
    e = ops.attest(_root(), phase, criterion, evidence or workaround or "", workaround=workaround is not None)
    what = "workaround" if workaround is not None else "attested"
    out.print(f"{what}: Phase {e['phase']} {e['criterion']} ({e['ts']})", markup=False)


def flag(
    host: Annotated[str, typer.Argument(help="The host the red flag is about.")],
    text: Annotated[str, typer.Argument(help="What is wrong.")],
    severity: Annotated[str, typer.Option("--severity", help="critical, major or minor.")] = "major",
) -> None:
    """Open a red flag on a host: its stability clock stops until the flag is resolved."""
    from dendrite.migration import ops

    e = ops.flag(_root(), host, text, severity)
    out.print(f"red flag #{e['id']} ({e['severity']}) on {e['host']}: {e['text']}", markup=False)
    note(f"{host}'s stability clock is stopped; `dendrite migrate resolve {e['id']}` starts it again")


def resolve(
    flag_id: Annotated[int, typer.Argument(metavar="ID", help="The red flag's number.")],
    note_: Annotated[str, typer.Option("--note", help="How it was resolved.")] = "",
) -> None:
    """Resolve a red flag: the host's stability clock starts again, from zero."""
    from dendrite.migration import ops

    e = ops.resolve(_root(), flag_id, note_)
    out.print(f"resolved red flag #{flag_id} on {e['host']}; its stability clock restarts now", markup=False)


def deployed(
    host: Annotated[str, typer.Argument(help="The host now running its dendritic configuration.")],
    at: Annotated[
        str | None, typer.Option("--at", help="When, in UTC (2026-12-01T09:30:00Z); default: now.")
    ] = None,
    note_: Annotated[str, typer.Option("--note", help="What was deployed (a commit, a generation).")] = "",
) -> None:
    """Record a deployment: the host's stability clock starts."""
    from dendrite.errors import InputError
    from dendrite.migration import ops

    when = None
    if at:
        try:
            when = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"--at {at!r} is not a date and time", hint="e.g. 2026-12-01T09:30:00Z"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
    e = ops.deployed(_root(), host, when, note_)
    out.print(f"{host} deployed at {e['ts']}; its stability clock runs", markup=False)


def render_decision(d: Decision) -> None:
    out.print(f"Phase {d.phase}: [{_OUTCOME_STYLE[d.outcome]}]{d.outcome}[/]")
    for r in d.reasons:
        mark = "-" if r.code in ("ok", "workaround") else "✘"
        out.print(f"  {mark} {r.text}", markup=False)
    if d.alternatives:
        out.print("the seed's alternatives:")
        for a in d.alternatives:
            out.print(f"  {a}", markup=False)


def decide(phase: PhaseArg, json_: JsonOpt = False) -> None:
    """GO / CONDITIONAL GO / NO-GO for a phase by the seed's framework, with every reason; exit 1 on NO-GO."""
    from dendrite.migration import ops

    d = ops.decision(_root(), phase)
    if json_:
        emit_json(d.to_json())
    else:
        render_decision(d)
    if d.outcome == "NO-GO":
        raise typer.Exit(1)


def advance(
    phase: PhaseArg,
    accept_risk: Annotated[
        str | None,
        typer.Option(
            "--accept-risk", help="Advance without a GO; the journal keeps this text and the reasons."
        ),
    ] = None,
) -> None:
    """Declare a phase done. Refused (exit 1) unless the decision is GO or --accept-risk says why."""
    from dendrite.migration import ops

    d, event = ops.advance(_root(), phase, accept_risk)
    if event is None:
        render_decision(d)
        err.print(
            f"refused: Phase {d.phase} is {d.outcome}; advance it with --accept-risk TEXT to take the risk",
            markup=False,
        )
        raise typer.Exit(1)
    risk = f" with the risk accepted ({event['accepted_risk']})" if "accepted_risk" in event else ""
    out.print(f"Phase {d.phase} advanced ({d.outcome}){risk} at {event['ts']}", markup=False)


def rollback(
    host: Annotated[str, typer.Argument(help="The host to roll back.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the commands, run nothing.")] = False,
) -> None:
    """Print the host's rollback commands and, without --dry-run, run them and record them; exit 1 on failure."""
    from dendrite.migration import ops

    steps = ops.rollback_host(_root(), host, dry_run=dry_run)
    for s in steps:
        if dry_run:
            out.print(s.text, markup=False)
        else:
            detail = f" ({s.detail})" if s.detail else ""
            out.print(f"{s.text}  -> exit {s.exit if s.exit is not None else '-'}{detail}", markup=False)
    if not dry_run:
        ok = all(s.exit == 0 for s in steps)
        note(f"rollback of {host} {'done' if ok else 'FAILED'}; recorded in migration/journal.jsonl")
        if not ok:
            raise typer.Exit(1)


def report(
    html: Annotated[Path | None, typer.Option("--html", help="Write one self-contained HTML file.")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write INTEGRATION-FINDINGS.md and PATTERNS.md in DIR.")
    ] = None,
) -> None:
    """The dashboard (timeline, hosts x criteria, zerotier topology, red flags, events) or the seed's findings."""
    from dendrite.errors import InputError
    from dendrite.migration import ops, report_html, report_md

    if (html is None) == (markdown is None):
        raise InputError(
            "give exactly one of --html FILE (the dashboard) or --markdown DIR (the seed's findings)",
            hint="e.g. dendrite migrate report --html migration/report.html",
        )
    root = _root()
    state = ops.load_state(root)
    _warn_problems(state)
    if html is not None:
        path = report_html.write(state, root, html)
        out.print(f"wrote {path}", markup=False)
    else:
        assert markdown is not None
        for path in report_md.write(state, markdown):
            out.print(f"wrote {path}", markup=False)


def demo_section(root: Path) -> None:
    """The demo's migration: its status, indented, and where the HTML report is."""
    from dendrite.migration import ops
    from dendrite.migration.demo import REPORT
    from dendrite.migration.status import summary

    out.print(
        f"  migration control: {root / 'migration' / 'plan.toml'} and journal.jsonl (Phase 1 in its window):"
    )
    s = summary(ops.load_state(root))
    for ph in s["phases"][:2]:
        c = ph["counts"]
        state = f"advanced {ph['advanced']}" if ph["advanced"] else "current"
        out.print(
            f"    Phase {ph['number']} {ph['name']} ({state}): {c['pass']} passed, {c['fail']} failed, {c['pending']} pending",
            markup=False,
        )
    for h in s["hosts"][:2]:
        out.print(f"    clock {h['name']}: {h['clock']}", markup=False)
    out.print(f"    open red flags: {len(s['open_flags'])}; next: {s['next']}", markup=False)
    out.print(f"    HTML report: {root / REPORT}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the migration-control commands to the `migrate` group."""
    app.command("init")(init)
    app.command("plan")(plan_cmd)
    app.command("status")(status)
    app.command("check")(check)
    app.command("attest")(attest)
    app.command("flag")(flag)
    app.command("resolve")(resolve)
    app.command("deployed")(deployed)
    app.command("decide")(decide)
    app.command("advance")(advance)
    app.command("rollback")(rollback)
    app.command("report")(report)
