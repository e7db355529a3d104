"""Which `.nix` files a repository has: import-tree's rule, exactly (vic/import-tree, spec §1.2).

This is the one home of that rule; `dendrite layout`, the inventory's static reader and `dendrite nix
check-syntax` all take their files from `discover`, so they cannot disagree about what the flake sees.

A file under root R is imported iff its root-relative path (with a leading /) ends in `.nix` and
contains no `/_`. Directories are walked in byte order (readDir), a symlink is a leaf (a symlinked
file is imported, a symlinked directory is not walked), dotfiles are in, a directory named `x.nix`
is walked. In a git repository a flake's source is what git's index holds, so each file also says
whether git tracks it; that is reported (`untracked`), never applied silently.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError, ToolMissing
from dendrite.nixlang import syntax as S
from dendrite.nixlang.source import MAX_FILE_BYTES, parse_bytes
from dendrite.process import RunOpts, command_error, run
from dendrite.repofs import RepoFS


@dataclass(frozen=True)
class NixFile:
    path: Path  # under the root, symlinks kept: import-tree imports the link, not its target
    rel: str  # "/a/b.nix": the root-relative string import-tree's filters see
    tracked: bool | None  # in git's index; None when git cannot say (no repository, or use_git=False)


@dataclass(frozen=True)
class Discovery:
    root: Path  # the import root
    entries: tuple[NixFile, ...]  # every file import-tree's rule selects, tracked or not
    notes: tuple[str, ...] = ()  # why tracked-ness is unknown, when it is

    @property
    def files(self) -> tuple[Path, ...]:
        """What the flake imports: the selected files, minus those git does not track."""
        return tuple(e.path for e in self.entries if e.tracked is not False)

    @property
    def untracked(self) -> tuple[Path, ...]:
        """Selected files git does not track: on disk, but invisible to a `git+file` flake."""
        return tuple(e.path for e in self.entries if e.tracked is False)


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
            stack.append((p, _is_real_dir(p)))
    return out


def _is_real_dir(p: Path) -> bool:
    """A directory, not a link to one: never stat()ed through the link (a link to /proc/1/root or to a
    directory the user cannot read must not stop the walk)."""
    try:
        return stat.S_ISDIR(os.lstat(p).st_mode)
    except OSError:
        return False


def selected(rel: str) -> bool:
    """import-tree's default filter on the root-relative path: `.nix`, and no component starting with `_`."""
    return rel.endswith(".nix") and "/_" not in rel


def _git_env() -> dict[str, str]:
    """The environment with git's messages in English, so "not a git repository" can be recognised."""
    return {**os.environ, "LC_ALL": "C"}


def _git(root: Path, *args: str) -> list[str]:
    """git in `root`, with the one setting of a repository's own config that runs a program turned off.

    Why: `core.fsmonitor` in `.git/config` names a command git runs on `ls-files`; a repository handed
    over as a directory (not a fresh clone) could carry one. Hooks do not run for these commands.
    """
    return ["git", "-c", "core.fsmonitor=false", "-C", str(root), *args]


def git_index(root: Path) -> frozenset[str] | None:
    """Paths under root (relative to it) in git's index, or None when root is not in a git work tree.

    The index is what a `git+file` flake copies: committed files and `git add`ed ones, not untracked
    files even when .gitignore does not exclude them (hence `--cached` alone).
    """
    work = next((d for d in (root, *root.parents) if os.path.lexists(d / ".git")), None)
    if work is not None:  # a FIFO its config includes would block git until the timeout
        from dendrite.gitcommit import check_config_files

        check_config_files(work)
    top = run(
        _git(root, "rev-parse", "--is-inside-work-tree"),
        RunOpts(check=False, timeout=30, env=_git_env()),
    )
    if top.ok:
        if top.text.strip() != "true":  # inside .git itself, or a bare repository
            return None
    elif "not a git repository" in top.stderr_tail:
        return None
    else:  # git refuses the repository (safe.directory, a broken .git): say so rather than guess
        raise command_error(top, RunOpts(check=True, what=f"git in {root}", hint="run `git status` there"))
    listed = run(
        _git(root, "ls-files", "-z", "--cached"),
        RunOpts(check=True, timeout=60, env=_git_env(), what=f"listing the files git tracks under {root}"),
    )
    return frozenset(os.fsdecode(p) for p in listed.stdout.split(b"\0") if p)


def _in_git_checkout(root: Path) -> bool:
    return any((d / ".git").exists() for d in (root, *root.parents))


def discover(root: Path, use_git: bool = True) -> Discovery:
    """The `.nix` files import-tree takes from root, each flagged with whether git tracks it."""
    root = root.resolve()
    if not root.is_dir():
        return Discovery(root, ())
    rels = [(p, "/" + p.relative_to(root).as_posix()) for p in walk(root)]
    picked = [(p, rel) for p, rel in rels if selected(rel)]
    notes: tuple[str, ...] = ()
    index: frozenset[str] | None = None
    if use_git:
        try:
            index = git_index(root)
        except ToolMissing:
            if _in_git_checkout(root):
                notes = ("git is not installed, so which files git tracks (and the flake sees) is unknown",)
    if index is None:
        return Discovery(root, tuple(NixFile(p, rel, None) for p, rel in picked), notes)
    return Discovery(root, tuple(NixFile(p, rel, rel[1:] in index) for p, rel in picked))


def import_root(repo: Path) -> Path:
    """The directory flake.nix hands to import-tree (`import-tree ./modules`), else modules/.

    flake.nix is read through the repository's door: a symlink or a FIFO there is not read (modules/
    is taken). The result may lie outside the repository (`import-tree ../..`, a linked modules/):
    callers check `inside_repo` before walking it.
    """
    fs = RepoFS(repo)
    data = None
    if fs.kind("flake.nix") == "file":
        try:
            data = fs.read_bytes("flake.nix", limit=MAX_FILE_BYTES)
        except (DendriteError, OSError):
            data = None
    if data is not None:
        parsed = parse_bytes(data, str(repo / "flake.nix"))
        for node in parsed.result.root.walk():
            if node.kind != S.APPLY:
                continue
            fn, arg = node.nodes()[0], node.nodes()[-1]
            if fn.text().split(".")[-1].endswith("import-tree") and arg.kind == S.PATH:
                target = (repo / arg.text()).resolve()
                if target.is_dir():
                    return target
    return (repo / "modules").resolve()


def inside_repo(found: Path, repo: Path) -> bool:
    """Whether an import root lies within the repository: one outside is never walked."""
    return found.is_relative_to(repo.resolve())
