"""clan's `sops/` secret store: users, machines, groups, secrets and their re-keying.

Semantics follow clan-cli (`clan_cli/secrets/*`): membership is a relative symlink, recipients are
derived from links, the acting admin is always linked into a secret it writes, and a change of
membership re-keys exactly the secrets it reaches. Every mutation runs under the repository lock.

Every file is reached through the repository door (`layout.fs`): nothing is followed through a
symlink planted in the store.

Every change is planned, validated and computed before the first byte is written (`Change`,
`_commit`): the secrets it reaches are found by comparing who reads each secret before and after the
change; every new recipient key must be usable, some user must still be able to decrypt every secret,
and every re-keyed file is computed in memory. A refusal therefore leaves the store as it was. Then
the change is applied in this order: new key files and links, then the re-keyed files (each replaced
atomically), then removed links, key files and directories last. So an interruption never removes
a link before the files it guarded were re-keyed; it leaves links that are either old or new, and
`secrets fix` re-keys whatever files lag behind them (re-running the command finishes it). A new
secret is built in the scratch directory and renamed into place, so it appears whole or not at all.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyrage

from dendrite import interrupt, names
from dendrite.errors import InputError, StoreError, UnsafePathError
from dendrite.fsutil import PendingWrite, atomic_write_many, repo_lock
from dendrite.repofs import FILE_MODE, describe_mode
from dendrite.secrets import rekey
from dendrite.secrets.keys import SopsKey, check_usable, read_keys, write_keys
from dendrite.secrets.layout import Layout, SecretRef
from dendrite.secrets.recipients import Collected, Overlay, Resolver, Snapshot, expected_target
from dendrite.secrets.whoami import admin_keys
from dendrite.sops.age import Identities, discover_identities
from dendrite.sops.document import decrypt_stored, encrypt

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


@dataclass
class Change:
    """One planned change of the store; nothing in it has happened yet."""

    add_links: dict[Path, Path] = field(default_factory=dict)  # link -> member directory
    remove_links: dict[Path, Path] = field(default_factory=dict)  # link -> where pruning empty dirs stops
    key_files: dict[Path, list[SopsKey]] = field(default_factory=dict)  # member directory -> keys
    remove_dirs: list[Path] = field(default_factory=list)  # member directories, removed last
    made: set[Path] = field(default_factory=set)  # member directories (groups) made by a link

    def overlay(self, layout: Layout) -> Overlay:
        links: dict[Path, str | None] = {link: None for link in self.remove_links}
        for link, member in self.add_links.items():
            links[link] = expected_target(layout, link, member.parent.name, member.name)
        return Overlay(links, dict(self.key_files), set(self.made), set(self.remove_dirs))


def _describe(root: Path, change: Change, writes: Sequence[PendingWrite]) -> str:
    """A change as the interruption message names it: the file written, or how many."""
    files = [*(m / "key.json" for m in change.key_files), *(w.target for w in writes)]
    if len(files) == 1:
        return f"{os.path.relpath(files[0], root)} written"
    links = len(change.add_links) + len(change.remove_links)
    return f"{len(files)} file(s) written and {links} link(s) changed in {root}"


class SecretsStore:
    def __init__(
        self,
        root: Path,
        identities: Identities | None = None,
        progress: Progress | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.layout = Layout(root)
        self._identities = identities
        self._explicit = identities is not None
        self._env = env
        self._admin_warnings: tuple[str, ...] = ()
        self.progress = progress

    # ------------------------------------------------------------------ identities and the admin

    @property
    def identities(self) -> Identities:
        if self._identities is None:
            self._identities = discover_identities(self._env)
        return self._identities

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the caller should tell the user (an age key file others can read), never printed here."""
        found = self._identities.warnings if self._identities is not None else ()
        return tuple(dict.fromkeys((*found, *self._admin_warnings)))

    def admin(self) -> Admin:
        """The first clan user whose key.json holds one of your public keys (clan's `maybe_get_user`).

        Your public keys come from one source as clan takes them (`whoami.admin_keys`): SOPS_AGE_KEY,
        else SOPS_AGE_KEY_FILE, else the default key file. A store given its identities explicitly
        takes those as the one source.
        """
        if self._explicit:
            mine = set(self.identities.publics)
            source = "the identities given"
        else:
            found = admin_keys(self._env)
            self._admin_warnings = found.warnings
            mine, source = set(found.publics), found.source
        if not mine:
            raise StoreError(
                f"no age key found in {source}, so dendrite cannot tell which secrets user you are",
                hint="generate one with 'dendrite secrets key generate' (clan reads SOPS_AGE_KEY, else "
                "SOPS_AGE_KEY_FILE, else the default key file; only the first that is set)",
            )
        for user in self.layout.names("users"):
            keys = read_keys(self.layout.user(user) / "key.json", self.layout.fs)
            if any(k.publickey in mine for k in keys):
                return Admin(user, tuple(keys))
        shown = ", ".join(sorted(mine))
        raise StoreError(
            f"none of your age keys in {source} ({shown}) belongs to a user in {self.layout.users()}, so "
            "dendrite cannot tell which secrets user you are",
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
        return read_keys(self._existing("users", names.user_name(name)) / "key.json", self.layout.fs)

    def machine_key(self, name: str) -> SopsKey:
        keys = read_keys(self._existing("machines", names.machine_name(name)) / "key.json", self.layout.fs)
        if len(keys) != 1:
            raise StoreError(f"machine {name} has {len(keys)} keys; clan machines have exactly one")
        return keys[0]

    def group_members(self, name: str) -> Membership:
        g = self._existing("groups", names.group_name(name))
        return Membership(tuple(self.layout.links(g / "users")), tuple(self.layout.links(g / "machines")), ())

    def secrets(self, pattern: str | None = None) -> list[str]:
        all_names = [r.name for r in self.layout.legacy_secrets()]
        if not pattern:
            return all_names
        if any(c in pattern for c in "*?["):
            return [n for n in all_names if fnmatch.fnmatchcase(n, pattern)]
        return [n for n in all_names if pattern in n]

    def secret_members(self, name: str) -> Membership:
        ref = self._secret(name)
        return Membership(*(tuple(self.layout.links(ref.path / k)) for k in ("users", "machines", "groups")))

    def recipients(self, name: str) -> list[str]:
        return sorted(k.publickey for k in rekey.file_recipients(self._secret(name), self.layout.fs))

    def get(self, name: str) -> bytes:
        ref = self._secret(name)
        return self.decrypt_ref(ref)

    def decrypt_ref(self, ref: SecretRef) -> bytes:
        data = rekey.read_secret(ref, self.layout.fs)
        return decrypt_stored(data, self.identities, where=str(ref.file))

    # ------------------------------------------------------------------ helpers

    def _existing(self, kind: str, name: str) -> Path:
        d = self.layout.member_dir(kind, name)
        if not self.layout.fs.is_dir(d):  # a symlink planted as a member is not one
            raise InputError(
                f"{kind[:-1]} {name!r} does not exist in {d.parent}",
                hint=f"see 'dendrite secrets {kind} list'",
            )
        return d

    def _secret(self, name: str) -> SecretRef:
        ref = self.layout.secret(names.secret_name(name))
        fs = self.layout.fs
        st = fs.lstat(ref.file)
        if st is None:
            raise InputError(
                f"secret {name!r} does not exist ({ref.file} is missing)", hint="see 'dendrite secrets list'"
            )
        if not stat.S_ISREG(st.st_mode):
            # a link, FIFO or directory planted where the file belongs: "missing" would send the user
            # looking for a file that `ls` shows is there
            raise UnsafePathError(
                f"secret {name!r} cannot be read: {fs.rel(ref.file)} in {fs.root} is a "
                f"{describe_mode(st.st_mode)}, not a regular file",
                hint="dendrite does not follow links or read special files inside a repository; remove it",
            )
        return ref

    def _present(self, link: Path) -> bool:
        return self.layout.fs.kind(link) is not None

    def encrypt_for_links(self, ref: SecretRef, value: bytes, overlay: Overlay | None = None) -> bytes:
        """`value` as a sops file encrypted to the members linked in `ref` (with `overlay`: as planned)."""
        got = Resolver(self.layout, overlay).collect(ref)
        if got.problems:
            p = got.problems[0]
            raise StoreError(f"{p.link} {p.reason}", hint="run 'dendrite secrets fix'")
        for k in sorted(got.keys):
            check_usable(k, ref.label)
        recipients = sorted(k.publickey for k in got.keys if k.type == "age")
        return encrypt(value, recipients, input_format="binary", where=ref.label)

    # ------------------------------------------------------------------ plan, validate, apply

    def _affected(self, overlay: Overlay) -> list[tuple[SecretRef, Collected, Collected]]:
        """Secrets whose readers differ once the change is made, with who reads them before and after."""
        snapshot = Snapshot(self.layout.fs)  # the disk is read once, in one walk, for both
        legacy = snapshot.preload(self.layout.secrets())
        refs = self.layout.all_secrets(legacy)
        snapshot.adopt(ref.path for ref in refs)
        before, after = Resolver(self.layout, snapshot=snapshot), Resolver(self.layout, overlay, snapshot)
        out = []
        for ref in refs:
            old, new = before.collect(ref), after.collect(ref)
            if _summary(old) != _summary(new):
                out.append((ref, old, new))
        return out

    def _commit(self, change: Change, scratch: Path, extra: Sequence[PendingWrite] = ()) -> int:
        """Validate and compute everything `change` implies, then apply it (order: see the module doc)."""
        overlay = change.overlay(self.layout)
        affected = self._affected(overlay)
        for ref, old, new in affected:
            # the admin's own check: a secret no user can decrypt can never be changed again
            if old.users and not new.users and not new.problems:
                raise StoreError(
                    f"this would leave {ref.label} with no user who can decrypt it; nothing was changed",
                    hint="add another user (or key) to it first, or remove the secret",
                )
        known = {ref: new for ref, _, new in affected}
        drifts = rekey.find_drift(self.layout, list(known), strict=True, overlay=overlay, known=known)
        writes = rekey.prepare(drifts, self.identities, self.progress)
        self._apply(change, [*extra, *writes], scratch, rekeyed=len(writes))
        return len(writes)

    def _apply(self, change: Change, writes: Sequence[PendingWrite], scratch: Path, rekeyed: int = 0) -> None:
        """Refuse planted paths, then write. The last `rekeyed` writes replace secrets this operation
        has just read, as regular files, through the door (`rekey.find_drift`): they are not looked up
        a second time here; each is checked once more, by handle, when it is replaced."""
        fs = self.layout.fs
        self._refuse_planted(*(m / "key.json" for m in change.key_files))
        cut = len(writes) - rekeyed
        kinds = [*self._refuse_planted(*(w.target for w in writes[:cut])), *(["file"] * rekeyed)]
        for link in change.add_links:
            if fs.kind(link) not in (None, "link"):
                raise StoreError(f"{link} is a {fs.kind(link)} where a member link belongs", hint="remove it")
        # Ctrl-C waits for these writes (a fraction of a second): the store is left before or after
        # the change, never between (dendrite.interrupt)
        with interrupt.critical(_describe(self.layout.root, change, writes)):
            self._write(change, writes, scratch, kinds)

    def _write(
        self,
        change: Change,
        writes: Sequence[PendingWrite],
        scratch: Path,
        kinds: Sequence[str | None] | None = None,
    ) -> None:
        fs = self.layout.fs
        for member, keys in change.key_files.items():
            write_keys(member / "key.json", keys, fs)
        for link, member in change.add_links.items():
            fs.link_to(link, member)
        atomic_write_many(writes, scratch, kinds=kinds)  # the key files and links are none of them
        for link, stop in change.remove_links.items():
            fs.unlink(link)
            fs.remove_empty_dirs(link.parent, stop)
        for d in change.remove_dirs:
            fs.remove_tree(d)

    def _refuse_planted(self, *paths: Path) -> list[str | None]:
        """Refuse before any change when a path dendrite will write is a link or special file.

        Returns what is at each path: None (nothing yet) or 'file'."""
        kinds = []
        for p in paths:
            st = self.layout.fs.lstat(p)  # refuses a symlink on the way
            kinds.append(None if st is None else "file" if stat.S_ISREG(st.st_mode) else "other")
            if st is not None and not stat.S_ISREG(st.st_mode):
                raise StoreError(
                    f"{p} is a {describe_mode(st.st_mode)} where a file belongs; nothing was changed",
                    hint="remove it (dendrite never writes through a link in the store)",
                )
        return kinds

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, keys: Sequence[SopsKey], force: bool = False) -> int:
        names.user_name(name)
        if not keys:
            raise InputError(f"no key given for user {name!r}", hint="pass an age public key")
        for k in keys:
            check_usable(k, f"user {name}")
        with self.writing() as scratch:
            d = self.layout.user(name)
            if self._present(d / "key.json") and not force:
                raise InputError(f"user {name!r} already exists", hint="use --force to replace its keys")
            self._refuse_planted(d / "key.json")
            return self._commit(Change(key_files={d: list(keys)}), scratch)

    def remove_user(self, name: str) -> int:
        return self._remove_member("users", names.user_name(name))

    def add_user_keys(self, name: str, keys: Sequence[SopsKey]) -> int:
        current = self.user_keys(name)
        for k in keys:
            check_usable(k, f"user {name}")
        with self.writing() as scratch:
            return self._commit(Change(key_files={self.layout.user(name): [*current, *keys]}), scratch)

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
            return self._commit(Change(key_files={self.layout.user(name): remaining}), scratch)

    # ------------------------------------------------------------------ machines

    def add_machine(
        self,
        name: str,
        key: SopsKey | None,
        force: bool = False,
        default_groups: Sequence[str] | None = None,
    ) -> tuple[SopsKey, int]:
        """Register a machine's public key; without one, generate it and keep the private key as `<m>-age.key`.

        As clan's `ensure_machine_key` (`clan_lib/vars/secret_modules/sops.py`): the secret holds the bare
        `AGE-SECRET-KEY-1…` line, no comment and no newline, and is encrypted to you and to the machine's
        default groups (`default_groups`, else read with `defaults.default_groups_for`), not to the machine.
        """
        names.machine_name(name)
        d = self.layout.machine(name)
        if self._present(d / "key.json") and not force:
            raise InputError(f"machine {name!r} already exists", hint="use --force to replace its key")
        private: bytes | None = None
        members: list[tuple[str, str]] = []
        if key is None:
            admin = self.admin()  # the private key is a secret the admin must be able to read
            from dendrite.secrets.defaults import default_groups_for  # the Nix parser, when a key is made

            groups = list(
                default_groups_for(self.layout.root, name) if default_groups is None else default_groups
            )
            for g in groups:
                if not self.layout.fs.is_dir(self.layout.group(names.group_name(g))):
                    raise InputError(
                        f"cannot encrypt {name}-age.key for the default group {g!r}: it does not exist in "
                        f"{self.layout.groups()}",
                        hint=f"create it (dendrite secrets groups add-user {g} <user>) or remove it from "
                        "clan.core.sops.defaultGroups / dendrite.toml",
                    )
            ident = pyrage.x25519.Identity.generate()
            key = SopsKey("age", str(ident.to_public()))
            private = str(ident).encode()
            members = [("users", admin.user), *(("groups", g) for g in groups)]
        check_usable(key, f"machine {name}")
        with self.writing() as scratch:
            self._refuse_planted(d / "key.json")
            staged: tuple[Path, SecretRef] | None = None
            if private is not None:
                ref = self.layout.secret(f"{name}-age.key")
                staged = (self._stage_secret(ref, members, private, scratch), ref)
            n = self._commit(Change(key_files={d: [key]}), scratch)
            if staged is not None:
                self._move_into_place(*staged)
            return key, n

    def remove_machine(self, name: str) -> int:
        return self._remove_member("machines", names.machine_name(name))

    def _remove_member(self, kind: str, name: str) -> int:
        """Unlink a user or machine from every group and secret, delete it, re-key what it could read."""
        self._existing(kind, name)
        with self.writing() as scratch:
            change = Change(remove_dirs=[self.layout.member_dir(kind, name)])
            for g in self.groups():
                link = self.layout.group(g) / kind / name
                if self._present(link):
                    change.remove_links[link] = self.layout.group(g)
            for ref in self.layout.all_secrets():
                link = ref.path / kind / name
                if self._present(link):
                    change.remove_links[link] = ref.path
            return self._commit(change, scratch)

    # ------------------------------------------------------------------ groups

    def group_add(self, group: str, kind: str, member: str) -> int:
        names.group_name(group)
        self._existing(kind, _validate(kind, member))
        with self.writing() as scratch:
            g = self.layout.group(group)
            kind_here = self.layout.fs.kind(g)
            if kind_here not in (None, "dir"):
                raise StoreError(f"{g} is a {kind_here}, not a group directory", hint="remove it")
            change = Change(add_links={g / kind / member: self.layout.member_dir(kind, member)}, made={g})
            return self._commit(change, scratch)

    def group_remove(self, group: str, kind: str, member: str) -> int:
        g = self._existing("groups", names.group_name(group))
        _validate(kind, member)
        with self.writing() as scratch:
            link = g / kind / member
            if not self._present(link):
                raise InputError(f"{kind[:-1]} {member!r} is not in group {group!r}")
            change = Change(remove_links={link: self.layout.groups()})
            if self._empties(g, link):  # clan removes an empty group, and every link to it
                change.remove_dirs.append(g)
                for ref in self.layout.all_secrets():
                    if self._present(ref.path / "groups" / group):
                        change.remove_links[ref.path / "groups" / group] = ref.path
            return self._commit(change, scratch)

    def _empties(self, g: Path, link: Path) -> bool:
        """Whether the group directory `g` holds nothing but `link` (and the directories around it)."""
        fs = self.layout.fs
        for e in fs.entries(g):
            if e.kind != "dir" or e.name not in ("users", "machines"):
                return False
            if any(g / e.name / x.name != link for x in fs.entries(g / e.name)):
                return False
        return True

    # ------------------------------------------------------------------ secret membership

    def secret_add_member(self, secret: str, kind: str, member: str) -> int:
        ref = self._secret(secret)
        self._existing(kind, _validate(kind, member))
        with self.writing() as scratch:
            change = Change(add_links={ref.path / kind / member: self.layout.member_dir(kind, member)})
            return self._commit(change, scratch)

    def secret_remove_member(self, secret: str, kind: str, member: str) -> int:
        ref = self._secret(secret)
        _validate(kind, member)
        with self.writing() as scratch:
            link = ref.path / kind / member
            if not self._present(link):
                raise InputError(f"{kind[:-1]} {member!r} is not linked to secret {secret!r}")
            return self._commit(Change(remove_links={link: ref.path}), scratch)

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
        members.append(("users", admin.user))
        with self.writing() as scratch:
            here = self.layout.fs.kind(ref.path)
            if here is None:  # a new secret: built aside, then renamed into place whole
                self._move_into_place(self._stage_secret(ref, members, value, scratch), ref)
                return ref
            if here != "dir":
                raise StoreError(f"{ref.path} is a {here}, not a secret directory", hint="remove it")
            self._refuse_planted(ref.file)
            change = Change(add_links={ref.path / k / m: self.layout.member_dir(k, m) for k, m in members})
            data = self.encrypt_for_links(ref, value, change.overlay(self.layout))
            self._apply(change, [PendingWrite(ref.file, data, FILE_MODE)], scratch)
        return ref

    def _stage_secret(
        self, ref: SecretRef, members: Sequence[tuple[str, str]], value: bytes, scratch: Path
    ) -> Path:
        """A complete new secret directory in the scratch directory (ciphertext only, never plaintext)."""
        change = Change(add_links={ref.path / k / m: self.layout.member_dir(k, m) for k, m in members})
        data = self.encrypt_for_links(ref, value, change.overlay(self.layout))
        fs = self.layout.fs
        stage = scratch / f"new-{os.urandom(6).hex()}"
        for link, target in change.overlay(self.layout).links.items():
            assert target is not None
            fs.symlink(
                stage / link.relative_to(ref.path), target
            )  # the target is relative to the final place
        fs.write_bytes(stage / "secret", data, FILE_MODE)
        return stage

    def _move_into_place(self, stage: Path, ref: SecretRef) -> None:
        fs = self.layout.fs
        if fs.kind(ref.path) is not None:
            raise StoreError(f"{ref.path} appeared while it was written", hint="run the command again")
        with fs.parent(stage) as (sfd, sname), fs.parent(ref.path, create=True) as (dfd, dname):
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
            os.fsync(dfd)
        fs.changed(ref.path)

    def remove(self, name: str) -> None:
        ref = self._secret(name)
        with self.writing():
            self.layout.fs.remove_tree(ref.path)

    def rename(self, old: str, new: str) -> None:
        src = self._secret(old)
        dst = self.layout.secret(names.secret_name(new))
        if self._present(dst.path):
            raise InputError(f"secret {new!r} already exists", hint="remove it first or choose another name")
        with self.writing():
            fs = self.layout.fs
            with fs.parent(src.path) as (sfd, sname), fs.parent(dst.path) as (dfd, dname):
                os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
            fs.changed(src.path)
            fs.changed(dst.path)

    def update_all(self) -> int:
        """`secrets key update`: re-key every legacy and vars secret whose recipients drifted."""
        with self.writing() as scratch:
            drifts = rekey.find_drift(self.layout, self.layout.all_secrets())
            return rekey.apply(drifts, self.identities, scratch, self.progress) if drifts else 0


def _summary(got: Collected) -> tuple[object, ...]:
    members = (frozenset(got.users), frozenset(got.machines), frozenset(got.groups))
    return (frozenset(got.keys), members, tuple(p.reason for p in got.problems))


def _validate(kind: str, name: str) -> str:
    return {"users": names.user_name, "machines": names.machine_name, "groups": names.group_name}[kind](name)
