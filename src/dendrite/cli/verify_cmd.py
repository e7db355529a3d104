"""`dendrite migrate verify`: is a migrated host the same system? Rendering only; see dendrite.drv.verify.

The drv package is imported inside the command, so that `dendrite --help` and every other command
start without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dendrite.cli.common import emit_json, err, out, progress, repo

if TYPE_CHECKING:
    from dendrite.drv.diff import DrvDiff
    from dendrite.drv.verify import HostVerdict

SHOWN = 10  # differences printed per host; --json has them all

EXIT_DIFFERENT = 1  # as diff(1): the systems differ; 2 is bad input, as everywhere in dendrite


def register(app: typer.Typer) -> None:
    """Add `verify` to the `migrate` command group."""
    app.command("verify")(verify_cmd)


def verify_cmd(
    hosts: Annotated[
        list[str], typer.Argument(help="Hosts to verify (nixosConfigurations or darwinConfigurations names).")
    ],
    old: Annotated[
        str, typer.Option("--old", help="The pre-migration tree: a git ref of the repository or a directory.")
    ] = "HEAD",
    new: Annotated[
        str | None,
        typer.Option("--new", help="The migrated tree: a git ref or a directory (default: the repository)."),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print every host's verdict and diff tree as JSON.")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Evaluations run at once.")] = 2,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds each evaluation may take.")
    ] = 600.0,
    expr: Annotated[
        Path | None,
        typer.Option(
            "--expr", help="An entry expression `{ src }: outputs` to evaluate instead of the flake."
        ),
    ] = None,
) -> None:
    """Evaluate each host's system derivation from the old and the new tree and compare them.

    Exit 0 when every host is the same system (identical, or only the flake's own sources moved),
    1 when one differs, 2 when a host could not be evaluated.
    """
    from dendrite.drv.verify import verify_hosts

    root = repo().root
    with progress("evaluating") as update:
        verdicts = verify_hosts(
            hosts,
            old=old,
            new=new if new is not None else str(root),
            repo_root=root,
            expr=expr,
            jobs=jobs,
            timeout=timeout,
            progress=update,
        )
    if json_:
        emit_json([v.to_json() for v in verdicts])
    else:
        for v in verdicts:
            _render(v)
    if any(v.error is not None for v in verdicts):
        for v in verdicts:
            if v.error is not None:
                err.print(f"error: {v.error}", markup=False, style="bold red")
                for line in v.detail:
                    err.print(f"  {line}", markup=False)
        raise typer.Exit(2)
    if any(v.verdict == "different" for v in verdicts):
        raise typer.Exit(EXIT_DIFFERENT)


def _render(v: HostVerdict) -> None:
    if v.comparison is None:
        return  # its error is printed last, on stderr
    verdict = v.verdict
    if verdict == "different":
        n = v.differences
        out.print(f"{v.host}: different, {n} derivation{'s' if n != 1 else ''} changed", markup=False)
    else:
        out.print(f"{v.host}: {verdict} ({v.new})", markup=False)
    diffs = v.comparison.differences
    for d in diffs[:SHOWN]:
        _render_diff(d)
    if len(diffs) > SHOWN:
        out.print(f"  ... and {len(diffs) - SHOWN} more (--json shows them all)", markup=False)


def _render_diff(d: DrvDiff) -> None:
    p = out.print
    p(f"  {' > '.join(d.path)}", markup=False)
    for f in d.fields:
        p(f"    {f.field}: {f.old} -> {f.new}", markup=False)
    for e in d.env:
        if e.diff:
            p(f"    env {e.key}:", markup=False)
            for line in e.diff:
                p(f"      {line}", markup=False)
        elif e.old is None:
            p(f"    env {e.key} added: {e.new!r}", markup=False)
        elif e.new is None:
            p(f"    env {e.key} removed (was {e.old!r})", markup=False)
        else:
            p(f"    env {e.key}: {e.old!r} -> {e.new!r}", markup=False)
    for label, paths in (
        ("input derivation added", d.drvs_added),
        ("input derivation removed", d.drvs_removed),
        ("input source added", d.srcs_added),
        ("input source removed", d.srcs_removed),
    ):
        for path in paths:
            p(f"    {label}: {path}", markup=False)
    for a, b in d.srcs_changed:
        p(f"    input source changed: {a} -> {b}", markup=False)
