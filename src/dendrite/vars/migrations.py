"""Vars migrations that run before `vars generate`: clan's ZeroTier move to the all-shared layout.

clan-core (clan_lib/vars/migrations/zerotier.py, migrate_var.py) moves older ZeroTier vars to the
names its zerotier service declares today, so an existing identity and network id are kept (a new
one would split the network). Before the migration a repository is in one of these states; after it,
in FINAL (M = machine, I = its zerotier instance, C = the instance's controller):

LEGACY      per-machine/M/zerotier/zerotier-identity-secret -> shared/zerotier-identity-M/identity-secret
            per-machine/C/zerotier/zerotier-network-id      -> shared/zerotier-network-I/network-id
            per-machine/M/zerotier/zerotier-ip              -> shared/zerotier-ip-M-I/ip
CANONICAL   shared/zerotier-controller/...                  -> removed (repopulated from LEGACY)
            per-machine/M/zerotier/...                      -> as LEGACY
OLD_FINAL   per-machine/M/zerotier-identity/identity-secret -> shared/zerotier-identity-M/identity-secret
                                                               (wins over a shared copy of a controller)
            per-machine/M/zerotier-ip-I/ip                  -> shared/zerotier-ip-M-I/ip
FINAL       shared/zerotier-identity-M, shared/zerotier-network-I, shared/zerotier-ip-M-I: nothing to do

As clan: a var directory is moved only when it holds a `value` or `secret` file (an empty skeleton
left by an interrupted run is removed instead); a var already at the destination is replaced; the
member links inside (users/, machines/, groups/) are re-pointed from the new depth to the same
members, and the ciphertext is moved as it is. The secrets are re-encrypted by the next `vars
generate` (its shared-secret fix) when their recipients need it. A machine's legacy `zerotier/`
directory is removed when the machine is in no zerotier instance. A machine in more than one zerotier
instance stops the migration (clan cannot tell which instance its vars belong to).

Unlike clan, the whole migration is one transaction under the repository lock (an error or a kill
rolls it back), and a legacy directory holding something the migration does not know is reported
before anything is moved (clan fails on it half-way).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from dendrite import undo
from dendrite.errors import InputError, UnsafePathError
from dendrite.inventory import Inventory
from dendrite.repo import VARS_DIR
from dendrite.repofs import RepoFS

COMMIT_MESSAGE = "migrate: move zerotier vars to all-shared layout"  # clan's single commit message
GUIDE = "https://clan.lol/docs/unstable/guides/migrations/zerotier"
_LEGACY_LEAVES = ("zerotier-identity-secret", "zerotier-network-id", "zerotier-ip")
_READ_LIMIT = 16 * 1024 * 1024


@dataclass
class Migration:
    """What the migration did, paths below the repository root."""

    moved: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    files: int = 0  # files moved or removed (clan commits these and stops the command)

    @property
    def changed(self) -> bool:
        return self.files > 0


def needs_zerotier_migration(root: Path) -> bool:
    """clan's _needs_migration: a directory of LEGACY, CANONICAL or OLD_FINAL exists."""
    fs = RepoFS(root)
    if fs.exists(f"{VARS_DIR}/shared/zerotier-controller"):
        return True
    for m in fs.entries(f"{VARS_DIR}/per-machine"):
        if m.kind != "dir":
            continue
        base = f"{VARS_DIR}/per-machine/{m.name}"
        if fs.is_dir(f"{base}/zerotier") or fs.is_dir(f"{base}/zerotier-identity"):
            return True
        if any(e.name.startswith("zerotier-ip-") for e in fs.entries(base)):
            return True
    return False


def network_map(inv: Inventory) -> dict[str, tuple[str, str]]:
    """Each machine's zerotier instance and role, as clan reads them from the inventory.

    A machine is in an instance when a role names it or one of its tags (clan's machine_instances);
    its role is "controller" when the controller role names it, else "peer". A machine in more than
    one zerotier instance stops the migration.
    """
    out: dict[str, tuple[str, str]] = {}
    conflicts: dict[str, list[tuple[str, str]]] = {}
    for name in inv.machines:
        tags = set(inv.machine_tags(name))
        joined = []
        for iname, inst in inv.instances.items():
            if inst.module_name != "zerotier":
                continue
            if not any(name in r.machines or tags & set(r.tags) for r in inst.roles.values()):
                continue
            ctl = inst.roles.get("controller")
            joined.append((iname, "controller" if ctl is not None and name in ctl.machines else "peer"))
        if len(joined) > 1:
            conflicts[name] = joined
        elif joined:
            out[name] = joined[0]
    if conflicts:
        shown = "; ".join(
            f"{m} in {', '.join(f'{i} ({r})' for i, r in joined)}" for m, joined in sorted(conflicts.items())
        )
        raise InputError(
            "the zerotier vars cannot be migrated: some machines belong to more than one zerotier "
            f"instance, so their vars have no single destination ({shown})",
            hint="leave each of them in one zerotier instance, run 'dendrite vars generate' to migrate, "
            "then let them join the others",
        )
    return out


class _Mover:
    """clan's migrate_var.py over RepoFS: no link followed, nothing written outside vars/."""

    def __init__(self, fs: RepoFS, report: Migration) -> None:
        self.fs = fs
        self.report = report

    def _files(self, path: str) -> int:
        """clan's _collect_files: every non-directory below `path`."""
        n = 0
        for e in self.fs.entries(path):
            n += self._files(f"{path}/{e.name}") if e.kind == "dir" else 1
        return n

    def populated(self, path: str) -> bool:
        return self.fs.is_file(f"{path}/value") or self.fs.is_file(f"{path}/secret")

    def delete(self, path: str) -> None:
        if not self.fs.exists(path):
            return
        self.report.files += self._files(path) if self.fs.is_dir(path) else 1
        self.fs.remove_tree(path)
        self.report.removed.append(path)

    def move(self, src: str, dst: str) -> None:
        if not self.fs.exists(src):
            return
        self.report.files += self._files(src)
        if self.fs.exists(dst):
            self.report.files += self._files(dst)
            self.fs.remove_tree(dst)
        self._copy(src, dst, src, dst)
        self.fs.remove_tree(src)
        self.report.files += self._files(dst)
        self.report.moved.append((src, dst))

    def leaf(self, src: str, dst: str) -> None:
        """clan's _migrate_leaf: move a populated var, remove an empty skeleton."""
        if not self.fs.exists(src):
            return
        if self.populated(src):
            self.move(src, dst)
        else:
            self.delete(src)

    def rmdir_if_empty(self, path: str) -> None:
        if self.fs.is_dir(path) and not self.fs.entries(path):
            self.fs.remove_tree(path)

    def _copy(self, src: str, dst: str, top_src: str, top_dst: str) -> None:
        fs = self.fs
        fs.make_dirs(dst)
        for e in fs.entries(src):
            s, d = f"{src}/{e.name}", f"{dst}/{e.name}"
            if e.kind == "dir":
                self._copy(s, d, top_src, top_dst)
            elif e.kind == "file":
                st = fs.lstat(s)
                mode = 0o644 if st is None else st.st_mode & 0o777
                fs.write_bytes(d, fs.read_bytes(s, limit=_READ_LIMIT), mode)
            elif e.kind == "link":
                fs.symlink(d, self._relinked(s, d, top_src, top_dst))
            else:
                raise UnsafePathError(
                    f"{s} in {fs.root} is a {e.kind}, not a file dendrite moves",
                    hint="remove it and run again",
                )

    def _relinked(self, link: str, new_link: str, top_src: str, top_dst: str) -> str:
        """clan's _relink_symlinks: the same member seen from the new place (moved along if inside)."""
        target = self.fs.readlink(link)
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise UnsafePathError(
                f"{link} in {self.fs.root} points outside the repository ({target})",
                hint="remove the link; dendrite moves only links to members of the repository",
            )
        if resolved == top_src or resolved.startswith(top_src + "/"):
            resolved = top_dst + resolved[len(top_src) :]
        return posixpath.relpath(resolved, posixpath.dirname(new_link))


def _check_legacy_dirs(fs: RepoFS, machines: list[str], networks: dict[str, tuple[str, str]]) -> None:
    """A legacy `zerotier/` directory must be empty once its three vars are moved (clan's rmdir)."""
    for m in machines:
        base = f"{VARS_DIR}/per-machine/{m}/zerotier"
        if m not in networks or not fs.is_dir(base):
            continue
        other = [e.name for e in fs.entries(base) if e.name not in _LEGACY_LEAVES]
        if other:
            raise InputError(
                f"{base} holds {', '.join(other)}, which the zerotier migration does not know; nothing was moved",
                hint="move or remove it, then run 'dendrite vars generate' again",
            )


def migrate_zerotier(root: Path, inv: Inventory) -> Migration:
    """Move the older ZeroTier layouts to FINAL, as clan does; idempotent. The caller holds the lock."""
    fs = RepoFS(root)
    report = Migration()
    per_machine = f"{VARS_DIR}/per-machine"
    if not fs.is_dir(per_machine) or not needs_zerotier_migration(root):
        return report
    networks = network_map(inv)
    machines = [e.name for e in fs.entries(per_machine) if e.kind == "dir"]
    _check_legacy_dirs(fs, machines, networks)
    shared = f"{VARS_DIR}/shared"
    touched = [f"{shared}/zerotier-controller"]
    for m in machines:
        touched += [f"{per_machine}/{m}/zerotier", f"{per_machine}/{m}/zerotier-identity"]
        touched += [f"{shared}/zerotier-identity-{m}"]
        for e in fs.entries(f"{per_machine}/{m}"):
            if e.name.startswith("zerotier-ip-"):
                touched += [f"{per_machine}/{m}/{e.name}", f"{shared}/zerotier-ip-{m}-{e.name[12:]}"]
        if m in networks:
            touched += [
                f"{shared}/zerotier-network-{networks[m][0]}",
                f"{shared}/zerotier-ip-{m}-{networks[m][0]}",
            ]
    mover = _Mover(fs, report)
    with undo.transaction(fs, touched):
        mover.delete(f"{shared}/zerotier-controller")  # CANONICAL: repopulated from the per-machine vars
        for m in machines:
            base = f"{per_machine}/{m}"
            if fs.exists(f"{base}/zerotier"):
                if m not in networks:
                    mover.delete(f"{base}/zerotier")  # stale: the machine is in no zerotier instance
                    continue
                instance = networks[m][0]
                mover.leaf(
                    f"{base}/zerotier/zerotier-identity-secret",
                    f"{shared}/zerotier-identity-{m}/identity-secret",
                )
                mover.leaf(
                    f"{base}/zerotier/zerotier-network-id", f"{shared}/zerotier-network-{instance}/network-id"
                )
                mover.leaf(f"{base}/zerotier/zerotier-ip", f"{shared}/zerotier-ip-{m}-{instance}/ip")
                mover.rmdir_if_empty(f"{base}/zerotier")
            # OLD_FINAL: the per-machine identity is the one the machine ran with; it wins
            if fs.exists(f"{base}/zerotier-identity/identity-secret"):
                mover.leaf(
                    f"{base}/zerotier-identity/identity-secret",
                    f"{shared}/zerotier-identity-{m}/identity-secret",
                )
                mover.rmdir_if_empty(f"{base}/zerotier-identity")
            for e in fs.entries(base):
                if not e.name.startswith("zerotier-ip-") or e.kind != "dir":
                    continue
                ip_dir = f"{base}/{e.name}"
                mover.leaf(
                    f"{ip_dir}/ip", f"{shared}/zerotier-ip-{m}-{e.name.removeprefix('zerotier-ip-')}/ip"
                )
                mover.rmdir_if_empty(ip_dir)
    return report


def run_migrations(root: Path, inv: Inventory) -> Migration:
    """Every vars migration, before generators are read (clan's run_migrations)."""
    return migrate_zerotier(root, inv)
