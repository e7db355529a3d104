"""Running a generator's shell script: under bubblewrap, with no network, a read-only system, only the
generator's temp dir writable, and no $HOME (clan's sandbox, adapted to systems without /nix/store).

Sandboxed or not, the script gets only the environment the runner gives it, cannot write a file over
the output limit (RLIMIT_FSIZE), dies with dendrite, and its stdout and stderr cost at most a bounded
tail in memory. What it may write, and how it is read back, is `dendrite.vars.runner`'s business.
"""

from __future__ import annotations

import os
import shutil
import signal
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


def path_for(runtime_inputs: tuple[str, ...]) -> str:
    """PATH for a script: the directories of its runtimeInputs (commands looked up on PATH), then the system's."""
    dirs: list[str] = []
    for cmd in runtime_inputs:
        found = shutil.which(cmd)
        if found is None:
            raise InputError(
                f"runtimeInputs names '{cmd}', which is not on PATH", hint="install it or drop it"
            )
        d = str(Path(found).resolve().parent)
        if d not in dirs:
            dirs.append(d)
    return ":".join([*dirs, "/usr/local/bin", "/usr/bin", "/bin"])


def bwrap_command(workdir: Path, script: str, env: dict[str, str], extra_ro: list[str]) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--tmpfs", "/"]
    for p in [*_SYSTEM, *extra_ro]:
        if os.path.exists(p):
            cmd += ["--ro-bind", p, p]
    cmd += [
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
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
    full_env = {**env, "PATH": path_for(runtime_inputs), "LANG": "C.UTF-8"}
    wrapped = "set -euo pipefail\n" + script
    if sandbox:
        why = _probe()
        if why is not None:
            raise SandboxUnavailable(
                f"sandboxing with bwrap is not available here ({why})",
                hint="re-run with --no-sandbox to run generator scripts unsandboxed",
            )
        extra = sorted({str(Path(p).parent) for p in full_env["PATH"].split(":") if p.startswith("/opt")})
        cmd = bwrap_command(workdir, wrapped, full_env, extra)
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
        tail = "\n".join(stderr.decode(errors="replace").rstrip().splitlines()[-10:])
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
