"""The generator runner attacked by the scripts of a hostile dendrite.toml (`dendrite.vars.runner`).

Each attack runs through the real CLI, with bwrap and with --no-sandbox, in an environment holding the
admin's age key (SOPS_AGE_KEY) and a token (LEAKME_TOKEN): the run must be refused with exit 2 and one
sentence, nothing outside the repository may change, and neither value may reach a public file or the
output. The last test kills `vars generate` at random moments and looks for plaintext left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.vars import runner
from dendrite.vars.model import FileSpec, Generator
from tests.hostile.conftest import (
    PRIVATE_MARK,
    Fleet,
    Sentinel,
    assert_no_leak,
    assert_refused,
    dendrite,
    tree_bytes,
)

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed")
MODES = [pytest.param(True, id="bwrap", marks=needs_bwrap), pytest.param(False, id="no-sandbox")]
TOKEN = "LEAKME-9c41e7-token-from-the-admins-shell"


def _declare(fleet: Fleet, script: str, files: str = "files.x = { secret = false }") -> None:
    """Add the attacker's generator 'evil' (on cinnabar only) to the fleet's dendrite.toml."""
    with (fleet.root / "dendrite.toml").open("a") as fh:
        fh.write(f"\n[generators.evil]\nscript = '''\n{script}\n'''\n{files}\nmachines = [\"cinnabar\"]\n")


def _admin_env(fleet: Fleet) -> tuple[dict[str, str], list[str]]:
    """The admin's shell: their age key in SOPS_AGE_KEY and a token; both are what must not leak."""
    age = next(ln for ln in fleet.key_file.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-"))
    return {**fleet.env, "SOPS_AGE_KEY": age, "LEAKME_TOKEN": TOKEN}, [age, TOKEN]


def _attack(
    fleet: Fleet, sentinel: Sentinel, script: str, sandbox: bool, *words: str, files: str = ""
) -> str:
    _declare(fleet, script, *([files] if files else []))
    env, needles = _admin_env(fleet)
    before = tree_bytes(fleet.root)
    args = ["vars", "generate", "cinnabar", "-g", "evil", *([] if sandbox else ["--no-sandbox"])]
    res = dendrite(args, env, cwd=fleet.root)
    err = assert_refused(res, "'evil' (cinnabar)", "no var was changed", *words)
    assert tree_bytes(fleet.root) == before, "a refused run changed the repository"
    sentinel.assert_unchanged()
    assert_no_leak(fleet.root, [*needles, PRIVATE_MARK, "precious"], res.stdout, res.stderr)
    return err


@pytest.mark.parametrize("sandbox", MODES)
def test_out_replaced_by_a_link_to_proc_self(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    script = 'rm -rf "$out"; ln -s /proc/self "$out"'
    _attack(fleet, sentinel, script, sandbox, "$out", files="files.environ = { secret = false }")


@pytest.mark.parametrize("sandbox", MODES)
def test_out_replaced_by_a_link_to_a_host_directory(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    script = f'rm -rf "$out"; ln -s {sentinel.victim_dir} "$out"'
    _attack(fleet, sentinel, script, sandbox, "$out", files='files."data.txt" = { secret = false }')


@pytest.mark.parametrize("sandbox", MODES)
def test_declared_file_is_a_link_to_proc_self_environ(
    fleet: Fleet, sentinel: Sentinel, sandbox: bool
) -> None:
    _attack(fleet, sentinel, 'ln -s /proc/self/environ "$out/x"', sandbox, "$out/x", "symbolic link")


@pytest.mark.parametrize("sandbox", MODES)
def test_declared_file_is_a_link_to_a_host_key(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    script = f'ln -s {sentinel.private_key} "$out/x"'
    _attack(fleet, sentinel, script, sandbox, "$out/x", "symbolic link")


@pytest.mark.parametrize("sandbox", MODES)
def test_declared_file_is_a_fifo(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    _attack(fleet, sentinel, 'mkfifo "$out/x"', sandbox, "$out/x", "FIFO")


@pytest.mark.parametrize("sandbox", MODES)
def test_declared_file_is_a_directory(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    _attack(fleet, sentinel, 'mkdir "$out/x"', sandbox, "$out/x", "directory")


@pytest.mark.parametrize("sandbox", MODES)
def test_oversized_output_stops_the_script(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    # 600 MB asked for: RLIMIT_FSIZE stops the writer one byte over the cap, long before memory fills
    _attack(fleet, sentinel, 'head -c 600000000 /dev/zero > "$out/x"', sandbox, "output limit of 1048576")


@pytest.mark.parametrize("sandbox", MODES)
def test_oversized_output_that_survives_the_limit_is_refused(
    fleet: Fleet, sentinel: Sentinel, sandbox: bool
) -> None:
    script = 'trap "" XFSZ; head -c 600000000 /dev/zero > "$out/x" || true'
    _attack(fleet, sentinel, script, sandbox, "$out/x", "output limit of 1048576")


@pytest.mark.parametrize("sandbox", MODES)
def test_declared_file_name_that_climbs_out(fleet: Fleet, sentinel: Sentinel, sandbox: bool) -> None:
    # refused where dendrite.toml is loaded (dendrite.names), before any script runs; the runner's own
    # check stays as a second line (test_the_runner_refuses_a_climbing_name_itself)
    script = f'cp {sentinel.private_key} "$out/../x" 2>/dev/null || true'
    _declare(fleet, script, 'files."../x" = { secret = false }')
    env, needles = _admin_env(fleet)
    before = tree_bytes(fleet.root)
    args = ["vars", "generate", "cinnabar", "-g", "evil", *([] if sandbox else ["--no-sandbox"])]
    res = dendrite(args, env, cwd=fleet.root)
    assert_refused(res, "'../x'", "dendrite.toml: generators.evil.files")
    assert tree_bytes(fleet.root) == before
    sentinel.assert_unchanged()
    assert_no_leak(fleet.root, [*needles, PRIVATE_MARK], res.stdout, res.stderr)


@pytest.mark.parametrize("sandbox", MODES)
def test_the_script_sees_none_of_the_admins_environment(
    fleet: Fleet, sentinel: Sentinel, sandbox: bool
) -> None:
    _declare(fleet, 'env > "$out/x"; echo "${HOME:-}" >> "$out/x"; cat /proc/self/environ >> "$out/x"')
    env, needles = _admin_env(fleet)
    args = ["vars", "generate", "cinnabar", "-g", "evil", *([] if sandbox else ["--no-sandbox"])]
    res = dendrite(args, env, cwd=fleet.root)
    assert res.returncode == 0, res.stderr.decode()
    stored = (fleet.root / "vars/per-machine/cinnabar/evil/x/value").read_text()
    names = {ln.split("=", 1)[0] for ln in stored.splitlines() if "=" in ln}
    assert names <= {"in", "out", "prompts", "PATH", "LANG", "HOME", "TMPDIR", "PWD", "SHLVL", "_"}, names
    assert str(Path(env["HOME"])) not in stored
    assert_no_leak(fleet.root, needles, res.stdout, res.stderr)


def test_a_flood_on_stderr_keeps_only_its_tail(fleet: Fleet, sentinel: Sentinel) -> None:
    script = "head -c 30000000 /dev/zero | tr '\\0' a >&2; echo; echo the-last-line >&2; exit 3"
    _declare(fleet, script)
    res = dendrite(["vars", "generate", "cinnabar", "-g", "evil", "--no-sandbox"], fleet.env, cwd=fleet.root)
    assert_refused(res, "exit 3", "the-last-line")
    assert len(res.stderr) < 100_000


def test_the_repositorys_max_output_reaches_the_runner(fleet: Fleet, sentinel: Sentinel) -> None:
    _declare(fleet, 'head -c 200 /dev/zero > "$out/x"')
    with (fleet.root / "dendrite.toml").open("a") as fh:
        fh.write("\n[vars]\nmax_output = 100\n")
    before = tree_bytes(fleet.root)
    res = dendrite(["vars", "generate", "cinnabar", "-g", "evil", "--no-sandbox"], fleet.env, cwd=fleet.root)
    assert_refused(res, "output limit of 100")
    assert tree_bytes(fleet.root) == before


def test_the_limit_comes_from_the_environment_then_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runner.MAX_OUTPUT_ENV, raising=False)
    assert runner.max_output() == runner.DEFAULT_MAX_OUTPUT == 1024 * 1024
    assert runner.max_output(runner.config_max_output({"vars": {"max_output": 4096}})) == 4096
    with pytest.raises(InputError, match="max_output"):
        runner.config_max_output({"vars": {"max_output": 10**12}})  # a repository cannot lift the cap
    monkeypatch.setenv(runner.MAX_OUTPUT_ENV, "10")
    assert runner.max_output(4096) == 10
    monkeypatch.setenv(runner.MAX_OUTPUT_ENV, "lots")
    with pytest.raises(InputError, match=runner.MAX_OUTPUT_ENV):
        runner.max_output()


def _gen(script: str) -> Generator:
    return Generator("g", (FileSpec("x", secret=False),), script=script)


def test_plaintext_never_goes_to_disk_unless_the_admin_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    assert not runner._is_memory_fs(disk)
    monkeypatch.setattr(runner, "_bases", lambda: [disk, None])
    monkeypatch.delenv(runner.ALLOW_DISK_ENV, raising=False)
    with pytest.raises(InputError, match="tmpfs"):
        runner.run_generator(_gen('echo -n 1 > "$out/x"'), "m", {}, {}, sandbox=False)
    monkeypatch.setenv(runner.ALLOW_DISK_ENV, "1")
    monkeypatch.setattr(runner.tempfile, "gettempdir", lambda: str(disk))
    assert runner.run_generator(_gen('echo -n 1 > "$out/x"'), "m", {}, {}, sandbox=False) == {"x": b"1"}
    assert list(disk.iterdir()) == []  # removed after the run


def test_leftovers_of_dead_processes_are_swept_and_live_ones_kept() -> None:
    shm = Path("/dev/shm")
    if not runner._is_memory_fs(shm):
        pytest.skip("/dev/shm is not a tmpfs here")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = shm / f"{runner.PREFIX}{dead.pid}-{runner._start_time(os.getpid())}-abc"
    alive = shm / f"{runner.PREFIX}{os.getpid()}-{runner._start_time(os.getpid())}-abc"
    recycled = shm / f"{runner.PREFIX}{os.getpid()}-1-abc"  # our pid, another process's start time
    try:
        for d in (gone, alive, recycled):
            (d / "in").mkdir(parents=True, mode=0o700)
            (d / "in" / "secret").write_text("plaintext")
        runner.sweep_leftovers()
        assert not gone.exists() and not recycled.exists() and alive.exists()
    finally:
        for d in (gone, alive, recycled):
            shutil.rmtree(d, ignore_errors=True)


# --- SIGKILL at random moments ---------------------------------------------------------------------

_PID_DIR = re.compile(re.escape(runner.PREFIX) + r"(\d+)-")


def _work_dirs() -> dict[Path, int | None]:
    """Every dendrite-vars-* directory where plaintext could be left, with the pid in its name."""
    out: dict[Path, int | None] = {}
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    for base in {Path("/tmp"), Path("/dev/shm"), *([Path(xdg)] if xdg else [])}:
        with contextlib.suppress(OSError):
            for n in os.listdir(base):
                if n.startswith(runner.PREFIX):
                    m = _PID_DIR.match(n)
                    out[base / n] = int(m.group(1)) if m else None
    return out


def _files_containing(roots: list[Path], needles: list[str], skip: set[Path]) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root, followlinks=False):
            for f in files:
                p = Path(dirpath) / f
                with contextlib.suppress(OSError):
                    if p in skip or p.is_symlink() or not p.is_file() or p.stat().st_size > 8 << 20:
                        continue
                    data = p.read_bytes()
                    if any(n.encode() in data for n in needles):
                        found.append(p)
    return found


def test_sigkill_at_random_moments_leaves_no_plaintext(fleet: Fleet, tmp_path: Path) -> None:
    tag = f"{random.getrandbits(48):012x}"
    dep_mark, prompt_mark = f"PLAINDEP-{tag}", f"PLAINPROMPT-{tag}"
    # the dependency's secret is assembled by printf, so the public dendrite.toml never holds it
    with (fleet.root / "dendrite.toml").open("a") as fh:
        fh.write(
            "\n[generators.dep]\n"
            f"script = '''printf '%s-%s' PLAINDEP {tag} > \"$out/s\"'''\n"
            'files.s = { secret = true }\nmachines = ["cinnabar"]\n'
            "\n[generators.use]\n"
            'dependencies = ["dep"]\n'
            "script = '''cat \"$in/dep/s\" \"$prompts/answer\" > \"$out/r\"; sleep 0.4; true'''\n"
            'prompts.answer = { type = "line", description = "a secret answer" }\n'
            'files.r = { secret = true }\nmachines = ["cinnabar"]\n'
        )
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"use/answer": prompt_mark}))
    base = [sys.executable, "-m", "dendrite", "vars", "generate", "cinnabar", "-g", "use", "-r"]
    base += ["--prompt-values", str(values)]
    started = time.monotonic()
    assert dendrite(base[3:], fleet.env, cwd=fleet.root).returncode == 0
    full = time.monotonic() - started  # how long a whole run takes here: kills land within it
    before = set(_work_dirs())
    rng = random.Random(tag)
    killed: set[int] = set()
    caught_with_plaintext = 0
    window = min(full * 1.1, 1.2)  # bounded: 20 kills take under ~30 s even on a loaded machine
    for i in range(20):
        mode = ["--no-sandbox"] if i % 2 else []
        proc = subprocess.Popen(
            [*base, *mode],
            env=fleet.env,
            cwd=fleet.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, window))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed.add(proc.pid)
        caught_with_plaintext += any(pid == proc.pid for pid in _work_dirs().values())
    res = dendrite(base[3:], fleet.env, cwd=fleet.root)
    assert res.returncode == 0, res.stderr.decode()
    assert caught_with_plaintext, "no kill landed while a work dir existed: the test proved nothing"
    left = {p: pid for p, pid in _work_dirs().items() if p not in before}
    # a name without a pid is an older dendrite's (another checkout running now): the scan below covers it
    ours = {
        p
        for p, pid in left.items()
        if pid is not None and (pid in killed or not Path(f"/proc/{pid}").exists())
    }
    assert not ours, f"plaintext work dirs survived: {sorted(ours)}"
    needles = [dep_mark, prompt_mark]
    assert not _files_containing([Path("/tmp"), Path("/dev/shm")], needles, {values})
    assert_no_leak(fleet.root, needles, res.stdout, res.stderr)


def test_the_runner_refuses_a_climbing_name_itself(tmp_path: Path) -> None:
    gen = Generator("evil", (FileSpec("../x", secret=False),), script='echo hi > "$out/x"')
    with pytest.raises(InputError, match=r"\.\./x"):
        runner.run_generator(gen, "cinnabar", {}, {}, sandbox=False)
