"""Commit the paths dendrite changed, and only those, as clan does after each change.

clan (`clan_lib/git/__init__.py`, `commit_files`): when `<flake>/.git` exists, each changed path is
`git add`ed, `git diff --cached --exit-code -- <paths>` decides whether there is anything to commit,
and `git commit -m <message> --no-verify <paths>` commits those paths only (a commit with paths is an
`--only` commit: whatever else is staged stays staged and out of the commit). With `CLAN_NO_COMMIT`
set, new files are only registered with `git add --intent-to-add`, so a git flake sees them, and
nothing is committed. A flake that is not a git work tree is left alone.

dendrite does the same, with these differences, each deliberate:

- The paths are the ones the change log holds (`dendrite.changes`), so an operation cannot forget one.
  A path git ignores (`.gitignore`) is left out and reported, where clan's `git add` would fail after
  the change was made.
- A hostile repository must not run code through git. Before anything else, git runs with
  `core.fsmonitor=false` (a command git would run on add/diff/commit) and `core.hooksPath=/dev/null`
  (no hook at all, where clan's `--no-verify` skips only pre-commit and commit-msg: prepare-commit-msg,
  post-commit, post-index-change and reference-transaction would still run the repository's
  `.git/hooks`), external diff and textconv are off, and every setting that names a program (filter
  drivers, signing programs) that comes from the repository's own `.git/config` (git's "local" or
  "worktree" scope) is replaced by the user's own value (system, global or command line) or by a
  harmless one. Signing configured by the user still signs, as with clan.
- The repository's location comes from `<root>` alone: GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE and
  their kin in the environment are dropped, so a commit never lands in another repository.
- Pathspecs are literal (GIT_LITERAL_PATHSPECS) and handed over on stdin, NUL-separated: a name like
  `*` or `:(glob)x` means that file, and a re-key of thousands of secrets fits.
- The repository lock (`fsutil.repo_lock`) is held while git runs, where clan takes `<gitdir>/clan.lock`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dendrite.errors import CommandError, DendriteError
from dendrite.fsutil import repo_lock

if TYPE_CHECKING:
    from dendrite.process import CmdOut

# Repository-location variables: the commit goes to <root>'s repository, whatever the environment says.
_DROPPED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_EXTERNAL_DIFF",
)

# Always: no fsmonitor command, no hook, no automatic gc or maintenance run after the commit.
_FIXED_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "gc.auto=0",
    "maintenance.auto=false",
)

# Settings naming a program git may run on add or commit, and what to run instead when only the
# repository's own config sets them (git's built-in default, or nothing).
_PROGRAM_KEYS: dict[str, str] = {
    "gpg.program": "gpg",
    "gpg.openpgp.program": "gpg",
    "gpg.x509.program": "gpgsm",
    "gpg.ssh.program": "ssh-keygen",
    "gpg.ssh.defaultkeycommand": "true",
}
_FILTER_SUBKEYS = ("clean", "smudge", "process")
_UNTRUSTED_SCOPES = frozenset({"local", "worktree"})
_PROGRAM_REGEX = r"^((gpg|filter)\..*|commit\.gpgsign)$"

_CHUNK = 1000  # paths per `git ls-files` command line


class CommitError(DendriteError):
    """git refused to commit a change dendrite made (the change itself is on disk)."""


@dataclass(frozen=True)
class Outcome:
    """What happened to a change's paths in git.

    `state` is one of: "committed" (`commit` holds the new commit's id), "unchanged" (git already
    had these contents), "registered" (no-commit: new files added with intent-to-add), "not-git"
    (the repository is not the top of a git work tree) or "nothing" (no path to commit).
    """

    state: str
    paths: tuple[str, ...] = ()  # the files the commit (or registration) covered
    commit: str | None = None
    ignored: tuple[str, ...] = field(default=())  # changed paths git ignores: left out


def is_work_tree(root: Path) -> bool:
    """True when `root` is the top of a git work tree (clan: `(flake_dir / ".git").exists()`).

    `.git` must exist in `root`, as clan checks, and git must agree that `root` is the top of its work
    tree. A `.git` git refuses (a broken `gitdir:` file, a repository of another user that
    `safe.directory` does not allow) is a CommitError, as clan's `git add` fails there; a
    `core.worktree` pointing elsewhere counts as no work tree here.
    """
    if not os.path.lexists(root / ".git"):
        return False
    check_config_files(root)
    top = _git(root, ("rev-parse", "--show-toplevel"), check=False)
    if not top.ok:
        reason = (top.stderr_tail.splitlines() or ["no reason given"])[-1]
        raise CommitError(
            f"{root} has a .git that git does not accept as a repository: {reason}",
            hint="the change is written but not committed; run `git status` there, or pass --no-commit",
        )
    return os.path.realpath(top.text.rstrip("\n")) == os.path.realpath(root)


def commit(root: Path, paths: Sequence[str], message: str, *, no_commit: bool = False) -> Outcome:
    """Stage and commit exactly `paths` (relative to `root`; files or directories, present or removed).

    With `no_commit` new files are only registered (`git add --intent-to-add`), as clan does under
    `CLAN_NO_COMMIT`. Nothing happens when `paths` is empty or `root` is not a git work tree.
    """
    wanted = sorted(dict.fromkeys(p.strip("/") for p in paths if p.strip("/")))
    if not wanted:
        return Outcome("nothing")
    try:
        if os.path.lexists(root / ".git"):  # before any git runs: a FIFO as HEAD would block the first
            for top in _git_dirs(root):
                _check_git_tree(root, top)
        if not is_work_tree(root):
            return Outcome("not-git")
    except CommitError:
        if no_commit:  # asked not to commit: a repository git refuses is none to register files in
            return Outcome("not-git")
        raise
    with repo_lock(root):
        _check_git_dir(root)
        _check_read_files(root, wanted)
        overrides = _overrides(root)
        tracked = _ls_files(root, overrides, wanted, ("--cached",))
        untracked = _ls_files(root, overrides, wanted, ("--others", "--exclude-standard"))
        known = _with_parents([*tracked, *untracked])
        ignored = tuple(p for p in wanted if p not in known)
        if no_commit:
            if untracked:
                _git(root, ("add", "--intent-to-add", *_FROM_STDIN), overrides, stdin=untracked)
            return Outcome("registered", tuple(untracked), ignored=_present(root, ignored))
        files = sorted(set(tracked) | set(untracked))
        if not files:
            return Outcome("unchanged", ignored=_present(root, ignored))
        _git(root, ("add", "--all", *_FROM_STDIN), overrides, stdin=files)
        staged = set(_z(_git(root, _STAGED, overrides).stdout))
        changed = [f for f in files if f in staged]
        if not changed:
            return Outcome("unchanged", ignored=_present(root, ignored))
        _git(
            root,
            ("commit", "--no-verify", "--quiet", "-m", message, *_FROM_STDIN),
            overrides,
            stdin=changed,
            what=f"git commit in {root}",
        )
        head = _git(root, ("rev-parse", "HEAD"), overrides).text.strip()
        return Outcome("committed", tuple(changed), head, _present(root, ignored))


def _check_git_dir(root: Path) -> None:
    """The repository git writes to must be `root`'s own, and hold no symbolic link.

    git writes through links in its directory: a reflog `.git/logs/HEAD -> ~/.bashrc` gets a line
    appended (with the committer name the repository's config chose), `.git/objects -> elsewhere`
    receives the objects. And a `.git` file (`gitdir: /home/you/other/.git`) or a `.git` link would put
    the commit into another repository. A linked worktree (its git dir's `gitdir` file names `root/.git`)
    and a submodule (its git dir's `core.worktree` is `root`, which `is_work_tree` checked) are `root`'s.
    """
    dotgit = root / ".git"
    if os.path.islink(dotgit):
        raise CommitError(
            f"{dotgit} is a symbolic link; dendrite does not commit through it",
            hint="the change is written but not committed; commit it yourself, or pass --no-commit",
        )
    got = _git(root, ("rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-common-dir"))
    lines = got.text.splitlines()
    gitdir, common = Path(lines[0]), Path(lines[-1])
    if os.path.realpath(gitdir) != os.path.realpath(dotgit) and not _links_back(root, gitdir):
        raise CommitError(
            f"{dotgit} points to a repository outside {root} ({gitdir}); dendrite does not commit there",
            hint="the change is written but not committed; commit it yourself, or pass --no-commit",
        )
    for top in dict.fromkeys((gitdir, common)):
        _check_git_tree(root, top)


def _check_git_tree(root: Path, top: Path) -> None:
    found = _first_unsafe(top)
    if found is None:
        return
    path, is_link = found
    if is_link:
        raise CommitError(
            f"the git directory of {root} holds a symbolic link, {path}; git would write through it",
            hint="the change is written but not committed; remove the link, or pass --no-commit",
        )
    raise CommitError(
        f"the git directory of {root} holds {path}, which is not a regular file; git would wait on it",
        hint="the change is written but not committed; remove it, or pass --no-commit",
    )


_INCLUDE_REGEX = r"^(include\.path|includeif\..*\.path|core\.attributesfile|core\.excludesfile)$"
_MAX_INCLUDE_DEPTH = 10  # git's own limit


def _git_dirs(root: Path) -> list[Path]:
    """`root`'s git directory and common directory, found as git finds them, without running git."""
    dotgit = root / ".git"
    try:
        if os.path.isdir(dotgit):  # a link to one is refused later; its config is only read here
            gitdir = dotgit
        else:
            text = _small_file(dotgit).decode(errors="replace")
            gitdir = root / text.partition("gitdir:")[2].strip()
        commondir = gitdir / "commondir"
        common = (
            gitdir / _small_file(commondir).decode(errors="replace").strip() if commondir.exists() else gitdir
        )
    except OSError:
        return []  # git will say what is wrong with it
    return list(dict.fromkeys((gitdir, common)))


def _small_file(path: Path) -> bytes:
    """A regular file's first 4 KiB (`.git`, `commondir`): a FIFO there must not block us either."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CommitError(f"{path} is not a regular file; git would wait on it forever")
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _must_be_regular(path: Path, what: str) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return  # missing (or unreadable): git skips it or says so itself
    if not stat.S_ISREG(st.st_mode):
        raise CommitError(
            f"{path}, {what}, is not a regular file; git would wait on it forever",
            hint="remove it: git opens it on every command (a change already made is written, not committed)",
        )


def check_config_files(root: Path) -> None:
    """Every configuration file git reads in this repository is a regular file (or missing).

    git opens its config files, the files they include and the attribute and exclude files they name
    with a blocking open(2): a FIFO planted there would hang every git command until its timeout.
    Each file's own settings are read with `--no-includes`, so reading them cannot block either.
    """
    todo = [(d / name, 0) for d in _git_dirs(root) for name in ("config", "config.worktree")]
    seen: set[Path] = set()
    while todo:
        path, depth = todo.pop()
        if path in seen or depth > _MAX_INCLUDE_DEPTH:
            continue
        seen.add(path)
        _must_be_regular(path, "a git configuration file")
        if not path.is_file():
            continue
        got = _git(
            root,
            ("config", "--file", str(path), "--no-includes", "-z", "--get-regexp", _INCLUDE_REGEX),
            check=False,
        )
        for item in got.stdout.split(b"\0"):
            key, _, value = os.fsdecode(item).partition("\n")
            if not value:
                continue
            named = path.parent / os.path.expanduser(value)
            if key.startswith("include"):
                todo.append((named, depth + 1))
            else:
                _must_be_regular(named, f"the file {key} names")


def _check_read_files(root: Path, paths: Sequence[str]) -> None:
    """The attribute and ignore files git reads on add and ls-files are regular files (or missing)."""
    for d in _git_dirs(root):
        for name in ("exclude", "attributes"):
            _must_be_regular(d / "info" / name, "a git info file")
    dirs = {""}
    for p in paths:
        while p:
            p = p.rpartition("/")[0]
            dirs.add(p)
    for rel in sorted(dirs):
        for name in (".gitignore", ".gitattributes"):
            _must_be_regular(root / rel / name, "a git pattern file")


def _links_back(root: Path, gitdir: Path) -> bool:
    """A linked worktree's or a submodule's git dir, which names `root` as its work tree."""
    try:
        back = (gitdir / "gitdir").read_text(errors="replace").strip()
    except OSError:
        back = ""
    if back and os.path.realpath(back) == os.path.realpath(root / ".git"):
        return True
    wt = _git(root, ("config", "--file", str(gitdir / "config"), "--get", "core.worktree"), check=False)
    return wt.ok and bool(wt.text.strip())  # set by git for a submodule; is_work_tree checked it is root


def _first_unsafe(top: Path) -> tuple[str, bool] | None:
    """The first symbolic link (True) or FIFO, socket or device (False) below `top`, never following a link.

    `hooks` is left out: git never writes there, no hook runs (`core.hooksPath=/dev/null`), and a
    linked `.git/hooks` (to a hooks folder kept in the repository) is a common setup.
    """
    stack = [str(top)]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            if here == str(top) and entry.name == "hooks":
                continue
            if entry.is_symlink():
                return entry.path, True
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif not entry.is_file(follow_symlinks=False):  # git opens HEAD, refs, index with open(2)
                return entry.path, False
    return None


# what the index holds that HEAD does not (all of it before the first commit), NUL-separated
_STAGED = ("diff", "--cached", "--name-only", "--no-renames", "--no-ext-diff", "--no-textconv", "-z")
_FROM_STDIN = ("--pathspec-from-file=-", "--pathspec-file-nul")


def _with_parents(files: Iterable[str]) -> set[str]:
    """The files and every directory above them: a changed path git knows is one of these."""
    out: set[str] = set()
    for f in files:
        while f and f not in out:
            out.add(f)
            f = f.rpartition("/")[0]
    return out


def _present(root: Path, paths: Iterable[str]) -> tuple[str, ...]:
    """Of the paths git neither tracks nor may add, those on disk: the ones it ignores."""
    return tuple(p for p in paths if os.path.lexists(root / p))


def _ls_files(root: Path, overrides: Sequence[str], paths: Sequence[str], how: Sequence[str]) -> list[str]:
    """The files below `paths` that git lists with `how` (chunked: a command line has a limit)."""
    out: list[str] = []
    for i in range(0, len(paths), _CHUNK):
        chunk = paths[i : i + _CHUNK]
        out += _z(_git(root, ("ls-files", "-z", *how, "--", *chunk), overrides).stdout)
    return list(dict.fromkeys(out))


def _z(data: bytes) -> list[str]:
    return [os.fsdecode(x) for x in data.split(b"\0") if x]


def _env() -> Mapping[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    # no pager, no editor (the message is given), no prompt: nothing waits for a terminal
    env.update(GIT_LITERAL_PATHSPECS="1", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", GIT_EDITOR="true")
    return env


def _git(
    root: Path,
    args: Sequence[str],
    overrides: Sequence[str] = (),
    *,
    check: bool = True,
    stdin: Sequence[str] | None = None,
    what: str | None = None,
) -> CmdOut:
    # here, not at the top: the process wrapper (subprocess, logging: ~8 ms) is loaded only when git
    # runs; a change in a directory that is no git work tree commits nothing and never needs it
    from dendrite.process import RunOpts, run

    config = [x for kv in (*_FIXED_CONFIG, *overrides) for x in ("-c", kv)]
    data = None if stdin is None else b"".join(os.fsencode(p) + b"\0" for p in stdin)
    try:
        return run(
            ["git", "--no-pager", *config, "-C", str(root), *args],
            RunOpts(
                check=check,
                timeout=300,
                env=_env(),
                input=data,
                what=what or f"git {args[0]} in {root}",
                hint="the change is written but not committed; fix git (or pass --no-commit) and commit it "
                "yourself",
            ),
        )
    except CommandError as exc:
        if not check:
            raise
        raise CommitError(exc.message, exc.hint) from None


def safe_config(root: Path) -> list[str]:
    """`-c` arguments for any git command run in a repository someone else wrote (`git archive` of a ref
    included, which runs filter drivers): the fixed settings and the program overrides of `_overrides`."""
    if os.path.lexists(root / ".git"):
        check_config_files(root)  # a FIFO included from .git/config would block every git command
    return [x for kv in (*_FIXED_CONFIG, *_overrides(root)) for x in ("-c", kv)]


def _overrides(root: Path) -> list[str]:
    """`-c` settings replacing each program-naming setting the repository's own config makes.

    Reading config runs nothing. A setting from a trusted scope (system, global, command line) keeps
    its last trusted value; one only the repository sets gets a harmless value; a filter driver
    defined by the repository has no command and is not required.
    """
    got = _git(root, ("config", "-z", "--show-scope", "--get-regexp", _PROGRAM_REGEX), check=False)
    if got.returncode not in (0, 1):  # 1: no such setting
        raise CommitError(
            f"cannot read the git configuration of {root}: {got.stderr_tail or 'no reason given'}"
        )
    trusted: dict[str, str] = {}
    untrusted: dict[str, None] = {}
    fields = got.stdout.split(b"\0")
    for scope, item in zip(fields[0::2], fields[1::2], strict=False):
        key, _, value = os.fsdecode(item).partition("\n")
        if os.fsdecode(scope) in _UNTRUSTED_SCOPES:
            untrusted[key] = None
        else:
            trusted[key] = value
    out: list[str] = []
    for key in untrusted:
        section, _, rest = key.partition(".")
        sub = rest.rpartition(".")[2]
        if section == "filter" and sub in _FILTER_SUBKEYS:
            out.append(f"{key}={trusted.get(key, '')}")  # an empty command: git runs no filter
        elif (section == "filter" and sub == "required") or key == "commit.gpgsign":
            out.append(f"{key}={trusted.get(key, 'false')}")
        elif key in _PROGRAM_KEYS:
            out.append(f"{key}={trusted.get(key, _PROGRAM_KEYS[key])}")
        elif section == "gpg" and sub == "program":  # a signing format git may add later
            out.append(f"{key}={trusted.get(key, '')}")
    return out
