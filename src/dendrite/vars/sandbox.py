"""Running a generator's shell script: under bubblewrap, with no network, a read-only system, only the
generator's temp dir writable, and no $HOME (clan's sandbox, adapted to systems without /nix/store)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from dendrite import process
from dendrite.errors import CommandError, DendriteError, InputError, ToolMissing

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


class SandboxUnavailable(DendriteError):
    pass


class ScriptFailed(DendriteError):
    pass


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
    bwrap = shutil.which("bwrap")
    assert bwrap is not None
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--tmpfs", "/"]
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
) -> None:
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
        cmd = ["bash", "-c", wrapped]
    try:
        proc = subprocess.run(
            cmd,
            cwd=workdir,
            env=full_env if not sandbox else None,
            capture_output=True,
            timeout=TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ScriptFailed(
            f"generator {label} ran over {TIMEOUT} s and was stopped; no var was changed"
        ) from None
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.decode(errors="replace").rstrip().splitlines()[-10:])
        raise ScriptFailed(
            f"generator {label} failed (exit {proc.returncode}); no var was changed. Its stderr ends:\n{tail}"
        )
