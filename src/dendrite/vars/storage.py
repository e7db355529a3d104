"""clan's vars/ tree: public values in `value`, secrets as sops files with member links, validation hashes.

Every read and write goes through `RepoFS`: a symlink, FIFO or device planted anywhere in `vars/` is
refused, never followed (a `value` linked to `~/.ssh/id_ed25519` is not read into a public value).

Writes are transactions (`VarsStore.transaction`), so a run stores all it was asked to or nothing:

1. Under the repository lock, the generator directories the run will touch are snapshotted (their
   files, member links and modes, as they are on disk: ciphertext and public values only, never a
   plaintext secret) into an undo journal, `.dendrite/vars-undo.json`, written atomically and synced.
2. Directories and member links are made, secrets encrypted, and every file of the run written in one
   `atomic_write_many` batch; stale validation hashes are dropped.
3. Deleting the journal is the commit point.

If anything fails in 2, the directories are restored from the snapshot at once. If the process is
killed (or the machine stops) between 1 and 3, the journal is still there, and the next dendrite
command that touches vars (`vars generate`, `check`, `list`, `get`, `set`, `fix`, `export`, `import`)
takes the lock and rolls the directories back before anything else: a half-applied batch is never
seen. Rolling back is idempotent, so a crash during recovery is recovered the same way.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError, UnsafePathError
from dendrite.fsutil import STATE_DIR, PendingWrite, atomic_write_many
from dendrite.repofs import PRIVATE_FILE_MODE, RepoFS
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.store import SecretsStore
from dendrite.sops.document import decrypt_document
from dendrite.vars.model import Generator, placement

VALIDATION = ".validation-hash"
JOURNAL = f"{STATE_DIR}/vars-undo.json"
_HASH_LIMIT = 4096
_JOURNAL_VERSION = 1

Entry = tuple[str, str, int, str]  # (path below the root, kind "dir"|"file"|"link", mode, base64 or target)


@dataclass(frozen=True)
class Item:
    """One generator's outputs to store for one machine (or once, for a shared generator)."""

    gen: Generator
    machines: list[str]  # the machines declaring it: recipients of its deployed secrets
    machine: str
    outputs: dict[str, bytes]
    touch_hash: bool = True  # write (or drop) the generator's validation hash, as a generate run does
    stored_hash: str | None = None  # an exported hash to restore (import)


class VarsStore:
    def __init__(self, root: Path, secrets: SecretsStore) -> None:
        self.root = root
        self.vars = root / "vars"
        self.secrets = secrets
        self.fs = RepoFS(root)

    # ---- paths -------------------------------------------------------------------------------------

    def gen_dir(self, gen: Generator, machine: str) -> Path:
        return self.vars / placement(gen, machine)

    def file_dir(self, gen: Generator, machine: str, name: str) -> Path:
        return self.gen_dir(gen, machine) / names.check("file", name, f"generator {gen.name}")

    def _entry(self, gen: Generator, machine: str, name: str) -> Path:
        spec = gen.file(name)
        return self.file_dir(gen, machine, name) / ("secret" if spec is None or spec.secret else "value")

    # ---- reads -------------------------------------------------------------------------------------

    def has_file(self, gen: Generator, machine: str, name: str) -> bool:
        """Something is stored there (a planted link counts: it is refused when read, never skipped)."""
        return self.fs.kind(self._entry(gen, machine, name)) is not None

    def planted(self, gen: Generator, machine: str, name: str) -> str | None:
        """Why the stored entry is not a file dendrite wrote (a link, a FIFO...), or None."""
        path = self._entry(gen, machine, name)
        try:
            kind = self.fs.kind(path)
        except UnsafePathError as exc:
            return exc.message
        if kind in (None, "file"):
            return None
        what = "a symbolic link" if kind == "link" else f"a {kind}, not a regular file"
        return f"{self.fs.rel(path)} is {what}; dendrite does not follow it"

    def stored_hash(self, gen: Generator, machine: str) -> str | None:
        p = self.gen_dir(gen, machine) / VALIDATION
        if self.fs.kind(p) is None:
            return None
        return self.fs.read_text(p, limit=_HASH_LIMIT).strip()

    def hash_valid(self, gen: Generator, machine: str) -> bool:
        """clan's hash_is_valid: both absent, or equal."""
        return self.stored_hash(gen, machine) == gen.validation_hash

    def exists(self, gen: Generator, machine: str) -> bool:
        return all(self.has_file(gen, machine, f.name) for f in gen.files) and self.hash_valid(gen, machine)

    def read(self, gen: Generator, machine: str, name: str) -> bytes:
        spec = gen.file(name)
        if spec is None:
            raise InputError(f"generator '{gen.name}' has no file '{name}'")
        d = self.file_dir(gen, machine, name)
        entry = d / ("secret" if spec.secret else "value")
        if self.fs.kind(entry) is None:
            raise InputError(
                f"{gen.name}/{name} of {machine} is not set ({entry} is missing)",
                hint=f"run 'dendrite vars generate {machine}'",
            )
        if spec.secret and self.fs.kind(d / "value") is not None:
            raise InputError(f"{d} holds a public value where a secret belongs (a backend collision)")
        data = self.fs.read_bytes(entry)  # refuses a link, a FIFO, a device: never followed
        if not spec.secret:
            return data
        doc = decrypt_document(data, "binary", self.secrets.identities, where=str(entry))
        from dendrite.sops.stores import store_for

        return store_for("binary").dump_plain(doc.branches)

    # ---- writes ------------------------------------------------------------------------------------

    def write(
        self, items: Sequence[Item], admin: str, default_groups: list[str], scratch: Path
    ) -> list[Path]:
        """Store `items` in one transaction (caller holds the repository lock). Returns the files written."""
        with self.transaction([self.gen_dir(i.gen, i.machine) for i in items]):
            batches = [self.prepare(i, admin, default_groups) for i in items]
            atomic_write_many([w for b in batches for w in b], scratch)
            for i in items:
                self.drop_stale_hash(i)
        return [w.target for b in batches for w in b if w.target.name != VALIDATION]

    def drop_stale_hash(self, item: Item) -> None:
        if item.touch_hash and item.gen.validation_hash is None:
            self.fs.unlink(self.gen_dir(item.gen, item.machine) / VALIDATION)  # clan deletes it (#6011)

    def prepare(self, item: Item, admin: str, default_groups: list[str]) -> list[PendingWrite]:
        """Directories and member links made, contents encrypted: the writes, for one batch of many."""
        gen, machine, fs, layout = item.gen, item.machine, self.fs, self.secrets.layout
        written: list[PendingWrite] = []
        for spec in gen.files:
            if spec.name not in item.outputs:
                continue
            d = self.file_dir(gen, machine, spec.name)
            fs.make_dirs(d)
            if spec.secret:
                if fs.kind(d / "value") is not None:
                    raise InputError(f"{d} holds a public value where a secret belongs (a backend collision)")
                ref = SecretRef("var", str(d.relative_to(self.vars)), d)
                fs.link_to(d / "users" / admin, layout.user(admin))
                for m in item.machines if spec.deploy else []:
                    fs.link_to(d / "machines" / m, layout.machine(m))
                for g in default_groups:
                    if fs.is_dir(layout.group(g)):
                        fs.link_to(d / "groups" / g, layout.group(g))
                written.append(
                    PendingWrite(ref.file, self.secrets.encrypt_for_links(ref, item.outputs[spec.name]))
                )
            else:
                if fs.kind(d / "secret") is not None:
                    raise InputError(f"{d} holds a secret where a public value belongs (a backend collision)")
                written.append(PendingWrite(d / "value", item.outputs[spec.name]))
        hash_text = item.stored_hash
        if hash_text is None and item.touch_hash:
            hash_text = gen.validation_hash
        if hash_text is not None:
            written.append(PendingWrite(self.gen_dir(gen, machine) / VALIDATION, hash_text.encode()))
        return written

    # ---- the transaction ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, dirs: Sequence[Path]) -> Iterator[None]:
        """Everything written below `dirs` inside is kept together or rolled back (see the module doc).

        The caller holds the repository lock. A planted link or special file in a directory is refused
        here, before anything is written.
        """
        journal = _snapshot(self.fs, sorted({self.fs.rel(d) for d in dirs}))
        self.fs.write_bytes(JOURNAL, json.dumps(journal).encode(), PRIVATE_FILE_MODE)
        try:
            yield
        except BaseException:
            _rollback(self.fs, journal)
            self.fs.unlink(JOURNAL)
            raise
        self.fs.unlink(JOURNAL)  # the commit point
        with self.fs.open_dir(STATE_DIR) as fd:
            os.fsync(fd)


def recover(fs: RepoFS) -> bool:
    """Roll back a transaction a killed process left (caller holds the lock). True if there was one."""
    if fs.kind(JOURNAL) is None:
        return False
    try:
        journal = json.loads(fs.read_bytes(JOURNAL))
        _check_journal(journal)
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error, UnsafePathError) as exc:
        raise InputError(
            f"{fs.root / JOURNAL} (the undo journal of an interrupted vars run) is damaged ({exc})",
            hint="remove it, then run 'dendrite vars check' and regenerate what it reports",
        ) from None
    _rollback(fs, journal)
    fs.unlink(JOURNAL)
    return True


def ensure_consistent(root: Path, secrets: SecretsStore) -> None:
    """For commands that read vars without the lock: finish (roll back) an interrupted run first."""
    fs = RepoFS(root)
    if fs.kind(JOURNAL) is not None:
        with secrets.writing():
            recover(fs)


def _snapshot(fs: RepoFS, dirs: list[str]) -> dict[str, Any]:
    """Each directory's tree as it is (None when absent), and the parents that do not exist yet."""
    out: dict[str, list[Entry] | None] = {}
    created: set[str] = set()
    for d in dirs:
        parts = fs.parts(d)
        if not parts or parts[0] != "vars":
            raise UnsafePathError(f"{d} is not below vars/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if fs.kind(parent) is None:
                created.add(parent)
        kind = fs.kind(d)
        if kind is None:
            out[d] = None
        elif kind != "dir":
            raise UnsafePathError(
                f"{d} in {fs.root} is a {'symbolic link' if kind == 'link' else kind}, not a directory",
                hint="dendrite does not follow symbolic links inside a repository; remove it",
            )
        else:
            out[d] = list(_tree(fs, d))
    return {"version": _JOURNAL_VERSION, "dirs": out, "created": sorted(created)}


def _tree(fs: RepoFS, d: str) -> Iterator[Entry]:
    st = fs.lstat(d)
    assert st is not None
    yield (d, "dir", stat.S_IMODE(st.st_mode), "")
    for e in fs.entries(d):
        path = f"{d}/{e.name}"
        if e.kind == "dir":
            yield from _tree(fs, path)
        elif e.kind == "link":
            yield (path, "link", 0, fs.readlink(path))
        elif e.kind == "file":
            mode = fs.lstat(path)
            assert mode is not None
            yield (path, "file", stat.S_IMODE(mode.st_mode), base64.b64encode(fs.read_bytes(path)).decode())
        else:
            raise UnsafePathError(f"{path} in {fs.root} is not a file, link or directory", hint="remove it")


def _check_journal(journal: Any) -> None:
    """A journal is only ever ours, but `.dendrite/` could come from a clone: every path must be in vars/."""
    if journal["version"] != _JOURNAL_VERSION:
        raise ValueError(f"version {journal['version']!r}")
    for d, entries in journal["dirs"].items():
        for path in [d, *(e[0] for e in entries or [])]:
            parts = RepoFS(Path("/")).parts(path)
            if not parts or parts[0] != "vars" or not (path == d or path.startswith(f"{d}/")):
                raise ValueError(f"path {path!r} is not below vars/")
    for p in journal["created"]:
        if RepoFS(Path("/")).parts(p)[:1] != ("vars",):
            raise ValueError(f"path {p!r} is not below vars/")


def _rollback(fs: RepoFS, journal: dict[str, Any]) -> None:
    """Put every directory back exactly as snapshotted (idempotent: safe to repeat after a crash)."""
    for d, entries in journal["dirs"].items():
        fs.remove_tree(d)
        for path, kind, mode, data in entries or []:
            if kind == "dir":
                fs.make_dirs(path, mode=mode)
            elif kind == "file":
                fs.write_bytes(path, base64.b64decode(data, validate=True), mode)
            else:
                with fs.parent(path) as (dfd, name):
                    os.symlink(data, name, dir_fd=dfd)  # as it was, even if clan would not write it so
    for parent in sorted(journal["created"], key=lambda p: -p.count("/")):
        with contextlib.suppress(OSError, UnsafePathError), fs.parent(parent) as (dfd, name):
            os.rmdir(name, dir_fd=dfd)  # only if still empty: never another run's files
