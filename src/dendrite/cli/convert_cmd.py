"""`dendrite migrate scan|convert`: what nixos-unified autowires, and the dendritic tree written beside it.

The layout packages are imported inside each command, so that the other `migrate` commands (`status`
reads the journal many times a day) start without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dendrite.cli import columns
from dendrite.cli.common import emit_json, note, out, repo
from dendrite.errors import InputError

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RootArg = Annotated[
    Path | None, typer.Argument(help="Repository root or import root (default: the repository).")
]


def register(app: typer.Typer) -> None:
    """Add `scan` and `convert` to the `migrate` command group."""
    app.command("scan")(scan_cmd)
    app.command("convert")(convert_cmd)


def scan_cmd(root: RootArg = None, json_: JsonOpt = False) -> None:
    """What nixos-unified autowires here, every use of `flake`, the implicit modules, and the migration map."""
    from dendrite.layout.unified import scan

    s = scan(root or repo().root)
    if not s.is_unified:
        raise InputError(
            f"{s.root} has no nixos-unified layout",
            hint="expected configurations/ or modules/{nixos,darwin,home}",
        )
    if json_:
        emit_json(
            {
                "entries": [
                    {"kind": e.kind, "name": e.name, "source": str(e.source), "class": e.cls}
                    for e in s.entries
                ],
                "flakeUses": [
                    {"file": str(u.file), "line": u.line, "text": u.text, "kind": u.kind} for u in s.uses
                ],
                "implicit": s.implicit,
                "map": [{"source": a, "target": b, "name": c} for a, b, c in s.mapping],
                "notes": s.notes,
            }
        )
        return
    out.print(f"{len(s.entries)} autowired entries:", markup=False)
    columns.print_table([(f"  {e.kind}", e.name, str(e.source.relative_to(s.root))) for e in s.entries])
    out.print(f"{len(s.uses)} uses of the `flake` special argument:", markup=False)
    for u in s.uses:
        out.print(f"  {u.file.relative_to(s.root)}:{u.line}: {u.text} ({u.kind})", markup=False)
    out.print("implicit modules to recreate:", markup=False)
    for i in s.implicit:
        out.print(f"  {i}", markup=False)
    out.print("migration map:", markup=False)
    for a, b, c in s.mapping:
        out.print(f"  {a} -> {b}  ({c})", markup=False)
    for n in s.notes:
        out.print(f"  note: {n}", markup=False)


def convert_cmd(
    root: RootArg = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where the dendritic tree goes.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and a diff.")] = False,
    flake: Annotated[bool, typer.Option("--flake", help="Also write flake.dendritic.nix.")] = False,
    partial: Annotated[
        bool, typer.Option("--partial", help="Write what converts even when some files do not.")
    ] = False,
) -> None:
    """Write the dendritic tree beside the old one; configurations/ and the old modules are never touched.

    A file that cannot be converted (it does not parse, it is a link...) stops the run before anything
    is written, unless --partial: a tree without one of its hosts must not look like a finished migration.
    """
    from dendrite.layout import convert as conv

    p = conv.plan(root or repo().root, out_dir, flake)
    refuse = bool(p.unconverted) and not partial
    if dry_run:
        changed = p.changed()
        for path in changed:
            out.print(f"would write {path}", markup=False)
        if not changed:
            note("nothing would change: the converted tree is up to date")
        out.print(p.diff(), markup=False, end="")
    elif not refuse:
        for path in conv.write(p):
            out.print(f"wrote {path}", markup=False)
    if refuse:
        more = (
            f" ({len(p.unconverted) - 1} more files cannot be converted either)"
            if len(p.unconverted) > 1
            else ""
        )
        raise InputError(
            f"cannot convert {p.unconverted[0]}{more}; "
            + ("nothing would be written" if dry_run else "nothing was written"),
            hint="fix it and run again, or pass --partial to convert the rest and leave it in place",
        )
    for line in p.report:
        note(line)
