"""`dendrite secrets get NAME` and the group re-keys without the CLI framework, started in half the time.

Why: importing Typer and click costs about 40 ms, most of what `secrets get` spends beyond `sops
decrypt`, and a tenth of a 1,000-secret re-key by `secrets groups add-user` (README, "Performance").
Only the exact shapes

    [-C DIR | --repo DIR | --repo=DIR] [--no-commit] secrets get NAME
    [-C DIR | --repo DIR | --repo=DIR] [--no-commit] secrets groups add-user GROUP USER
    [-C DIR | --repo DIR | --repo=DIR] [--no-commit] secrets groups remove-user GROUP USER

(global options before `secrets`, each at most once, in any order) are answered here; anything else
(--help, --debug, `--`, `--create`, an unknown option, an option value or name that looks like an
option, a shell-completion request) goes to the Typer tree, as does a DIR that Typer's own path check
would refuse (a file, an unreadable directory, an empty string). What runs is what the Typer command
runs: the same root-callback step (`console.begin`), the same name checks in the same order, the same
`secrets_base` function, inside the same error boundary (`cli.boundary`), so output, errors, exit
codes and git commits are the same; tests/cli/test_fast.py runs both paths on a table of cases and
compares them.

--debug is left to Typer: its errors end in a traceback, whose frames would differ, and a debugging
run needs no fast start.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn


@dataclass(frozen=True)
class Request:
    name: str  # the secret; for a group command, the group
    repo: str | None = None
    no_commit: bool = False
    command: str = "get"  # or "add-user", "remove-user" (of `secrets groups`)
    member: str | None = None  # the user of a group command


_GROUP_COMMANDS = ("add-user", "remove-user")


def request(argv: Sequence[str], environ: Mapping[str, str]) -> Request | None:
    """The command this command line asks for, or None when the Typer tree must answer it."""
    if any(k.startswith("_") and k.endswith("_COMPLETE") for k in environ):
        return None  # click's completion variable (`_DENDRITE_COMPLETE`): Typer answers it
    repo: str | None = None
    no_commit = False
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--no-commit" and not no_commit:
            no_commit = True
        elif option in ("-C", "--repo") and repo is None and rest:
            repo = rest.pop(0)
        elif option.startswith("--repo=") and repo is None:
            repo = option.removeprefix("--repo=")
        else:
            return None
    if len(rest) == 3 and rest[:2] == ["secrets", "get"]:
        command, names = "get", rest[2:]
    elif len(rest) == 5 and rest[:2] == ["secrets", "groups"] and rest[2] in _GROUP_COMMANDS:
        command, names = rest[2], rest[3:]
    else:
        return None
    if any(n.startswith("-") for n in names):
        return None
    if repo is not None and not _typer_takes(repo):
        return None
    return Request(names[0], repo, no_commit, command, names[1] if len(names) > 1 else None)


def _typer_takes(directory: str) -> bool:
    """Whether Typer's check of `--repo` (a path, file_okay=False, readable) passes `directory` as typed.

    Typer (`typer._param_types.coerce_cli_path`) takes a path it cannot stat as it is, refuses a regular
    file and an unreadable path; an empty one it makes ".". Only the plain cases are taken here: a
    path that does not exist, or a readable directory. Typer's refusals are its own to word.
    """
    if not directory or directory.startswith("-"):
        return False
    try:
        st = os.stat(directory)
    except OSError:
        return True
    return stat.S_ISDIR(st.st_mode) and os.access(directory, os.R_OK)


def run(req: Request) -> None:
    """Run the request inside the error boundary, as `cli.main.run` runs the Typer tree."""
    # the store's modules are imported here, still under the start-up handler (`dendrite.cli`: a
    # Ctrl-C is one line and exit 130): inside the boundary it raises KeyboardInterrupt, and raised
    # inside the initialisation of pyrage (a Rust extension that runs Python code as it loads) it
    # becomes a panic and a traceback
    from dendrite.cli import boundary, secrets_base  # noqa: F401

    if req.command == "get":
        boundary.run(lambda: _run(req), debug=False)
        return
    try:
        boundary.run(lambda: _run(req), debug=False)
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code: object) -> NoReturn:
    """End a re-key's process as the interpreter would, without its teardown.

    Why: the teardown frees every module and object one by one, about 16 ms after a 1,000-secret
    re-key, for a process that has nothing left to clean up: the writes, the git commit and the lock
    are done, the workers reaped. The exit handlers still run (the warnings a store collected), then
    the streams are flushed and the process ends with the code `sys.exit` was given.
    """
    import atexit

    if code is None:
        code = 0
    elif not isinstance(code, int):  # as the interpreter answers `sys.exit("text")`
        sys.stderr.write(f"{code}\n")
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _run(req: Request) -> None:
    from dendrite import changes, names
    from dendrite.cli import console, secrets_base

    console.begin(None if req.repo is None else Path(req.repo), debug=False, no_commit=req.no_commit)
    try:  # as click closes the root context: recording ends whatever happened
        if req.command == "get":
            names.check("secret", req.name)  # Typer's SecretArg callback (cli.common.name_arg)
            secrets_base.get(req.name)
            return
        assert req.member is not None
        names.check("group", req.name)  # GroupArg's callback, then UserArg's, in click's order
        names.check("user", req.member)
        if req.command == "add-user":
            secrets_base.group_add(req.name, "users", req.member, False)  # no --create here
        else:
            secrets_base.group_remove(req.name, "users", req.member)
    finally:
        changes.end()
