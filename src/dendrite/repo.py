"""Finding the repository a command works on, and the paths of clan's stores inside it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import InputError


@dataclass(frozen=True)
class Repo:
    root: Path

    @property
    def sops_dir(self) -> Path:
        return self.root / "sops"

    @property
    def vars_dir(self) -> Path:
        return self.root / "vars"

    @property
    def inventory_json(self) -> Path:
        return self.root / "inventory.json"


def find_repo(start: Path | None = None, *, explicit: bool = False) -> Repo:
    """The repository containing `start`: the nearest directory with flake.nix, sops/ or .git.

    With `explicit`, `start` is taken as the root as it is (the user named it). Otherwise the search
    goes up from the working directory, like git and clan do; $DENDRITE_REPO overrides both.
    """
    env = os.environ.get("DENDRITE_REPO")
    if start is None and env:
        start, explicit = Path(env), True
    here = (start or Path.cwd()).resolve()
    if explicit:
        if not here.is_dir():
            raise InputError(f"repository {here} is not a directory", hint="pass an existing directory")
        return Repo(here)
    for cand in (here, *here.parents):
        if (cand / "flake.nix").exists() or (cand / "sops").is_dir() or (cand / ".git").exists():
            return Repo(cand)
    return Repo(here)
