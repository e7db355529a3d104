"""Where things live in clan's sops/ and vars/ trees, and which secrets exist."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dendrite.names import Kind, is_valid
from dendrite.repofs import RepoFS

MEMBER_KINDS = ("users", "machines", "groups")


@dataclass(frozen=True)
class SecretRef:
    """A secret on disk: a legacy `sops/secrets/<name>` or a vars secret `vars/.../<gen>/<file>`."""

    kind: str  # "secret" or "var"
    name: str  # the secret name, or the var's path below vars/
    path: Path  # the directory holding `secret` and the member links

    @property
    def file(self) -> Path:
        return self.path / "secret"

    @property
    def label(self) -> str:
        return self.name if self.kind == "secret" else f"vars/{self.name}"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def fs(self) -> RepoFS:
        return RepoFS(self.root)

    @property
    def sops(self) -> Path:
        return self.root / "sops"

    @property
    def vars(self) -> Path:
        return self.root / "vars"

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

    def legacy_secrets(self) -> list[SecretRef]:
        base = self.secrets()
        if not base.is_dir():
            return []
        return [
            SecretRef("secret", e.name, e)
            for e in sorted(base.iterdir())
            if e.is_dir() and is_valid("secret", e.name) and (e / "secret").is_file()
        ]

    def var_secrets(self) -> list[SecretRef]:
        """Every vars secret: vars/shared/<gen>/<file> and vars/per-machine/<m>/<gen>/<file>."""
        out: list[SecretRef] = []
        for pattern in ("shared/*/*/secret", "per-machine/*/*/*/secret"):
            for f in sorted(self.vars.glob(pattern)):
                out.append(SecretRef("var", str(f.parent.relative_to(self.vars)), f.parent))
        return out

    def all_secrets(self) -> list[SecretRef]:
        return self.legacy_secrets() + self.var_secrets()


def iter_links(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        yield from sorted(p for p in directory.iterdir())
