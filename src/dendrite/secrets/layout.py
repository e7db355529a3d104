"""Where things live in clan's sops/ and vars/ trees, and which secrets exist."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from dendrite.names import Kind, is_valid
from dendrite.repo import VARS_DIR, Repo
from dendrite.repofs import Node, RepoFS

MEMBER_KINDS = ("users", "machines", "groups")


@dataclass(frozen=True)
class SecretRef:
    """A secret on disk: a legacy `sops/secrets/<name>` or a vars secret `vars/.../<gen>/<file>`."""

    kind: str  # "secret" or "var"
    name: str  # the secret name, or the var's path below vars/
    path: Path  # the directory holding `secret` and the member links

    @functools.cached_property
    def file(self) -> Path:  # cached: a re-key asks for each secret's file several times
        return self.path / "secret"

    @property
    def label(self) -> str:
        return self.name if self.kind == "secret" else f"{VARS_DIR}/{self.name}"


@dataclass(frozen=True)
class Layout:
    """The sops/ tree's own map (and where vars/ secrets are found); its roots are the `Repo`'s."""

    root: Path

    @property
    def fs(self) -> RepoFS:
        return RepoFS(self.root)

    @property
    def sops(self) -> Path:
        return Repo(self.root).sops_dir

    @property
    def vars(self) -> Path:
        return Repo(self.root).vars_dir

    def users(self) -> Path:
        return self.sops / "users"

    def machines(self) -> Path:
        return self.sops / "machines"

    def groups(self) -> Path:
        return self.sops / "groups"

    def secrets(self) -> Path:
        return self.sops / "secrets"

    def user(self, name: str) -> Path:
        return self.users() / name

    def machine(self, name: str) -> Path:
        return self.machines() / name

    def group(self, name: str) -> Path:
        return self.groups() / name

    def secret(self, name: str) -> SecretRef:
        return SecretRef("secret", name, self.secrets() / name)

    def member_dir(self, kind: str, name: str) -> Path:
        return {"users": self.user, "machines": self.machine, "groups": self.group}[kind](name)

    def names(self, kind: str) -> list[str]:
        """Users or machines with a key.json, or groups, as clan lists them (invalid names skipped)."""
        base = {"users": self.users(), "machines": self.machines(), "groups": self.groups()}[kind]
        single: Kind = {"users": "user", "machines": "machine", "groups": "group"}[kind]  # type: ignore[assignment]
        fs = self.fs
        out = []
        for entry in fs.entries(base):
            if entry.kind != "dir" or not is_valid(single, entry.name):
                continue  # a link or a file planted among the members is not a member
            if kind != "groups" and not fs.exists(base / entry.name / "key.json"):  # read, and refused, later
                continue
            out.append(entry.name)
        return out

    def legacy_secrets(self, listing: dict[str, Node] | None = None) -> list[SecretRef]:
        """Every `sops/secrets/<name>/secret`; links and files planted among them are not secrets.

        `listing`: `sops/secrets` as `RepoFS.tree` read it, at least two levels deep (a caller that
        reads it anyway); else it is read here.
        """
        return [ref for ref, kind in self._secret_entries(listing) if kind == "file"]

    def planted_secrets(self, listing: dict[str, Node] | None = None) -> list[tuple[SecretRef, str]]:
        """Every `sops/secrets/<name>/secret` that is not a regular file, with what it is ('link',
        'dir', 'other'): not secrets, so never read nor re-keyed, but `secrets check` names them."""
        return [(ref, kind) for ref, kind in self._secret_entries(listing) if kind != "file"]

    def _secret_entries(self, listing: dict[str, Node] | None) -> list[tuple[SecretRef, str]]:
        """Every `sops/secrets/<name>/secret` of a valid name, with the kind of entry it is."""
        base = self.secrets()
        if listing is None:
            listing = self.fs.tree(base, depth=2) or {}
        out = []
        for name, node in listing.items():
            if node.kind != "dir" or not is_valid("secret", name):
                continue
            secret = (node.children or {}).get("secret")
            if secret is not None:
                out.append((SecretRef("secret", name, base / name), secret.kind))
        return out

    def var_secrets(self) -> list[SecretRef]:
        """Every vars secret: vars/shared/<gen>/<file> and vars/per-machine/<m>/<gen>/<file>.

        Listed with `fs.entries`, never following a link: a symlinked generator or machine directory
        could otherwise make dendrite re-key (rewrite) a file outside the repository.
        """
        fs = self.fs
        if fs.kind(self.vars) is None:
            return []  # no vars/ at all (a link there is refused below, by the walk)
        # here, not at the top: the generators' model is loaded only by commands that walk vars
        from dendrite.generators import PER_MACHINE_DIR, SHARED, PerMachine, Placement

        out: list[SecretRef] = []
        machines = self._subdirs(self.vars / PER_MACHINE_DIR, "machine")
        placements: list[Placement] = [SHARED, *map(PerMachine, machines)]
        for base in (self.vars / p.base for p in placements):
            for gen in self._subdirs(base, "generator"):
                for f in self._subdirs(base / gen, "file"):
                    d = base / gen / f
                    if fs.is_file(d / "secret"):
                        out.append(SecretRef("var", str(d.relative_to(self.vars)), d))
        return out

    def _subdirs(self, base: Path, kind: Kind) -> list[str]:
        return [e.name for e in self.fs.entries(base) if e.kind == "dir" and is_valid(kind, e.name)]

    def all_secrets(self, legacy: dict[str, Node] | None = None) -> list[SecretRef]:
        return self.legacy_secrets(legacy) + self.var_secrets()

    def links(self, directory: Path) -> list[str]:
        """The names of the member links in `directory` (links only, never followed)."""
        return [e.name for e in self.fs.entries(directory) if e.kind == "link"]
