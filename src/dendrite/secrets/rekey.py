"""Re-keying: bring each secret's recipients in line with its links, fast and crash-safe.

Only the data key is re-wrapped (values, MAC and lastmodified are untouched, like `sops updatekeys`),
in-process: no process per file. Age entries of recipients that stay are kept as they are (each is a
complete age file of the same data key for that recipient), so adding one user costs one age
encryption per secret rather than one per recipient. All new contents are computed first, so a file
we cannot open stops the whole run before anything is written; then the files are replaced together
by `atomic_write_many`, each atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from dendrite import boundedjson, workers
from dendrite.errors import DendriteError, NoKeyError, SopsError, StoreError
from dendrite.fsutil import PendingWrite, atomic_write_many, detach_forked_worker
from dendrite.repofs import RepoFS
from dendrite.secrets.keys import SopsKey, check_usable
from dendrite.secrets.layout import Layout, SecretRef
from dendrite.secrets.recipients import Collected, Overlay, Resolver
from dendrite.sops.age import Identities
from dendrite.sops.document import rewrap

SECRET_LIMIT = 16 * 1024 * 1024  # a clan secret is a single value; far larger is not one of ours


@dataclass(frozen=True)
class Drift:
    ref: SecretRef
    current: frozenset[SopsKey]
    wanted: frozenset[SopsKey]
    data: bytes
    mode: int = 0o644
    doc: object = field(default=None, compare=False, repr=False)  # `data` as parsed, never changed

    @property
    def missing(self) -> frozenset[SopsKey]:
        return self.wanted - self.current

    @property
    def extra(self) -> frozenset[SopsKey]:
        return self.current - self.wanted


def recipients_of(data: bytes, where: str) -> frozenset[SopsKey]:
    """The recipients of a clan secret file, read straight from its JSON like clan's get_recipients."""
    return _parsed(data, where)[1]


def _parsed(data: bytes, where: str) -> tuple[object, frozenset[SopsKey]]:
    """`recipients_of`, and the file's JSON as read (a re-key re-wraps from it, not parsing it again)."""
    try:
        doc = boundedjson.loads(data, where)
        meta = doc["sops"]
        age = meta.get("age") or []
        pgp = meta.get("pgp") or []
        return doc, frozenset(
            [SopsKey("age", e["recipient"]) for e in age] + [SopsKey("pgp", e["fp"]) for e in pgp]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SopsError(
            f"{where} is not a sops file (no readable 'sops' metadata)",
            hint="restore it from version control",
        ) from None


def read_secret(ref: SecretRef, fs: RepoFS | None = None) -> bytes:
    """A secret file's bytes through the repository door: a planted symlink or FIFO is refused."""
    door = fs if fs is not None else RepoFS(ref.path)
    return door.read_bytes(ref.file if fs is not None else "secret", limit=SECRET_LIMIT)


def file_recipients(ref: SecretRef, fs: RepoFS | None = None) -> frozenset[SopsKey]:
    return recipients_of(read_secret(ref, fs), str(ref.file))


def find_drift(
    layout: Layout,
    refs: Sequence[SecretRef],
    strict: bool = True,
    overlay: Overlay | None = None,
    known: Mapping[SecretRef, Collected] | None = None,
) -> list[Drift]:
    """Secrets whose file recipients differ from their link-derived set (with `overlay`: after it).

    With `strict`, a broken or misplaced link is an error: re-keying past it would silently drop a
    recipient, so the user is sent to `secrets check` / `secrets fix` first. `known` holds members the
    caller already collected under the same overlay (a change's plan does), so they are not walked twice.
    """
    resolver = Resolver(layout, overlay)
    out = []
    with layout.fs.reading() as read:  # one handle on the root for every file
        for ref in refs:
            got = known[ref] if known is not None and ref in known else resolver.collect(ref)
            if strict and got.problems:
                p = got.problems[0]
                raise StoreError(
                    f"{p.link} {p.reason}", hint="run 'dendrite secrets check', then 'dendrite secrets fix'"
                )
            file = ref.file
            data, st = read(file, SECRET_LIMIT)  # the mode, from the same open
            doc, current = _parsed(data, str(file))
            wanted = frozenset(got.keys)
            if current != wanted:
                out.append(Drift(ref, current, wanted, data, st.st_mode & 0o777, doc))
    return out


def _recipients(keys: frozenset[SopsKey], ref: SecretRef) -> list[str]:
    pgp = [k for k in keys if k.type != "age"]
    if pgp:
        raise StoreError(
            f"{ref.label}: recipient {pgp[0].publickey} is a {pgp[0].type} key, which dendrite cannot "
            "encrypt to",
            hint="replace it with an age key",
        )
    if not keys:
        raise StoreError(
            f"{ref.label}: re-keying would leave the secret with no recipients",
            hint="link at least one user, machine or group to it",
        )
    return sorted(k.publickey for k in keys)


_PARALLEL_FROM = 200
_CHUNK = 25  # jobs per claim: small enough that the last chunks even out parent and workers
_TOKEN = 4  # bytes per chunk number in the claim pipe

Job = tuple[bytes, list[str], str, object]  # the file, its recipients, its name, its JSON as parsed
Result = bytes | tuple[str, str, str | None]


def _rewrap_with(identities: Identities, job: Job) -> Result:
    data, recipients, where, doc = job
    try:
        return rewrap(data, recipients, identities, fmt="binary", where=where, doc=doc)
    except DendriteError as exc:
        return (type(exc).__name__, exc.message, exc.hint)


def _claim(fd: int) -> int | None:
    """The next unclaimed chunk's number, or None when all are claimed.

    The numbers were all written to a pipe before the fork and its write end closed; a read of a few
    bytes from a pipe is atomic, so each number goes to exactly one process, and an empty pipe is at
    its end. No lock is held that a killed process could leave held.
    """
    token = os.read(fd, _TOKEN)
    return int.from_bytes(token, "little") if token else None


def _rewrap_claimed(chunks: list[list[Job]], fd: int, identities: Identities) -> dict[int, list[Result]]:
    """Claim chunks until none is left and re-wrap them; what this process did, by chunk number."""
    done: dict[int, list[Result]] = {}
    while (i := _claim(fd)) is not None:
        done[i] = [_rewrap_with(identities, j) for j in chunks[i]]
    return done


def _in_worker(
    chunks: list[list[Job]], fd: int, identities: Identities, parent: int
) -> dict[int, list[Result]]:
    detach_forked_worker()
    if os.getppid() != parent:
        # the parent was killed before the line above asked to die with it: nobody will read the
        # result, so leave now
        os._exit(1)
    return _rewrap_claimed(chunks, fd, identities)


def _rewrap_all(jobs: list[Job], identities: Identities) -> list[Result]:
    """Re-wrap in this process, or on every core for large batches (age's X25519 is the cost).

    Large batches are cut into chunks that the parent and its forked workers claim one at a time from
    a pipe holding their numbers (`_claim`); each worker has the chunks and the identities in the
    memory it was forked with, claims from its first instant until none is left, and sends what it
    did once, at the end (`workers.forked`). Why not a pool with a task per chunk: the pool's threads
    in the parent, which hand tasks over, wait for the interpreter lock while the parent re-wraps,
    and the worker sat idle between chunks for up to 20 ms, doing a third of the work; the pool's
    modules also cost about 10 ms to import. A worker the machine gives no core claims nothing, and
    the parent does every chunk.
    """
    cores = os.cpu_count() or 1
    if len(jobs) < _PARALLEL_FROM or cores < 2 or not hasattr(os, "fork"):
        return [_rewrap_with(identities, j) for j in jobs]
    size = max(_CHUNK, -(-len(jobs) // 8192))  # at most 8,192 numbers (32 KiB): the pipe holds them all
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"".join(i.to_bytes(_TOKEN, "little") for i in range(len(chunks))))
    finally:
        os.close(write_end)
    parent = os.getpid()
    try:
        with workers.forked(
            lambda: _in_worker(chunks, read_end, identities, parent), min(cores, 4) - 1
        ) as results:
            done = _rewrap_claimed(chunks, read_end, identities)
            for theirs in results():
                done.update(cast("dict[int, list[Result]]", theirs))
    finally:
        os.close(read_end)
    return [r for i in range(len(chunks)) for r in done[i]]


def apply(
    drifts: Sequence[Drift],
    identities: Identities,
    scratch: Path,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-wrap every drifted secret for its wanted recipients; returns how many were rewritten."""
    writes = prepare(drifts, identities, progress)
    atomic_write_many(writes, scratch)
    return len(writes)


def prepare(
    drifts: Sequence[Drift], identities: Identities, progress: Callable[[int, int], None] | None = None
) -> list[PendingWrite]:
    """Every re-keyed file's new bytes, computed in memory: nothing is written, so a failure changes nothing."""
    if not drifts:
        return []
    for d in drifts:
        for k in sorted(d.missing):
            check_usable(k, d.ref.label)
    jobs = [(d.data, _recipients(d.wanted, d.ref), str(d.ref.file), d.doc) for d in drifts]
    results = _rewrap_all(jobs, identities)
    writes = []
    for d, result in zip(drifts, results, strict=True):
        if isinstance(result, tuple):
            kind, message, hint = result
            error = {"NoKeyError": NoKeyError, "SopsError": SopsError}.get(kind, StoreError)
            raise error(f"{message} (nothing was re-keyed)", hint=hint)
        writes.append(PendingWrite(d.ref.file, result, d.mode))
    if progress:
        progress(len(writes), len(writes))
    return writes
