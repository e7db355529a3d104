"""Finding the repository a command works on, and the paths of clan's stores inside it.

`Repo` is the one owner of those paths: the sops/ tree, the vars/ tree, inventory.json, machines/
and dendrite's own .dendrite/ directory. Code that needs one asks the handle (or uses the relative
names below with the handle's `RepoFS`) instead of joining the names by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dendrite import names
from dendrite.errors import InputError
from dendrite.repofs import STATE_DIR, RepoFS

# below the root, as RepoFS takes them
SOPS_DIR = "sops"
VARS_DIR = "vars"
INVENTORY_JSON = "inventory.json"
MACHINES_DIR = "machines"
__all__ = [
    "INVENTORY_JSON",
    "MACHINES_DIR",
    "MARKERS",
    "SOPS_DIR",
    "STATE_DIR",
    "VARS_DIR",
    "Repo",
    "find_repo",
    "is_root",
]


@dataclass(frozen=True)
class Repo:
    root: Path

    @property
    def fs(self) -> RepoFS:
        """The door every access below the root goes through (`dendrite.repofs`)."""
        return RepoFS(self.root)

    @property
    def sops_dir(self) -> Path:
        return self.root / SOPS_DIR

    @property
    def vars_dir(self) -> Path:
        return self.root / VARS_DIR

    @property
    def inventory_json(self) -> Path:
        return self.root / INVENTORY_JSON

    @property
    def machines_dir(self) -> Path:
        return self.root / MACHINES_DIR

    @property
    def state_dir(self) -> Path:
        """dendrite's own lock, scratch and journal, git-ignored."""
        return self.root / STATE_DIR

    def machine_dir(self, name: str) -> Path:
        """machines/<name>, the name checked as a machine name."""
        return self.machines_dir / names.check("machine", name)


MARKERS = ("flake.nix", SOPS_DIR, ".git")
"""What makes a directory a repository's root: a flake, clan's secret store, or a git work tree."""


def is_root(path: Path) -> bool:
    """Whether `path` has one of the MARKERS (sops/ only as a directory)."""
    return (path / "flake.nix").exists() or (path / SOPS_DIR).is_dir() or (path / ".git").exists()


def _resolved(start: Path | None) -> Path:
    """`start` (or the working directory) made absolute, or one sentence when it cannot be.

    Why: a working directory deleted under the shell (FileNotFoundError from getcwd) and a `-C` that
    is a symbolic link loop (RuntimeError in Python 3.11's `resolve`) were internal errors, exit 70.
    """
    try:
        return (start or Path.cwd()).resolve()
    except FileNotFoundError:
        if start is None or not start.is_absolute():  # getcwd fails: the directory was removed
            raise InputError(
                "the working directory no longer exists", hint="cd to an existing directory, or pass -C DIR"
            ) from None
        raise
    except (RuntimeError, OSError) as exc:
        reason = (
            "a symbolic link loop" if isinstance(exc, RuntimeError) else (exc.strerror or str(exc)).lower()
        )
        raise InputError(
            f"repository {start} cannot be used: {reason}", hint="pass an existing directory"
        ) from None


def find_repo(start: Path | None = None, *, explicit: bool = False) -> Repo:
    """The repository containing `start`: the nearest directory with flake.nix, sops/ or .git.

    With `explicit`, `start` is taken as the root as it is (the user named it). Otherwise the search
    goes up from the working directory, like git and clan do; $DENDRITE_REPO overrides both.

    Why refuse when nothing is found, rather than take the working directory: a read there would
    answer "secret foo does not exist" for a store that is simply elsewhere, and a write would
    scatter sops/ and .dendrite/ into whatever directory the user happened to be in.
    """
    env = os.environ.get("DENDRITE_REPO")
    if start is None and env:
        start, explicit = Path(env), True
    here = _resolved(start)
    if explicit:
        if not here.is_dir():
            raise InputError(f"repository {here} is not a directory", hint="pass an existing directory")
        return Repo(here)
    for cand in (here, *here.parents):
        if is_root(cand):
            return Repo(cand)
    raise InputError(
        f"not in a clan repository (looked from {here} up to /); use -C DIR or run `dendrite init`"
    )
