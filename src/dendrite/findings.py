"""The one home of a finding: what `layout lint`, `inventory validate`, `secrets check` and `vars check`
report, in SARIF's terms (a rule, a level, a message, a location).

Why one type: the four checks used to have four result types and four renderings; one `Finding` lets the
CLI render all of them the same way (text, JSON, SARIF 2.1.0) and lets a reader find the concept in one
place. The library only builds findings; printing them is the CLI's business (`dendrite.cli.findings`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is. A `StrEnum`, so `f.severity == "error"` and the JSON value stay plain strings."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def sarif_level(self) -> str:
        """SARIF's name for it: SARIF has no "info", its lowest level is "note"."""
        return "note" if self is Severity.INFO else self.value

    @property
    def rank(self) -> int:
        """Sort key: errors first."""
        return list(Severity).index(self)


@dataclass(frozen=True)
class Location:
    """Where a finding is: a file (as the check names it, often absolute), and a line and column when known."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        return ":".join(str(p) for p in (self.file, self.line, self.column) if p is not None)


@dataclass(frozen=True)
class Rule:
    """One kind of finding: its stable id, default severity, a title and the general fix (SARIF's rule)."""

    id: str
    severity: Severity
    title: str
    hint: str = ""


def catalogue(rules: Iterable[Rule]) -> dict[str, Rule]:
    """Rules by id, in the order given (the order `layout rules` and SARIF's `rules` list them)."""
    return {r.id: r for r in rules}


@dataclass(frozen=True)
class Finding:
    """One problem a check found.

    `locations` holds the primary place first (a setting defined in several files has several);
    `subject` names what the finding is about, as (key, value) pairs such as (("machine", "orb"),
    ("var", "openssh/ssh.id_ed25519")): the keys are the ones each command's `--json` has always had.
    """

    rule: str
    severity: Severity
    message: str
    hint: str = ""
    locations: tuple[Location, ...] = ()
    subject: tuple[tuple[str, str], ...] = ()

    @property
    def location(self) -> Location | None:
        return self.locations[0] if self.locations else None

    def about(self, key: str) -> str:
        """The subject's value for `key` ("" when the finding has none)."""
        return dict(self.subject).get(key, "")

    # The names the four result types had before there was one Finding: kept so that callers and the
    # commands' JSON (the README's and the tests' shape) keep working.

    @property
    def code(self) -> str:
        return self.rule

    @property
    def kind(self) -> str:
        return self.rule

    @property
    def detail(self) -> str:
        return self.message

    @property
    def where(self) -> str:
        return ", ".join(str(loc) for loc in self.locations)

    @property
    def file(self) -> str:
        return self.location.file if self.location else ""

    @property
    def line(self) -> int:
        return (self.location.line if self.location else None) or 1

    @property
    def column(self) -> int:
        return (self.location.column if self.location else None) or 1

    @property
    def machine(self) -> str:
        return self.about("machine")

    @property
    def var(self) -> str:
        return self.about("var")

    @property
    def secret(self) -> str:
        return self.about("secret")


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether a check failed: every command exits 1 when this holds."""
    return any(f.severity is Severity.ERROR for f in findings)
