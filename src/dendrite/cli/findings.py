"""The one renderer of findings (`dendrite.findings`): text, `--json` and `--sarif` (SARIF 2.1.0), for
`layout lint`, `inventory validate`, `secrets check` and `vars check` alike.

Why each command still picks its text line: the four commands printed findings in four shapes before
they shared a renderer, and the README and scripts read those lines; the JSON keeps each command's old
keys beside the common ones for the same reason. Everything else (the hint line, the summary on stderr,
SARIF, the exit code) is the same for all four.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from dendrite import __version__
from dendrite.cli.common import emit_json, note, out
from dendrite.findings import Finding, Location, Rule, has_errors

SarifOpt = Annotated[bool, typer.Option("--sarif", help="SARIF 2.1.0 output (for code scanning).")]
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "SRCROOT"  # SARIF's base id for uris relative to the repository


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


def output_format(json_: bool, sarif: bool) -> Format:
    """`--sarif` wins over `--json`, as it always has for `layout lint`."""
    return Format.SARIF if sarif else Format.JSON if json_ else Format.TEXT


# ---- the text line of each command ---------------------------------------------------------------


def compiler_line(f: Finding) -> str:
    """`file:line:col: error D002: message`, the compiler's shape editors jump to (`layout lint`)."""
    return f"{f.location}: {f.severity} {f.rule}: {f.message}"


def severity_line(f: Finding) -> str:
    """`warning: class-no-module: message (file:line)` (`inventory validate`)."""
    return f"{f.severity}: {f.rule}: {f.message}" + (f" ({f.where})" if f.where else "")


def subject_line(f: Finding) -> str:
    """`drifted: drift: message`, `cinnabar: openssh/key: missing: message` (`secrets check`, `vars check`)."""
    return ": ".join([*(value for _, value in f.subject), f.rule, f.message])


@dataclass(frozen=True)
class Report:
    """One command's findings, its rules, and the few things that differ between commands."""

    findings: Sequence[Finding]
    rules: Mapping[str, Rule]
    root: Path  # the repository: SARIF's uris are relative to it
    line: Callable[[Finding], str]  # the command's text line
    legacy_keys: tuple[str, ...] = ()  # the keys the command's --json had before one Finding
    summary: str = ""  # said on stderr after the text


def emit(report: Report, fmt: Format) -> None:
    """Print the report in `fmt`; exit 1 when it holds an error (every command's contract)."""
    if fmt is Format.SARIF:
        emit_json(sarif(report))
    elif fmt is Format.JSON:
        emit_json([as_json(f, report.legacy_keys, report.rules) for f in report.findings])
    else:
        _text(report)
    if has_errors(report.findings):
        raise typer.Exit(1)


def hint_of(f: Finding, rules: Mapping[str, Rule]) -> str:
    """The finding's own hint, else its rule's general fix: no finding in JSON without what to do."""
    rule = rules.get(f.rule)
    return f.hint or (rule.hint if rule is not None else "")


def _text(report: Report) -> None:
    for f in report.findings:
        out.print(report.line(f), markup=False)
        if f.hint:  # the rule's general fix is in `--json` and SARIF; the text stays one line a finding
            out.print(f"  hint: {f.hint}", markup=False)
    if report.summary:
        note(report.summary)


def summary(findings: Sequence[Finding], what: str) -> str:
    """`<what>: N error(s), M warning(s)`, the count `layout lint` and `inventory validate` end with."""
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = sum(1 for f in findings if f.severity == "warning")
    return f"{what}: {errors} error(s), {warnings} warning(s)"


# ---- JSON ----------------------------------------------------------------------------------------


def _location_json(loc: Location | None) -> dict[str, Any] | None:
    return None if loc is None else {"file": loc.file, "line": loc.line, "column": loc.column}


def as_json(
    f: Finding, legacy_keys: tuple[str, ...] = (), rules: Mapping[str, Rule] | None = None
) -> dict[str, Any]:
    """The common shape (rule, severity, message, hint, location), what it is about, and the old keys."""
    data: dict[str, Any] = {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "hint": hint_of(f, rules or {}),
        "location": _location_json(f.location),
    }
    data.update(f.subject)
    data.update({key: getattr(f, key) for key in legacy_keys})
    return data


# ---- SARIF 2.1.0 ---------------------------------------------------------------------------------


def _uri(file: str, root: Path) -> tuple[str, str | None]:
    """(uri, base id): relative to the repository when the file is inside it, a file: uri otherwise.

    Why `abspath` and not `resolve`: a finding may be about a symbolic link, which must not be followed.
    """
    path = Path(os.path.abspath(file)) if Path(file).is_absolute() else None
    if path is None:
        return Path(file).as_posix(), SRCROOT
    for base in (root.absolute(), root.resolve()):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix() or ".", SRCROOT
    return path.as_uri(), None


def _physical(loc: Location, root: Path) -> dict[str, Any]:
    uri, base = _uri(loc.file, root)
    artifact: dict[str, Any] = {"uri": uri, **({"uriBaseId": base} if base else {})}
    region: dict[str, int] = {}
    if loc.line is not None:  # a column without a line means nothing to a SARIF viewer
        region["startLine"] = loc.line
        if loc.column is not None:
            region["startColumn"] = loc.column
    return {"physicalLocation": {"artifactLocation": artifact, **({"region": region} if region else {})}}


def _result(f: Finding, index: Mapping[str, int], root: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "level": f.severity.sarif_level,
        "message": {"text": f.message},
    }
    if f.rule in index:
        result["ruleIndex"] = index[f.rule]
    if f.locations:
        result["locations"] = [_physical(f.locations[0], root)]
    if len(f.locations) > 1:
        result["relatedLocations"] = [_physical(loc, root) for loc in f.locations[1:]]
    properties = {**dict(f.subject), **({"hint": f.hint} if f.hint else {})}
    if properties:
        result["properties"] = properties
    return result


def _rule(r: Rule) -> dict[str, Any]:
    return {
        "id": r.id,
        "shortDescription": {"text": r.title},
        "help": {"text": r.hint or r.title},
        "defaultConfiguration": {"level": r.severity.sarif_level},
    }


def sarif(report: Report) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one run: the command's rules and every finding as a result."""
    index = {rule_id: i for i, rule_id in enumerate(report.rules)}
    return {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dendrite",
                        "version": __version__,
                        "rules": [_rule(r) for r in report.rules.values()],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": report.root.absolute().as_uri() + "/"}},
                "results": [_result(f, index, report.root) for f in report.findings],
            }
        ],
    }
