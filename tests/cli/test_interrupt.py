"""Ctrl-C at any moment: one line, exit 130, no traceback (workers included), no hang, and the
repository as it was before the command or after it, never between.

The signal is a real SIGINT sent to the command's whole process group, as a terminal sends it, at
delays spread over the command's own run time (start-up included), a bounded number of times.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyrage
import pytest

from dendrite.fsutil import PendingWrite, atomic_write_many
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.sops.age import identities_from_text
from tests.conftest import clean_env, run_cli

DENDRITE = str(Path(sys.executable).parent / "dendrite")
SECRETS = 600  # over rekey's parallel threshold (200): the re-wrap runs in worker processes
DELAYS = 10
# the line when Python could not deliver the interrupt (it came in a finaliser) and the command went on
RAN_TO_THE_END = "interrupted too late to stop it; the command completed"


def _store(root: Path, key_file: Path, n: int) -> None:
    admin, newcomer = pyrage.x25519.Identity.generate(), pyrage.x25519.Identity.generate()
    key_file.write_text(f"{admin}\n")
    key_file.chmod(0o600)
    (root / "sops").mkdir(parents=True)
    store = SecretsStore(root, identities_from_text(key_file.read_text()))
    store.add_user("crs58", [SopsKey("age", str(admin.to_public()))])
    store.add_user("alice", [SopsKey("age", str(newcomer.to_public()))])
    store.group_add("admins", "users", "crs58")
    with store.writing() as scratch:  # in bulk, as bench/secrets.py builds its store
        writes = []
        for i in range(n):
            ref = store.layout.secret(f"secret-{i:04d}")
            store.layout.fs.link_to(ref.path / "groups" / "admins", store.layout.group("admins"))
            writes.append(PendingWrite(ref.file, store.encrypt_for_links(ref, f"value {i}".encode())))
        atomic_write_many(writes, scratch)


def _interrupted(args: list[str], cwd: Path, env: dict[str, str], delay: float) -> tuple[int, str, float]:
    """Run dendrite, SIGINT its process group after `delay` s; (exit code, stderr, seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [DENDRITE, *args],  # the console script, as users run it
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group, so that the group can get the signal as from a terminal
    )
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):  # it may have finished already
        os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"dendrite {' '.join(args)} hung after SIGINT at {delay:.2f} s")
    return proc.returncode, err.decode(errors="replace"), time.monotonic() - started


def _one_line(code: int, err: str, delay: float) -> bool:
    """Check the one line; True when the interrupt came before dendrite's first line ran."""
    # No frame in a module of the dendrite package: the interrupt came during the interpreter's own
    # start-up (site, the console script's import machinery), before dendrite's first line set its
    # handler; Python then ends by the signal (or exit 1) after a KeyboardInterrupt traceback. Nothing
    # of dendrite had run, so nothing was changed (the README names this gap).
    before_dendrite = re.search(r'File "[^"]*/dendrite/[^"]*\.py"', err) is None
    if code == -signal.SIGINT:
        # the default action: before any handler (exec, dynamic loading), or Python re-raising the
        # signal after the start-up traceback above
        assert err == "" or ("KeyboardInterrupt" in err and before_dendrite), (
            f"SIGINT at {delay:.2f} s killed it after it wrote {err!r}"
        )
        return True
    if "KeyboardInterrupt" in err and before_dendrite and "interrupted" not in err:
        # exit 1 or 130, as the interpreter ends on it: after a traceback, a bare "KeyboardInterrupt"
        # (no frame of Python code yet), or "Failed checking if argv[0] is an import path entry"
        return True
    assert "Traceback" not in err, f"SIGINT at {delay:.2f} s:\n{err}"
    assert code in (0, 130), f"SIGINT at {delay:.2f} s: exit {code}\n{err}"
    if code == 130:
        assert len(err.splitlines()) == 1, f"at {delay:.2f} s: {err!r}"
        # or, when Python could not deliver it (a finaliser ran), the command's own end
        assert err.startswith(("interrupted; ", RAN_TO_THE_END)), f"at {delay:.2f} s: {err!r}"
    return False


def test_ctrl_c_during_a_large_regroup(tmp_path: Path) -> None:
    base, key_file = tmp_path / "base", tmp_path / "admin.txt"
    _store(base, key_file, SECRETS)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(key_file)}, tmp_path / "home")
    args = ["secrets", "groups", "add-user", "admins", "alice"]
    # how long the whole change takes here, undisturbed: the delays cover start-up to the end
    full = tmp_path / "full"
    shutil.copytree(base, full, symlinks=True)
    t0 = time.monotonic()
    assert run_cli(args, env, cwd=full).returncode == 0
    whole = time.monotonic() - t0
    seen = set()
    for i in range(DELAYS):
        delay = whole * (0.02 + 1.1 * i / DELAYS)
        work = tmp_path / f"w{i}"
        shutil.copytree(base, work, symlinks=True)
        code, err, _ = _interrupted(args, work, env, delay)
        early = _one_line(code, err, delay)
        member = (work / "sops/groups/admins/users/alice").is_symlink()
        if early or (code == 130 and "nothing was changed" in err):
            assert not member, err
            seen.add("nothing")
        else:
            assert member, err  # completed (exit 0, or the writes finished before the interruption)
            seen.add("done")
        check = run_cli(["secrets", "check"], env, cwd=work)
        assert check.returncode == 0, f"SIGINT at {delay:.2f} s left the store inconsistent: {check.stdout!r}"
        shutil.rmtree(work)
    assert "nothing" in seen, "no run was interrupted before its change: the delays missed the work"


def test_ctrl_c_during_start_up_and_a_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "sops").mkdir(parents=True)
    env = clean_env(home=tmp_path / "home")
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6):
        code, err, _ = _interrupted(["secrets", "list"], root, env, delay)
        early = _one_line(code, err, delay)
        if code == 130 and not early:  # a read: nothing changed, whether it stopped or ran to its end
            assert err in ("interrupted; nothing was changed\n", f"{RAN_TO_THE_END}\n"), err
    assert sorted(p.name for p in root.iterdir()) in (["sops"], [".dendrite", "sops"])


def test_ctrl_c_during_vars_generate_leaves_the_old_vars_or_the_new(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    demo = tmp_path / "demo"
    assert run_cli(["demo", str(demo)], env).returncode == 0
    env["SOPS_AGE_KEY_FILE"] = str(demo / ".keys/admin-age.txt")
    args = ["vars", "generate", "--regenerate", "-g", "openssh", "cinnabar"]  # openssh-cert with it
    t0 = time.monotonic()
    full = tmp_path / "full"
    shutil.copytree(demo, full, symlinks=True)
    assert run_cli(args, env, cwd=full).returncode == 0
    whole = time.monotonic() - t0
    for i in range(5):
        delay = whole * (0.05 + 1.0 * i / 5)
        work = tmp_path / f"w{i}"
        shutil.copytree(demo, work, symlinks=True)
        code, err, _ = _interrupted(args, work, env, delay)
        _one_line(code, err, delay)
        check = run_cli(["vars", "check"], env, cwd=work)
        assert check.returncode == 0, f"SIGINT at {delay:.2f} s: {check.stdout!r} {check.stderr!r}"
        assert not (work / ".dendrite/vars-undo.json").exists()
        shutil.rmtree(work)


def test_an_interrupted_demo_says_how_to_finish_and_is_finished_by_running_it_again(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    for i, delay in enumerate((0.8, 2.0, 4.0)):
        target = tmp_path / f"fleet{i}"
        code, err, _ = _interrupted(["demo", str(target)], tmp_path, env, delay)
        early = _one_line(code, err, delay)
        if code == 130 and not early and target.exists() and any(target.iterdir()):
            assert (
                "incomplete; run `dendrite demo" in err
                or "nothing was changed" in err
                or RAN_TO_THE_END in err
            ), err
        again = run_cli(["demo", str(target)], env)
        assert again.returncode == 0, again.stderr
        status = subprocess.run(
            ["git", "-C", str(target), "status", "--porcelain"], capture_output=True, check=True, timeout=60
        )
        assert status.stdout == b"", status.stdout


def test_an_interrupted_import_says_how_far_it_got_and_running_it_again_completes_it(tmp_path: Path) -> None:
    base, key_file = tmp_path / "base", tmp_path / "admin.txt"
    _store(base, key_file, 0)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(key_file)}, tmp_path / "home")
    public = str(identities_from_text(key_file.read_text()).publics[0])
    plain = tmp_path / "many.yaml"
    plain.write_text("".join(f"key{i:03d}: value {i}\n" for i in range(150)))
    enc = run_cli(["sops", "encrypt", "--age", public, str(plain)], env)
    assert enc.returncode == 0, enc.stderr
    encrypted = tmp_path / "many.enc.yaml"
    encrypted.write_bytes(enc.stdout)
    args = ["secrets", "import-sops", str(encrypted), "--group", "admins"]
    partial = 0
    for i, delay in enumerate((0.3, 1.0, 2.0, 3.5)):
        work = tmp_path / f"w{i}"
        shutil.copytree(base, work, symlinks=True)
        code, err, _ = _interrupted(args, work, env, delay)
        _one_line(code, err, delay)
        if "were imported before it" in err:
            partial += 1
            assert "run the same command again" in err, err
        again = run_cli(args, env, cwd=work)
        assert again.returncode == 0, again.stderr
        listed = run_cli(["secrets", "list"], env, cwd=work)
        assert len(listed.stdout.split()) == 150, listed.stdout
        shutil.rmtree(work)


_WRAPPED_INTERRUPT = """
import sys
from dendrite.cli import main

class Descriptor:
    def __set_name__(self, owner, name):
        raise KeyboardInterrupt  # as SIGINT's default handler raises it mid-way through a class body

def command():
    class Collected:  # Python 3.11 wraps the interrupt: RuntimeError("Error calling __set_name__ ...")
        keys = Descriptor()

main.app = command
main.run()
"""


def test_an_interrupt_that_python_wraps_in_another_error_is_still_an_interrupt() -> None:
    # Seen in CI: SIGINT while a lazily imported module defined a dataclass came out as
    # "internal error: RuntimeError: Error calling __set_name__ on 'Field' instance 'keys'", exit 70.
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPED_INTERRUPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 130, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_ctrl_c_during_secrets_get_on_the_fast_path(tmp_path: Path) -> None:
    """`secrets get NAME` runs without Typer (cli/fast.py) but inside the same error boundary: Ctrl-C
    at any moment is the value, or the one line and exit 130."""
    root, key_file = tmp_path / "repo", tmp_path / "admin.txt"
    _store(root, key_file, 1)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(key_file)}, tmp_path / "home")
    for delay in (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3):
        code, err, _ = _interrupted(["secrets", "get", "secret-0000"], root, env, delay)
        early = _one_line(code, err, delay)
        if code == 130 and not early:  # a read: nothing changed, whether it stopped or ran to its end
            assert err in ("interrupted; nothing was changed\n", f"{RAN_TO_THE_END}\n"), err
        if code == 0:
            assert err == ""


_LOST_INTERRUPT = """
import sys
from dendrite.cli import main

class Finaliser:
    def __del__(self):
        raise KeyboardInterrupt  # as SIGINT's default handler raises it inside a weakref callback

def command():
    Finaliser()  # dropped at once: Python calls __del__, reports the exception as ignored, goes on
    sys.stdout.write("the command ran to its end\\n")
    sys.exit({code})

main.app = command
main.run()
"""


@pytest.mark.parametrize("code", [0, 2])
def test_an_interrupt_python_ignores_still_ends_in_one_line_and_130(code: int) -> None:
    # Seen in a full run: Ctrl-C during `secrets groups add-user` came while a WeakSet's callback ran;
    # Python printed "Exception ignored in ... KeyboardInterrupt" with a traceback, and the command
    # finished and exited 0, as if Ctrl-C had never been pressed.
    proc = subprocess.run(
        [sys.executable, "-c", _LOST_INTERRUPT.format(code=code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == "the command ran to its end\n"
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    if code == 0:  # the work is done: say so, and that Ctrl-C was pressed
        assert (proc.returncode, proc.stderr) == (
            130,
            "interrupted too late to stop it; the command completed\n",
        )
    else:  # the command's own failure stands
        assert (proc.returncode, proc.stderr) == (code, "")
