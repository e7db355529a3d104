"""`secrets check` and `secrets fix`: recipients on disk versus the links, and link damage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.findings import Finding, Location, Rule, Severity, catalogue
from dendrite.secrets import rekey
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.recipients import Resolver
from dendrite.secrets.store import SecretsStore
from dendrite.text import shown

RULES = catalogue(
    [
        Rule(
            "drift",
            Severity.ERROR,
            "a secret's recipients differ from its member links",
            "run 'dendrite secrets fix' to re-key it",
        ),
        Rule(
            "link",
            Severity.ERROR,
            "a broken or misplaced member link",
            "run 'dendrite secrets fix' to remove it; a planted file or directory is left for you",
        ),
        Rule("unreadable", Severity.ERROR, "a secret file that cannot be read as a sops file", "look at it"),
    ]
)


def _finding(kind: str, ref: SecretRef, detail: str, at: Path) -> Finding:
    """A finding about one secret, located at the file or link it is about."""
    return Finding(
        kind, RULES[kind].severity, detail, locations=(Location(str(at)),), subject=(("secret", ref.label),)
    )


def check(store: SecretsStore) -> list[Finding]:
    """Every secret (legacy and vars) whose recipients are not exactly its members, and link damage."""
    out: list[Finding] = []
    resolver = Resolver(store.layout)
    listing = store.layout.fs.tree(store.layout.secrets(), depth=2) or {}
    for ref, kind in store.layout.planted_secrets(listing):
        what = {"link": "a symbolic link", "dir": "a directory"}.get(
            kind, "a special file (FIFO, socket or device)"
        )
        detail = f"{ref.file.relative_to(store.layout.root)} is {what}, not a sops file: dendrite neither reads nor re-keys it"
        out.append(_finding("unreadable", ref, detail, ref.file))
    for ref in store.layout.all_secrets(listing):
        got = resolver.collect(ref)
        for p in got.problems:
            out.append(_finding("link", ref, f"{p.link.relative_to(store.layout.root)} {p.reason}", p.link))
        try:
            current = rekey.file_recipients(ref, store.layout.fs)
        except DendriteError as exc:
            out.append(_finding("unreadable", ref, exc.message, ref.file))
            continue
        drift = _drift(current, frozenset(got.keys))
        if drift:
            out.append(_finding("drift", ref, drift, ref.file))
    return out


def _drift(current: frozenset[SopsKey], wanted: frozenset[SopsKey]) -> str:
    """What differs between the recipients on disk and the wanted ones ("" when nothing does)."""
    parts = []
    if wanted - current:
        parts.append(
            "not encrypted to " + ", ".join(shown(k) for k in sorted(k.publickey for k in wanted - current))
        )
    if current - wanted:
        parts.append(
            "still encrypted to " + ", ".join(shown(k) for k in sorted(k.publickey for k in current - wanted))
        )
    return "; ".join(parts)


@dataclass(frozen=True)
class FixResult:
    links_removed: int
    rekeyed: int


def fix(store: SecretsStore) -> FixResult:
    """Remove broken and misplaced member links (as links, never followed), then re-key every drifted secret.

    Only symlinks are removed: a file or directory planted where a link belongs is reported by
    `check` and left for a person to look at, and a good link to a member whose key.json is bad stays.
    """
    fs = store.layout.fs
    removed = 0
    with store.writing() as scratch:
        bad: dict[Path, Path] = {}  # link -> the directory pruning stops at
        resolver = Resolver(store.layout)
        for g in store.groups():
            for p in resolver.group(g).problems:
                if p.removable:
                    bad.setdefault(p.link, store.layout.group(g))
        for ref in store.layout.all_secrets():
            for p in resolver.collect(ref).problems:
                if p.removable and p.link.is_relative_to(ref.path):
                    bad.setdefault(p.link, ref.path)
        for link, stop in bad.items():
            if fs.kind(link) == "link":
                fs.unlink(link)
                fs.remove_empty_dirs(link.parent, stop)
                removed += 1
        drifts = rekey.find_drift(store.layout, store.layout.all_secrets(), strict=False)
        count = rekey.apply(drifts, store.identities, scratch, store.progress) if drifts else 0
    return FixResult(removed, count)
