"""The one place dendrite starts another program: nix, nix-instantiate, git, ssh, ssh-keygen, bwrap...

Modelled on nixos-rebuild-ng's `process.run_wrapper` and clan's `clan_lib.cmd.run(cmd, RunOpts) ->
CmdOut`. A command is a sequence of strings whose first item is the tool's name. `run` finds the tool
on PATH (a missing tool is a ToolMissing with a one-sentence hint), stops it after a timeout (a
CommandTimeout, never a traceback), keeps the tail of stderr, and with `check=True` turns a non-zero
exit into one CommandError carrying the command, the exit code and the output. `check` has no
default: every caller says whether failure is an error (ruff's PLW1510 asks the same of
`subprocess.run`).

Every run is logged at DEBUG on the `dendrite.process` logger, which `dendrite --debug` shows; the
library never prints. Arguments are logged, so secrets go through `input` or `env`, never argv.

`spawn` is the one function that starts a process; tests replace it to assert exact command lines
without the program installed (as nixos-rebuild-ng's tests patch `subprocess.run`).

A program from someone else (a generator's script) is run with the limits of `RunOpts.limits`: its
stdout and stderr are drained as they come and only their last bytes kept (a flood costs no memory),
no file it writes may grow past a size (RLIMIT_FSIZE), it dies with dendrite (PR_SET_PDEATHSIG), and
whatever it left running in its session is killed when it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dendrite.errors import CommandError, CommandTimeout, ToolMissing

log = logging.getLogger(__name__)

TAIL_LINES = 20  # how much of stderr a CommandError keeps: enough for nix's error trace, not a log

# What to do when a tool is missing, one sentence each.
TOOL_HINTS = {
    "nix": "install Nix (https://nixos.org/download) and make sure `nix` is on PATH",
    "nix-instantiate": "install Nix (https://nixos.org/download) and make sure `nix-instantiate` is on PATH",
    "git": "install git and make sure it is on PATH",
    "ssh": "install the OpenSSH client",
    "ssh-keygen": "install the OpenSSH client, which provides ssh-keygen",
    "zerotier-idtool": "install ZeroTier One, which provides zerotier-idtool",
    "bwrap": "install bubblewrap (the `bwrap` command), e.g. `apt install bubblewrap`",
}


@dataclass(frozen=True)
class Limits:
    """What an untrusted program may cost: see the module docstring."""

    keep: int = 64 * 1024  # bytes of stdout and of stderr kept (their ends); the rest is read and dropped
    max_file_size: int | None = None  # no file the program writes may hold more (it gets SIGXFSZ)
    die_with_parent: bool = True  # killed when dendrite dies, even by SIGKILL
    kill_session: bool = True  # when it ends, kill what it left running (it could keep writing)


@dataclass(frozen=True)
class RunOpts:
    """How to run one command. Only `check` is required, so that every caller decides it."""

    check: bool  # raise a CommandError (of class `error`) on a non-zero exit
    timeout: float = 60.0  # seconds, then the process group is killed and CommandTimeout raised
    cwd: Path | None = None
    env: Mapping[str, str] | None = None  # None: dendrite's own environment
    input: bytes | None = None  # None: stdin is /dev/null, so nothing can hang on a prompt
    what: str | None = None  # how messages name the run, e.g. "nix eval of /r#clan.inventory"
    hint: str | None = None  # what the user can do when the command fails
    needed_for: str | None = None  # "--nix": "--nix needs the nix command, which is not installed"
    missing_hint: str | None = None  # replaces TOOL_HINTS[tool] when the tool is missing
    error: type[CommandError] = CommandError  # a subclass when the failure means more, e.g. NixEvalError
    limits: Limits | None = None  # None: a trusted tool, its whole output kept; `input` needs None


@dataclass(frozen=True)
class CmdOut:
    """A finished run: the command as asked (tool name first, not its path), exit code and output."""

    command: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        """stdout decoded; undecodable bytes are replaced, since this is for reading, not for keys."""
        return self.stdout.decode(errors="replace")

    @property
    def stderr_tail(self) -> str:
        return tail(self.stderr)


def tail(stderr: bytes | None, lines: int = TAIL_LINES) -> str:
    """The last `lines` non-blank lines of stderr: where programs put the error that ended them."""
    kept = [ln for ln in (stderr or b"").decode(errors="replace").splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def describe(command: Sequence[str], opts: RunOpts) -> str:
    """How a message names a run: the caller's words, else the command line cut to a readable length."""
    if opts.what:
        return opts.what
    line = shlex.join(command)
    return f"`{line if len(line) <= 80 else line[:77] + '...'}`"


def find_tool(name: str, *, needed_for: str | None = None, hint: str | None = None) -> str:
    """The executable for `name` on PATH (or `name` itself when it is a path); ToolMissing otherwise."""
    found = shutil.which(name)
    if found is not None:
        return found
    tool = os.path.basename(name)
    what = f"{needed_for} needs the {tool} command" if needed_for else f"the {tool} command is needed"
    raise ToolMissing(
        tool,
        f"{what}, which is not installed or not on PATH",
        hint or TOOL_HINTS.get(tool, f"install {tool} and make sure it is on PATH"),
    )


def command_error(out: CmdOut, opts: RunOpts) -> CommandError:
    """One sentence for a failed run: what failed, its exit code, and the last line it wrote to stderr."""
    last = out.stderr_tail.splitlines()[-1:] or ["it wrote nothing to stderr"]
    return opts.error(
        f"{describe(out.command, opts)} failed with exit code {out.returncode}: {last[0].strip()}",
        opts.hint or "run dendrite with --debug to see the command and the end of its error output",
        command=out.command,
        returncode=out.returncode,
        stdout=out.stdout,
        stderr_tail=out.stderr_tail,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process and everything it started (it leads its own session), so pipes close."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _timeout(command: tuple[str, ...], opts: RunOpts, stdout: bytes, stderr: bytes) -> CommandTimeout:
    return CommandTimeout(
        f"{describe(command, opts)} did not finish within {opts.timeout:g} s and was stopped",
        opts.hint or "run it by hand to see where it waits, or try again when the machine is less busy",
        command=command,
        returncode=None,
        stdout=stdout,
        stderr_tail=tail(stderr),
    )


def spawn(command: tuple[str, ...], opts: RunOpts) -> CmdOut:
    """Start the program, feed it `input`, wait at most `timeout`. The only function that forks."""
    if opts.limits is not None and opts.input is not None:
        raise ValueError("a run with limits reads nothing from dendrite: its stdin is /dev/null")
    exe = find_tool(command[0], needed_for=opts.needed_for, hint=opts.missing_hint)
    started = time.monotonic()
    try:  # a session of its own: a timeout kills nix's or git's helpers too, not just the parent
        proc = subprocess.Popen(
            [exe, *command[1:]],
            stdin=subprocess.DEVNULL if opts.input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=opts.cwd,
            env=None if opts.env is None else dict(opts.env),
            start_new_session=True,
            preexec_fn=None if opts.limits is None else _child_setup(opts.limits),
        )
    except OSError as exc:  # not executable, a missing working directory...
        raise CommandError(
            f"{describe(command, opts)} could not be started: {exc.strerror or exc}",
            opts.missing_hint or TOOL_HINTS.get(command[0]),
            command=command,
            returncode=None,
        ) from None
    with proc:
        if opts.limits is None:
            stdout, stderr = _communicate(command, proc, opts)
        else:
            stdout, stderr = _drain(command, proc, opts, opts.limits)
    return CmdOut(command, proc.returncode, stdout, stderr, time.monotonic() - started)


def _communicate(
    command: tuple[str, ...], proc: subprocess.Popen[bytes], opts: RunOpts
) -> tuple[bytes, bytes]:
    try:
        return proc.communicate(opts.input, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        raise _timeout(command, opts, stdout, stderr) from None
    except BaseException:  # Ctrl-C: the child is in its own session, so it must be stopped here
        _kill_group(proc)
        raise


def _drain(
    command: tuple[str, ...], proc: subprocess.Popen[bytes], opts: RunOpts, limits: Limits
) -> tuple[bytes, bytes]:
    """Wait while threads drain both pipes, keeping their tails; kill the session as `limits` says.

    Why a kill at the end: background processes the program started would otherwise outlive it,
    keep writing where its outputs are read, and hold what it was given.
    """
    assert proc.stdout is not None and proc.stderr is not None
    tails = [_Tail(proc.stdout, limits.keep), _Tail(proc.stderr, limits.keep)]
    timed_out = False
    try:
        proc.wait(timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if limits.kill_session or timed_out or proc.returncode is None:  # None: Ctrl-C meanwhile
            _kill_group(proc)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for t in tails:
            t.join()
    if timed_out:
        raise _timeout(command, opts, tails[0].data(), tails[1].data())
    return tails[0].data(), tails[1].data()


class _Tail:
    """Drains a pipe in a thread and keeps only its last `keep` bytes: a program printing gigabytes
    costs no memory, and the end of stderr is what explains a failure."""

    def __init__(self, pipe: IO[bytes], keep: int) -> None:
        self._pipe = pipe
        self._keep = keep
        self._buf = bytearray()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(self._pipe.fileno(), 65536):
                self._buf += chunk
                if len(self._buf) > 2 * self._keep:
                    del self._buf[: len(self._buf) - self._keep]

    def join(self) -> None:
        # a process that escaped the session may hold the pipe open: do not wait for it forever
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._pipe.close()

    def data(self) -> bytes:
        return bytes(self._buf[max(0, len(self._buf) - self._keep) :])


_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _child_setup(limits: Limits) -> Callable[[], None]:
    """What the child does between fork and exec: die with dendrite and cap the size of every file
    it writes. Everything is computed here, before the fork; the child only makes two system calls."""
    libc = _LIBC if limits.die_with_parent else None
    cap = None
    if limits.max_file_size is not None:
        # one byte over the size, so a file cut at the limit is still recognised as too large; never
        # above a hard limit we could not raise
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        want = limits.max_file_size + 1
        cap = want if hard == resource.RLIM_INFINITY else min(want, hard)

    def setup() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))

    return setup


def run(command: Sequence[str], opts: RunOpts) -> CmdOut:
    """Run `command` (tool name first) as `opts` says; see the module docstring for the guarantees."""
    cmd = tuple(command)
    log.debug("run: %s%s", shlex.join(cmd), f" (in {opts.cwd})" if opts.cwd else "")
    try:
        out = spawn(cmd, opts)
    except CommandError as exc:
        log.debug("%s; stderr tail:\n%s", exc.message, exc.stderr_tail)
        raise
    log.debug("exit %d after %.2f s: %s", out.returncode, out.seconds, cmd[0])
    if out.returncode != 0 and out.stderr_tail:
        log.debug("stderr tail of %s:\n%s", cmd[0], out.stderr_tail)
    if opts.check and out.returncode != 0:
        raise command_error(out, opts)
    return out
