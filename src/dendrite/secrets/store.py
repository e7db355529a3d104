"""clan's `sops/` secret store: users, machines, groups, secrets and their re-keying.

Semantics follow clan-cli (`clan_cli/secrets/*`): membership is a relative symlink, recipients are
derived from links, the acting admin is always linked into a secret it writes, and a change of
membership re-keys exactly the secrets it reaches. Every mutation runs under the repository lock.
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage

from dendrite import names
from dendrite.errors import InputError, StoreError
from dendrite.fsutil import atomic_write, repo_lock
from dendrite.secrets import rekey
from dendrite.secrets.keys import SopsKey, read_keys, write_keys
from dendrite.secrets.layout import Layout, SecretRef, iter_links
from dendrite.secrets.recipients import collect
from dendrite.sops.age import Identities, discover_identities
from dendrite.sops.document import decrypt_document, encrypt

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Admin:
    user: str
    keys: tuple[SopsKey, ...]


@dataclass(frozen=True)
class Membership:
    users: tuple[str, ...]
    machines: tuple[str, ...]
    groups: tuple[str, ...]


class SecretsStore:
    def __init__(
        self, root: Path, identities: Identities | None = None, progress: Progress | None = None
    ) -> None:
        self.layout = Layout(root)
        self._identities = identities
        self.progress = progress

    # ------------------------------------------------------------------ identities and the admin

    @property
    def identities(self) -> Identities:
        if self._identities is None:
            self._identities = discover_identities()
        return self._identities

    def admin(self) -> Admin:
        """The clan user whose key.json holds one of our identities' public keys."""
        mine = set(self.identities.publics)
        for user in self.layout.names("users"):
            keys = read_keys(self.layout.user(user) / "key.json")
            if any(k.publickey in mine for k in keys):
                return Admin(user, tuple(keys))
        shown = ", ".join(sorted(mine)) or "none found"
        raise StoreError(
            f"none of your age keys ({shown}) belongs to a user in {self.layout.users()}, so dendrite cannot tell "
            "which secrets user you are",
            hint="register yourself: dendrite secrets users add <name> <your age public key>",
        )

    @contextmanager
    def writing(self) -> Iterator[Path]:
        with repo_lock(self.layout.root) as scratch:
            yield scratch

    # ------------------------------------------------------------------ reading

    def users(self) -> list[str]:
        return self.layout.names("users")

    def machines(self) -> list[str]:
        return self.layout.names("machines")

    def groups(self) -> list[str]:
        return self.layout.names("groups")

    def user_keys(self, name: str) -> list[SopsKey]:
        return read_keys(self._existing("users", names.user_name(name)) / "key.json")

    def machine_key(self, name: str) -> SopsKey:
        keys = read_keys(self._existing("machines", names.machine_name(name)) / "key.json")
        if len(keys) != 1:
            raise StoreError(f"machine {name} has {len(keys)} keys; clan machines have exactly one")
        return keys[0]

    def group_members(self, name: str) -> Membership:
        g = self._existing("groups", names.group_name(name))
        return Membership(
            tuple(p.name for p in iter_links(g / "users")),
            tuple(p.name for p in iter_links(g / "machines")),
            (),
        )

    def secrets(self, pattern: str | None = None) -> list[str]:
        all_names = [r.name for r in self.layout.legacy_secrets()]
        if not pattern:
            return all_names
        if any(c in pattern for c in "*?["):
            return [n for n in all_names if fnmatch.fnmatchcase(n, pattern)]
        return [n for n in all_names if pattern in n]

    def secret_members(self, name: str) -> Membership:
        ref = self._secret(name)
        return Membership(
            *(tuple(p.name for p in iter_links(ref.path / k)) for k in ("users", "machines", "groups"))
        )

    def recipients(self, name: str) -> list[str]:
        return sorted(k.publickey for k in rekey.file_recipients(self._secret(name)))

    def get(self, name: str) -> bytes:
        ref = self._secret(name)
        return self.decrypt_ref(ref)

    def decrypt_ref(self, ref: SecretRef) -> bytes:
        doc = decrypt_document(ref.file.read_bytes(), "binary", self.identities, where=str(ref.file))
        from dendrite.sops.stores import store_for

        return store_for("binary").dump_plain(doc.branches)

    # ------------------------------------------------------------------ helpers

    def _existing(self, kind: str, name: str) -> Path:
        d = self.layout.member_dir(kind, name)
        if not d.is_dir():
            raise InputError(
                f"{kind[:-1]} {name!r} does not exist in {d.parent}",
                hint=f"see 'dendrite secrets {kind} list'",
            )
        return d

    def _secret(self, name: str) -> SecretRef:
        ref = self.layout.secret(names.secret_name(name))
        if not ref.file.is_file():
            raise InputError(
                f"secret {name!r} does not exist ({ref.file} is missing)", hint="see 'dendrite secrets list'"
            )
        return ref

    def _link(self, ref_dir: Path, kind: str, name: str) -> None:
        self.layout.fs.link_to(ref_dir / kind / name, self.layout.member_dir(kind, name))

    def _unlink(self, ref_dir: Path, kind: str, name: str) -> bool:
        link = ref_dir / kind / name
        if not link.is_symlink() and not link.exists():
            return False
        self.layout.fs.unlink(link)
        self.layout.fs.remove_empty_dirs(ref_dir / kind, ref_dir)
        return True

    def _reaches(self, kind: str, name: str) -> Callable[[SecretRef], bool]:
        """Whether a secret reaches a member directly, or (for users and machines) through a group."""
        groups_with = set()
        if kind in ("users", "machines"):
            for g in self.groups():
                if (self.layout.group(g) / kind / name).is_symlink():
                    groups_with.add(g)

        def test(ref: SecretRef) -> bool:
            if (ref.path / kind / name).is_symlink():
                return True
            return any((ref.path / "groups" / g).is_symlink() for g in groups_with)

        return test

    def _rekey(self, scratch: Path, select: Callable[[SecretRef], bool] | None = None) -> int:
        refs = [r for r in self.layout.all_secrets() if select is None or select(r)]
        drifts = rekey.find_drift(self.layout, refs)
        if not drifts:
            return 0
        return rekey.apply(drifts, self.identities, scratch, self.progress)

    def encrypt_for_links(self, ref: SecretRef, value: bytes) -> bytes:
        """`value` as a sops file encrypted to the members linked in `ref` (links already in place)."""
        got = collect(ref, self.layout)
        if got.problems:
            p = got.problems[0]
            raise StoreError(f"{p.link} {p.reason}", hint="run 'dendrite secrets fix'")
        recipients = sorted(k.publickey for k in got.keys if k.type == "age")
        return encrypt(value, recipients, input_format="binary", where=ref.label)

    def _write_secret(self, ref: SecretRef, value: bytes, scratch: Path) -> None:
        atomic_write(ref.file, self.encrypt_for_links(ref, value), mode=0o644, scratch=scratch)

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, keys: Sequence[SopsKey], force: bool = False) -> int:
        names.user_name(name)
        if not keys:
            raise InputError(f"no key given for user {name!r}", hint="pass an age public key")
        with self.writing() as scratch:
            path = self.layout.user(name) / "key.json"
            if path.exists() and not force:
                raise InputError(f"user {name!r} already exists", hint="use --force to replace its keys")
            write_keys(path, list(keys))
            return self._rekey(scratch, self._reaches("users", name))

    def remove_user(self, name: str) -> int:
        return self._remove_member("users", names.user_name(name))

    def add_user_keys(self, name: str, keys: Sequence[SopsKey]) -> int:
        current = self.user_keys(name)
        with self.writing() as scratch:
            write_keys(self.layout.user(name) / "key.json", [*current, *keys])
            return self._rekey(scratch, self._reaches("users", name))

    def remove_user_keys(self, name: str, keys: Sequence[SopsKey]) -> int:
        current = self.user_keys(name)
        remaining = [k for k in current if k not in set(keys)]
        if len(remaining) == len(current):
            raise InputError(
                f"user {name!r} has none of the keys given", hint=f"see 'dendrite secrets users get {name}'"
            )
        if not remaining:
            raise InputError(
                f"removing these keys would leave user {name!r} with no key",
                hint="add the new key first, or remove the user",
            )
        with self.writing() as scratch:
            write_keys(self.layout.user(name) / "key.json", remaining)
            return self._rekey(scratch, self._reaches("users", name))

    # ------------------------------------------------------------------ machines

    def add_machine(self, name: str, key: SopsKey | None, force: bool = False) -> tuple[SopsKey, int]:
        """Register a machine's public key; without one, generate it and keep the private key as `<m>-age.key`."""
        names.machine_name(name)
        path = self.layout.machine(name) / "key.json"
        if path.exists() and not force:
            raise InputError(f"machine {name!r} already exists", hint="use --force to replace its key")
        private: bytes | None = None
        if key is None:
            admin = self.admin()  # the private key is a secret the admin must be able to read
            ident = pyrage.x25519.Identity.generate()
            key = SopsKey("age", str(ident.to_public()))
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            private = f"# created: {stamp}\n# public key: {key.publickey}\n{ident}\n".encode()
        with self.writing() as scratch:
            write_keys(path, [key])
            if private is not None:
                ref = self.layout.secret(f"{name}-age.key")
                ref.path.mkdir(parents=True, exist_ok=True)
                self._link(ref.path, "users", admin.user)
                self._write_secret(ref, private, scratch)
            return key, self._rekey(scratch, self._reaches("machines", name))

    def remove_machine(self, name: str) -> int:
        return self._remove_member("machines", names.machine_name(name))

    def _remove_member(self, kind: str, name: str) -> int:
        """Unlink a user or machine from every group and secret, delete it, re-key what it could read."""
        self._existing(kind, name)
        with self.writing() as scratch:
            reaches = self._reaches(kind, name)
            affected = [r for r in self.layout.all_secrets() if reaches(r)]
            for g in self.groups():
                self._unlink(self.layout.group(g), kind, name)
            for ref in affected:
                self._unlink(ref.path, kind, name)
            shutil.rmtree(self.layout.member_dir(kind, name))
            chosen = {r.path for r in affected}
            return self._rekey(scratch, lambda r: r.path in chosen)

    # ------------------------------------------------------------------ groups

    def group_add(self, group: str, kind: str, member: str) -> int:
        names.group_name(group)
        self._existing(kind, _validate(kind, member))
        with self.writing() as scratch:
            g = self.layout.group(group)
            g.mkdir(parents=True, exist_ok=True)
            self._link(g, kind, member)
            return self._rekey(scratch, lambda r: (r.path / "groups" / group).is_symlink())

    def group_remove(self, group: str, kind: str, member: str) -> int:
        g = self._existing("groups", names.group_name(group))
        _validate(kind, member)
        with self.writing() as scratch:
            if not self._unlink(g, kind, member):
                raise InputError(f"{kind[:-1]} {member!r} is not in group {group!r}")
            affected = [r for r in self.layout.all_secrets() if (r.path / "groups" / group).is_symlink()]
            self.layout.fs.remove_empty_dirs(g, self.layout.groups())
            if not g.exists():
                for ref in affected:
                    self._unlink(ref.path, "groups", group)
            chosen = {r.path for r in affected}
            return self._rekey(scratch, lambda r: r.path in chosen)

    # ------------------------------------------------------------------ secret membership

    def secret_add_member(self, secret: str, kind: str, member: str) -> int:
        ref = self._secret(secret)
        self._existing(kind, _validate(kind, member))
        with self.writing() as scratch:
            self._link(ref.path, kind, member)
            return self._rekey(scratch, lambda r: r.path == ref.path)

    def secret_remove_member(self, secret: str, kind: str, member: str) -> int:
        ref = self._secret(secret)
        _validate(kind, member)
        with self.writing() as scratch:
            if not self._unlink(ref.path, kind, member):
                raise InputError(f"{kind[:-1]} {member!r} is not linked to secret {secret!r}")
            return self._rekey(scratch, lambda r: r.path == ref.path)

    # ------------------------------------------------------------------ secrets

    def set(
        self,
        name: str,
        value: bytes,
        *,
        users: Sequence[str] = (),
        machines: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> SecretRef:
        ref = self.layout.secret(names.secret_name(name))
        members = (
            [("users", u) for u in users]
            + [("machines", m) for m in machines]
            + [("groups", g) for g in groups]
        )
        for kind, member in members:
            self._existing(kind, _validate(kind, member))
        admin = self.admin()
        with self.writing() as scratch:
            ref.path.mkdir(parents=True, exist_ok=True)
            for kind, member in [*members, ("users", admin.user)]:
                self._link(ref.path, kind, member)
            self._write_secret(ref, value, scratch)
        return ref

    def remove(self, name: str) -> None:
        ref = self._secret(name)
        with self.writing():
            shutil.rmtree(ref.path)

    def rename(self, old: str, new: str) -> None:
        src = self._secret(old)
        dst = self.layout.secret(names.secret_name(new))
        if dst.path.exists():
            raise InputError(f"secret {new!r} already exists", hint="remove it first or choose another name")
        with self.writing():
            src.path.rename(dst.path)

    def update_all(self) -> int:
        """`secrets key update`: re-key every legacy and vars secret whose recipients drifted."""
        with self.writing() as scratch:
            return self._rekey(scratch)


def _validate(kind: str, name: str) -> str:
    return {"users": names.user_name, "machines": names.machine_name, "groups": names.group_name}[kind](name)
