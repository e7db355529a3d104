"""`secrets check` and `secrets fix`: recipients on disk versus the links, and link damage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.secrets import rekey
from dendrite.secrets.recipients import Resolver
from dendrite.secrets.store import SecretsStore


@dataclass(frozen=True)
class Finding:
    secret: str
    kind: str  # "drift", "link", "unreadable"
    detail: str


def check(store: SecretsStore) -> list[Finding]:
    out: list[Finding] = []
    resolver = Resolver(store.layout)
    for ref in store.layout.all_secrets():
        got = resolver.collect(ref)
        for p in got.problems:
            out.append(Finding(ref.label, "link", f"{p.link.relative_to(store.layout.root)} {p.reason}"))
        try:
            current = rekey.file_recipients(ref, store.layout.fs)
        except DendriteError as exc:
            out.append(Finding(ref.label, "unreadable", exc.message))
            continue
        wanted = frozenset(got.keys)
        if current != wanted:
            parts = []
            if wanted - current:
                parts.append("not encrypted to " + ", ".join(sorted(k.publickey for k in wanted - current)))
            if current - wanted:
                parts.append("still encrypted to " + ", ".join(sorted(k.publickey for k in current - wanted)))
            out.append(Finding(ref.label, "drift", "; ".join(parts)))
    return out


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
