"""`secrets check` and `secrets fix`: recipients on disk versus the links, and link damage."""

from __future__ import annotations

from dataclasses import dataclass

from dendrite.errors import DendriteError
from dendrite.secrets import rekey
from dendrite.secrets.recipients import collect
from dendrite.secrets.store import SecretsStore


@dataclass(frozen=True)
class Finding:
    secret: str
    kind: str  # "drift", "link", "unreadable"
    detail: str


def check(store: SecretsStore) -> list[Finding]:
    out: list[Finding] = []
    for ref in store.layout.all_secrets():
        got = collect(ref, store.layout)
        for p in got.problems:
            out.append(Finding(ref.label, "link", f"{p.link.relative_to(store.layout.root)} {p.reason}"))
        try:
            current = rekey.file_recipients(ref)
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
    """Remove broken and misplaced member links, then re-key every drifted secret."""
    removed = 0
    with store.writing() as scratch:
        for ref in store.layout.all_secrets():
            for p in collect(ref, store.layout).problems:
                if p.link.is_symlink() and p.link.is_relative_to(ref.path):
                    store.layout.fs.unlink(p.link)
                    store.layout.fs.remove_empty_dirs(p.link.parent, ref.path)
                    removed += 1
        for g in store.groups():
            gdir = store.layout.group(g)
            for kind in ("users", "machines"):
                for link in sorted((gdir / kind).glob("*")) if (gdir / kind).is_dir() else []:
                    if link.is_symlink() and not link.exists():
                        link.unlink()
                        removed += 1
        drifts = rekey.find_drift(store.layout, store.layout.all_secrets(), strict=False)
        count = rekey.apply(drifts, store.identities, scratch, store.progress) if drifts else 0
    return FixResult(removed, count)
