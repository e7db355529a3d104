"""Reading .drv files from a Nix store, and nothing else: the one door through which the diff reads.

A derivation path comes from `nix` or from inside another .drv file, which a hostile repository can
shape; so a path is read only when it names a `<hash>-<name>.drv` directly in the store directory,
is a regular file (a symbolic link is not followed), and is no larger than MAX_DRV_BYTES.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.drv.aterm import Derivation, parse
from dendrite.errors import InputError

STORE_DIR = Path("/nix/store")
MAX_DRV_BYTES = 16 * 1024 * 1024  # nixpkgs' largest .drv files are a few hundred KiB
_BASENAME = re.compile(r"[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+\.drv")  # Nix's base-32 alphabet


def store_name(path: str) -> str:
    """The name part of a store path: `/nix/store/<hash>-hello-2.12.drv` -> `hello-2.12.drv`."""
    base = path.rsplit("/", 1)[-1]
    return base[33:] if len(base) > 33 and base[32] == "-" else base


@dataclass
class DrvReader:
    """Reads and parses .drv files below `store_dir`, each once (a graph shares most of its nodes)."""

    store_dir: Path = STORE_DIR
    max_bytes: int = MAX_DRV_BYTES
    cache: dict[str, Derivation] = field(default_factory=dict)

    def check(self, path: str) -> Path:
        p = Path(path)
        if p.parent != self.store_dir or not _BASENAME.fullmatch(p.name):
            raise InputError(
                f"{path} is not a derivation in {self.store_dir}",
                hint="give a .drv path that nix-instantiate printed",
            )
        return p

    def read(self, path: str) -> Derivation:
        found = self.cache.get(path)
        if found is not None:
            return found
        p = self.check(path)
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            raise InputError(
                f"cannot read {path}: {exc.strerror}",
                hint="evaluate the configuration again so that Nix writes its derivations",
            ) from None
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > self.max_bytes:
                raise InputError(
                    f"{path} is not a regular file of at most {self.max_bytes} bytes",
                    hint="the store holds something that is not a derivation Nix wrote",
                )
            data = f.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise InputError(f"{path} grew past {self.max_bytes} bytes while it was read")
        drv = parse(data, path)
        self.cache[path] = drv
        return drv
