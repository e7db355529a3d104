"""`dendrite nix …`: syntax checks, literal evaluation and Nix printing, with no Nix installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dendrite import boundedjson
from dendrite.cli import render
from dendrite.cli.check_syntax import collect
from dendrite.cli.check_syntax import render as render_report
from dendrite.cli.common import emit_json, err, out
from dendrite.errors import InputError
from dendrite.nixlang import NotLiteral, evaluate, markers, parse_file, to_nix
from dendrite.nixlang.source import ParsedFile

app = typer.Typer(
    help="Parse, check and evaluate Nix files with dendrite's own parser.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("check-syntax")
def check_syntax(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files, or directories: the .nix files import-tree would import (no `_` paths)."),
    ],
    json_: JsonOpt = False,
) -> None:
    """Report every syntax error as file:line:col: message; exit 1 if there is any."""
    report = collect(paths)
    if json_:
        for n in report.notes:
            err.print(n, markup=False)
        emit_json(
            {
                "files": len(report.results),
                "errors": [
                    {
                        "file": d.path,
                        "line": d.position.line,
                        "column": d.position.column,
                        "byte": d.position.byte,
                        "message": d.message,
                    }
                    for d in report.problems
                ],
                "untracked": [str(p) for p in report.untracked],
            }
        )
        code = 1 if report.problems else 0
    else:
        code = render_report(report, out, err)
    if code:
        raise typer.Exit(code)


def _jsonable(value: Any, parsed: ParsedFile) -> Any:
    if isinstance(value, NotLiteral):
        p = parsed.position(value.offset)
        return {"__notLiteral": value.reason, "at": f"{parsed.path}:{p.line}:{p.column}"}
    if isinstance(value, dict):
        return {k: _jsonable(v, parsed) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, parsed) for v in value]
    return value


@app.command("eval-literal")
def eval_literal(
    file: Path,
    attr: Annotated[str | None, typer.Option(help="Only this attribute path, e.g. flake.meta.owner.")] = None,
    json_: JsonOpt = False,
) -> None:
    """Evaluate what is literal in FILE (a module is called with {}); exit 1 if a part is not literal."""
    parsed = parse_file(file)
    if not parsed.ok:
        for d in parsed.diagnostics:
            err.print(str(d), markup=False)
        raise typer.Exit(1)
    value = evaluate(parsed.result.root, where=parsed.location)
    for name in attr.split(".") if attr else []:
        if isinstance(value, dict) and name in value:
            value = value[name]
        elif isinstance(value, NotLiteral):
            break
        else:
            from dendrite.text import did_you_mean

            known = tuple(str(k) for k in value) if isinstance(value, dict) else ()
            hint = did_you_mean(name, known) if known else "that part is not an attribute set"
            raise InputError(f"{file}: attribute path '{attr}' not found (at '{name}')", hint=hint)
    missing = markers(value)
    if json_:
        emit_json(_jsonable(value, parsed))
    elif not missing:
        out.print(to_nix(value), markup=False)
    else:  # the literal parts as Nix, each other part marked where it is; the reasons follow on stderr

        def mark(v: Any) -> str:
            if not isinstance(v, NotLiteral):
                raise InputError(f"{file}: a {type(v).__name__} has no Nix literal")
            p = parsed.position(v.offset)
            return f"«not literal: {p.line}:{p.column}»"

        out.print(render.nix(value, other=mark, expand_sets=True), markup=False)
    for m in missing:
        p = parsed.position(m.offset)
        err.print(f"{parsed.path}:{p.line}:{p.column}: not literal: {m.reason}", markup=False)
    if missing:
        raise typer.Exit(1)


@app.command("fmt-literal")
def fmt_literal(width: Annotated[int, typer.Option(help="Line width for inline lists.")] = 100) -> None:
    """Read JSON on stdin, print it as a Nix expression."""
    try:
        value = boundedjson.loads(sys.stdin.read(), "stdin")
    except json.JSONDecodeError as exc:
        raise InputError(f"stdin is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    out.print(to_nix(value, width=width), markup=False)
