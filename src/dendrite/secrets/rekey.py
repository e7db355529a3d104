"""Re-keying: bring each secret's recipients in line with its links, fast and crash-safe.

Only the data key is re-wrapped (values, MAC and lastmodified are untouched, like `sops updatekeys`),
in-process: no process per file. All new contents are computed first, so a file we cannot open stops
the whole run before anything is written; then the files are replaced together by
`atomic_write_many`, each atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError, StoreError
from dendrite.fsutil import PendingWrite, atomic_write_many
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.layout import Layout, SecretRef
from dendrite.secrets.recipients import collect
from dendrite.sops.age import Identities
from dendrite.sops.document import read_metadata, updatekeys


@dataclass(frozen=True)
class Drift:
    ref: SecretRef
    current: frozenset[SopsKey]
    wanted: frozenset[SopsKey]

    @property
    def missing(self) -> frozenset[SopsKey]:
        return self.wanted - self.current

    @property
    def extra(self) -> frozenset[SopsKey]:
        return self.current - self.wanted


def file_recipients(ref: SecretRef) -> frozenset[SopsKey]:
    data = ref.file.read_bytes()
    meta = read_metadata(data, "binary", str(ref.file))
    return frozenset(SopsKey("age", r) for r in meta.recipients)


def find_drift(layout: Layout, refs: Sequence[SecretRef], strict: bool = True) -> list[Drift]:
    """Secrets whose file recipients differ from their link-derived set.

    With `strict`, a broken or misplaced link is an error: re-keying past it would silently drop a
    recipient, so the user is sent to `secrets check` / `secrets fix` first.
    """
    out = []
    for ref in refs:
        got = collect(ref, layout)
        if strict and got.problems:
            p = got.problems[0]
            raise StoreError(
                f"{p.link} {p.reason}", hint="run 'dendrite secrets check', then 'dendrite secrets fix'"
            )
        current = file_recipients(ref)
        wanted = frozenset(got.keys)
        if current != wanted:
            out.append(Drift(ref, current, wanted))
    return out


def _recipients(keys: frozenset[SopsKey], ref: SecretRef) -> list[str]:
    pgp = [k for k in keys if k.type != "age"]
    if pgp:
        raise StoreError(
            f"{ref.label}: recipient {pgp[0].publickey} is a {pgp[0].type} key, which dendrite cannot encrypt to",
            hint="replace it with an age key",
        )
    if not keys:
        raise StoreError(
            f"{ref.label}: re-keying would leave the secret with no recipients",
            hint="link at least one user, machine or group to it",
        )
    return sorted(k.publickey for k in keys)


def apply(
    drifts: Sequence[Drift],
    identities: Identities,
    scratch: Path,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-wrap every drifted secret for its wanted recipients; returns how many were rewritten."""
    writes = []
    for n, d in enumerate(drifts, 1):
        where = str(d.ref.file)
        try:
            data = d.ref.file.read_bytes()
            new = updatekeys(data, _recipients(d.wanted, d.ref), identities, fmt="binary", where=where)
        except DendriteError as exc:
            raise type(exc)(f"{exc.message} (nothing was re-keyed)", hint=exc.hint) from None
        writes.append(PendingWrite(d.ref.file, new, d.ref.file.stat().st_mode & 0o777))
        if progress:
            progress(n, len(drifts))
    atomic_write_many(writes, scratch)
    return len(writes)
