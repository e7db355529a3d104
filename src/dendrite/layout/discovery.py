"""import-tree's file selection, exactly (vic/import-tree, spec §1.2), and finding the import root.

A file under root R is imported iff its root-relative path (with a leading /) ends in `.nix` and
contains no `/_`. Directories are walked in byte order (readDir), a symlink is a leaf (a symlinked
file is imported, a symlinked directory is not walked), dotfiles are in, a directory named `x.nix`
is walked. In a git repository only tracked files count, since the flake source is what git tracks.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.nixlang import parse_file
from dendrite.nixlang import syntax as S


@dataclass(frozen=True)
class Discovery:
    root: Path  # the import root
    files: tuple[Path, ...]
    untracked: tuple[Path, ...] = ()  # .nix files import-tree would take but git does not track
    problems: tuple[str, ...] = field(default=())


def walk(root: Path) -> list[Path]:
    out: list[Path] = []
    seen: set[tuple[int, int]] = set()

    # depth first in sorted order with an explicit stack: a hostile tree may nest thousands deep.
    # The stack holds files still to list (False) and directories still to enter (True).
    stack: list[tuple[Path, bool]] = [(root, True)]
    while stack:
        d, enter = stack.pop()
        if not enter:
            out.append(d)
            continue
        try:
            st = d.stat()
            if (st.st_dev, st.st_ino) in seen:  # a loop through bind mounts; symlinked dirs are not walked
                continue
            seen.add((st.st_dev, st.st_ino))
            names = sorted(os.listdir(d), key=lambda s: s.encode())
        except OSError:
            continue
        for name in reversed(names):
            p = d / name
            stack.append((p, p.is_dir() and not p.is_symlink()))
    return out


def selected(rel: str) -> bool:
    return rel.endswith(".nix") and "/_" not in rel


def git_tracked(root: Path) -> set[Path] | None:
    """Files git lists (tracked and untracked-not-ignored) under root, or None outside a git repository."""
    try:
        top = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if top.returncode != 0:
        return None
    proc = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached"], capture_output=True, timeout=60
    )
    return {(root / p.decode()).resolve() for p in proc.stdout.split(b"\0") if p}


def discover(root: Path, use_git: bool = True) -> Discovery:
    root = root.resolve()
    files = [p for p in walk(root) if selected("/" + p.relative_to(root).as_posix())]
    tracked = git_tracked(root) if use_git else None
    if tracked is None:
        return Discovery(root, tuple(files))
    kept = [p for p in files if p.resolve() in tracked or (p.is_symlink() and p.absolute() in tracked)]
    gone = [p for p in files if p not in kept]
    return Discovery(root, tuple(kept), tuple(gone))


def import_root(repo: Path) -> Path:
    """The directory flake.nix hands to import-tree (`import-tree ./modules`), else modules/."""
    flake = repo / "flake.nix"
    if flake.is_file():
        parsed = parse_file(flake)
        for node in parsed.result.root.walk():
            if node.kind != S.APPLY:
                continue
            fn, arg = node.nodes()[0], node.nodes()[-1]
            if fn.text().split(".")[-1].endswith("import-tree") and arg.kind == S.PATH:
                target = (repo / arg.text()).resolve()
                if target.is_dir():
                    return target
    return (repo / "modules").resolve()
