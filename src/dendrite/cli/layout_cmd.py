"""`dendrite layout …`: the repository's Nix layout, read statically (`migrate scan|convert`: convert_cmd)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from dendrite.cli import columns
from dendrite.cli.common import emit_json, note, out, repo
from dendrite.cli.findings import Format, Report, SarifOpt, compiler_line, emit, output_format, summary
from dendrite.errors import InputError
from dendrite.layout.discovery import discover
from dendrite.layout.lint import RULES, analyse_files, lint, safe_import_root
from dendrite.layout.namespace import hosts, namespace, parse_all
from dendrite.repofs import RepoFS
from dendrite.text import did_you_mean

# the classes of flake.modules every dendritic repository may use, whether or not this one does yet
CLASSES = ("nixos", "darwin", "homeManager", "generic", "flake")

app = typer.Typer(help="import-tree discovery, the dendritic namespace, and lint.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
RootArg = Annotated[
    Path | None, typer.Argument(help="Repository root or import root (default: the repository).")
]


def _roots(root: Path | None) -> tuple[Path, Path]:
    """(repository, import root); a symlinked or FIFO flake.nix, or an import root outside, is refused.

    The repository (no argument) is read as its flake reads it, with the import root the inventory's
    static reader uses too (flake.nix's `import-tree ./x`, else modules/), so `layout files` and
    `inventory show` agree on what the flake sees. A directory named on the command line without a
    flake.nix is itself the import root (`dendrite layout lint dendritic`).
    """
    base = (root or repo().root).resolve()
    if not base.is_dir():
        raise InputError(f"{base} is not a directory")
    if root is not None and RepoFS(base).kind("flake.nix") is None:
        return base, base
    return base, safe_import_root(base)


def _note_skipped(messages: list[str]) -> None:
    for m in messages:
        note(f"skipped: {m}")


@app.command("files")
def files_cmd(root: RootArg = None, json_: JsonOpt = False) -> None:
    """What import-tree imports (git-tracked files only inside a git repository)."""
    _, import_dir = _roots(root)
    d = discover(import_dir)
    rel = [str(p.relative_to(d.root)) for p in d.files]
    if json_:
        emit_json({"root": str(d.root), "files": rel, "untracked": [str(p) for p in d.untracked]})
        return
    for r in rel:
        out.print(r, markup=False)
    for p in d.untracked:
        note(f"untracked, so not imported: {p}")
    for n in d.notes:
        note(n)


@app.command("modules")
def modules_cmd(
    root: RootArg = None,
    cls: Annotated[
        str | None, typer.Option("--class", help="Only this class (nixos, darwin, homeManager...).")
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Every flake.modules.<class>.<name> and the files that define it."""
    _, import_dir = _roots(root)
    found: dict[str, dict[str, list[str]]] = {}
    for findings, facts in analyse_files(list(discover(import_dir).files), import_dir):  # every core
        if facts is None:  # unreadable (a symlink, a FIFO) or unparsable: said on stderr, left out
            _note_skipped([str(f) for f in findings if f.rule == "D001"])
            continue
        for c, n, line in facts.definitions:
            found.setdefault(c, {}).setdefault(n, []).append(f"{facts.path}:{line}")
    if cls is not None:
        known = tuple(sorted(set(found) | set(CLASSES)))
        if cls not in known:  # a typo must not look like "no modules of this class"
            raise InputError(f"no module has the class '{cls}'", hint=did_you_mean(cls, known))
        found = {c: names for c, names in found.items() if c == cls}
    data = {c: dict(sorted(names.items())) for c, names in sorted(found.items())}
    if json_:
        emit_json(data)
        return
    if not data:  # said, so that an empty answer does not look like a broken command
        which = f"flake.modules.{cls}" if cls else "flake.modules"
        note(f"no {which} definition in the files import-tree imports from {import_dir}")
    for c, names in data.items():
        for n, places in names.items():
            out.print(f"{c}.{n}\t{', '.join(places)}", markup=False)


@app.command("hosts")
def hosts_cmd(root: RootArg = None, json_: JsonOpt = False) -> None:
    """Which host composes which modules."""
    _, import_dir = _roots(root)
    skipped: list[str] = []
    files = parse_all(discover(import_dir).files, import_dir, skipped)
    _note_skipped(skipped)
    found = hosts(files, namespace(files))
    if json_:
        emit_json([asdict(h) for h in found])
        return
    if not found:
        note(
            f"no host in the files import-tree imports from {import_dir} "
            "(clan.machines, flake.nixosConfigurations or flake.darwinConfigurations)"
        )
    for h in found:
        out.print(f"{h.name} ({h.cls}, via {h.via}): {', '.join(h.modules) or '-'}", markup=False)


@app.command("lint")
def lint_cmd(
    root: RootArg = None,
    json_: JsonOpt = False,
    sarif_: SarifOpt = False,
) -> None:
    """The dendritic rules; exit 1 on errors. Silence one line with `# dendrite: ignore D00N`."""
    base, import_dir = _roots(root)
    findings = lint(base, import_dir)
    fmt = output_format(json_, sarif_)
    files = len(discover(import_dir).entries) if fmt is Format.TEXT else 0  # for the summary: all linted
    report = Report(
        findings, RULES, base, compiler_line, ("file", "line", "column"), summary(findings, f"{files} files")
    )
    emit(report, fmt)


@app.command("rules")
def rules_cmd(json_: JsonOpt = False) -> None:
    """The lint rules."""
    if json_:
        emit_json(
            [
                {"id": r.id, "severity": r.severity.value, "title": r.title, "hint": r.hint}
                for r in RULES.values()
            ]
        )
        return
    columns.print_table([(r.id, r.severity.value, r.title) for r in RULES.values()])
