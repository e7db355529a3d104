"""Running a generator's shell script: under bubblewrap, with no network, a read-only system, only the
generator's temp dir writable, and no $HOME (clan's sandbox, adapted to systems without /nix/store).

Sandboxed or not, the script gets only the environment the runner gives it, cannot write a file over
the output limit (RLIMIT_FSIZE), dies with dendrite, and its stdout and stderr cost at most a bounded
tail in memory. What it may write, and how it is read back, is `dendrite.vars.runner`'s business.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dendrite import process
from dendrite.errors import (
    CommandError,
    CommandTimeout,
    InputError,
    SandboxUnavailable,
    ScriptFailed,
    ToolMissing,
)

_SYSTEM = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/nix/store",
    "/run/current-system/sw",
    "/etc/alternatives",
)
TIMEOUT = 600
_NOT_FOUND = re.compile(
    r"(?m)^bash: (?:line \d+: )?([^\s:]+): (?:command not found|No such file or directory)$"
)


@lru_cache(maxsize=1)
def _probe() -> str | None:
    """None when bwrap runs here, else why not."""
    probe = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        out = process.run(probe, process.RunOpts(check=False, timeout=30))
    except ToolMissing:
        return "bwrap is not installed"
    except CommandError as exc:  # it hung or could not start
        return exc.message
    if not out.ok:
        return out.stderr_tail.splitlines()[-1] if out.stderr_tail else "bwrap failed"
    return None


@dataclass(frozen=True)
class Inputs:
    """Where a script's runtimeInputs are: PATH for the script, and what the sandbox must show it."""

    path: str
    binds: tuple[str, ...]
    """Host paths bound read-only into the sandbox (at the same place) so that the commands run there."""


_SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


def resolve_inputs(runtime_inputs: tuple[str, ...], label: str = "") -> Inputs:
    """Each runtimeInput looked up on the admin's PATH (absolute entries only), with what it needs.

    What a command needs inside the sandbox, besides the system directories bound anyway: its file
    (and the file a symbolic link to it names), the interpreter its `#!` line names, and the
    installation each of these lives in when that is self-contained: a Python virtual environment
    (`pyvenv.cfg`, as the venv's `xkcdpass` and its `python3`), a Python installation (pyenv's), or a
    directory under /opt. Nothing else of the admin's home or of the repository is shown.
    """
    where = f"generator {label}: " if label else ""
    host_path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if os.path.isabs(d)]
    dirs: list[str] = []
    binds: list[str] = []
    for cmd in runtime_inputs:
        if not cmd or "/" in cmd or cmd in (".", ".."):
            raise InputError(
                f"{where}runtimeInputs names {cmd!r}, which is not a command name",
                hint='name commands as found on PATH (e.g. "xkcdpass"), not paths',
            )
        found = shutil.which(cmd, path=os.pathsep.join(host_path))
        if found is None:
            raise InputError(
                f"{where}runtimeInputs names the command '{cmd}', which is not on PATH, so the sandbox "
                "cannot show it to the script; nothing was changed",
                hint=f"install {cmd} (or put its directory on PATH), or drop it from runtimeInputs",
            )
        real = os.path.realpath(found)
        d = os.path.dirname(real)
        if d not in dirs:
            dirs.append(d)
        for p in _needs(found):
            if p not in binds and not _is_system(p):
                binds.append(p)
    return Inputs(":".join([*dirs, *(d for d in _SYSTEM_PATH if d not in dirs)]), tuple(binds))


def _needs(found: str) -> list[str]:
    """The command's file, its link target, its interpreter, and their self-contained installations."""
    out: list[str] = []
    todo = [found]
    for _ in range(8):  # an interpreter named by an interpreter... bounded
        if not todo:
            break
        exe = todo.pop()
        real = os.path.realpath(exe)
        for p in (exe, real):
            prefix = _installation(p)
            for q in (prefix,) if prefix else (p,):
                if q not in out:
                    out.append(q)
        interp = _shebang(real)
        if interp is not None and interp not in out:
            todo.append(interp)
    return out


def _installation(exe: str) -> str | None:
    """The self-contained installation holding `exe` (<prefix>/bin/<exe>), or None."""
    bindir = os.path.dirname(exe)
    prefix = os.path.dirname(bindir)
    if os.path.basename(bindir) != "bin" or prefix in ("/", ""):
        return None
    home = os.path.expanduser("~")
    if prefix == home or home.startswith(prefix.rstrip("/") + "/"):
        return None  # the admin's home (or above it) is never shown, whatever lives there
    if os.path.isfile(os.path.join(prefix, "pyvenv.cfg")) or prefix.startswith("/opt/"):
        return prefix
    libdir = os.path.join(prefix, "lib")
    try:
        python_lib = any(n.startswith("python3") for n in os.listdir(libdir))
    except OSError:
        python_lib = False
    if python_lib and os.path.basename(exe).startswith("python"):
        return prefix  # a Python installation (pyenv's, /usr/local's): the interpreter needs its lib/
    return None


def _shebang(path: str) -> str | None:
    """The absolute interpreter a script's `#!` line names (`/usr/bin/env x` is looked up), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode(errors="replace").split()
    if not words or not os.path.isabs(words[0]):
        return None
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        return shutil.which(words[1])
    return words[0]


def _is_system(path: str) -> bool:
    return any(path == s or path.startswith(s + "/") for s in _SYSTEM)


def path_for(runtime_inputs: tuple[str, ...]) -> str:
    """PATH for a script: the directories of its runtimeInputs (commands looked up on PATH), then the system's."""
    return resolve_inputs(runtime_inputs).path


def bwrap_command(workdir: Path, script: str, env: dict[str, str], extra_ro: list[str]) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--tmpfs", "/"]
    for p in _SYSTEM:
        if os.path.exists(p):
            cmd += ["--ro-bind", p, p]
    cmd += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # the runtime inputs after the fresh /tmp: bwrap mounts in order, and a venv under /tmp (a CI
    # checkout, a `mktemp -d` clone) bound before it would be hidden by it
    for p in extra_ro:
        if os.path.exists(p):
            cmd += ["--ro-bind", p, p]
    cmd += [
        "--bind",
        str(workdir),
        str(workdir),
        "--chdir",
        str(workdir),
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--clearenv",
    ]
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    return [*cmd, "--", "bash", "-c", script]


def run_script(
    script: str,
    workdir: Path,
    env: dict[str, str],
    runtime_inputs: tuple[str, ...],
    *,
    sandbox: bool,
    label: str,
    max_file_size: int | None = None,
) -> None:
    """Run `script` with `workdir` as its only writable host directory; raise if it fails.

    The script sees only the variables in `env` plus PATH and LANG (and, unsandboxed, a HOME and TMPDIR
    inside `workdir`): never the admin's environment, which holds SOPS_AGE_KEY and tokens. No file it
    writes may exceed `max_file_size` bytes (RLIMIT_FSIZE), so it cannot fill memory-backed storage
    through one file. It dies with dendrite, and whatever it left running is killed when it ends.
    """
    inputs = resolve_inputs(runtime_inputs, label)
    full_env = {**env, "PATH": inputs.path, "LANG": "C.UTF-8"}
    wrapped = "set -euo pipefail\n" + script
    if sandbox:
        why = _probe()
        if why is not None:
            raise SandboxUnavailable(
                f"sandboxing with bwrap is not available here ({why})",
                hint="re-run with --no-sandbox to run generator scripts unsandboxed",
            )
        cmd = bwrap_command(workdir, wrapped, full_env, list(inputs.binds))
    else:
        # HOME is a path in the private work dir that does not exist yet: tools neither read nor write
        # the admin's home, and a missing HOME does not make them fall back to the passwd entry's.
        full_env |= {"HOME": str(workdir / "home"), "TMPDIR": str(workdir / "tmp")}
        cmd = ["bash", "-c", wrapped]
    returncode, stderr = _run_bounded(cmd, workdir, full_env, max_file_size, label)
    if max_file_size is not None and returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        raise InputError(
            f"generator {label} wrote a file over the output limit of {max_file_size} bytes and was "
            "stopped; no var was changed",
            hint=LIMIT_HINT,
        )
    if returncode != 0:
        text = stderr.decode(errors="replace")
        tail = "\n".join(text.rstrip().splitlines()[-10:])
        missing = _NOT_FOUND.search(text) if returncode == 127 else None
        if missing is not None:
            inside = "inside the bwrap sandbox" if sandbox else "on the script's PATH"
            raise ScriptFailed(
                f"generator {label} failed: the command '{missing.group(1)}' was not found {inside} "
                f"(PATH there: {inputs.path}); no var was changed",
                hint="name it in the generator's runtimeInputs: commands found on your PATH are shown "
                "to the script read-only",
            )
        raise ScriptFailed(
            f"generator {label} failed (exit {returncode}); no var was changed. Its stderr ends:\n{tail}"
        )


LIMIT_HINT = (
    "raise the limit with DENDRITE_VARS_MAX_OUTPUT=<bytes> (or [vars] max_output in dendrite.toml) "
    "if the generator is trusted"
)


def _run_bounded(
    cmd: list[str], workdir: Path, env: dict[str, str], max_file_size: int | None, label: str
) -> tuple[int, bytes]:
    """(exit status, the tail of stderr), run by `dendrite.process` with an untrusted program's limits.

    The env goes to bwrap too: bwrap itself needs nothing of the admin's environment.
    """
    opts = process.RunOpts(
        check=False,
        timeout=TIMEOUT,
        cwd=workdir,
        env=env,
        what=f"generator {label}",
        limits=process.Limits(keep=TAIL_BYTES, max_file_size=max_file_size),
    )
    try:
        out = process.run(cmd, opts)
    except CommandTimeout:
        raise ScriptFailed(
            f"generator {label} ran over {TIMEOUT} s and was stopped; no var was changed"
        ) from None
    return out.returncode, out.stderr


TAIL_BYTES = 64 * 1024
