"""dendrite.process: exact command lines (with `spawn` replaced), then real programs doing real things."""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dendrite import process
from dendrite.errors import CommandError, CommandTimeout, DendriteError, InputError, NixEvalError, ToolMissing
from dendrite.layout.discovery import discover
from dendrite.nix import eval_flake_json
from dendrite.process import CmdOut, RunOpts, run
from dendrite.vars import sandbox
from tests.conftest import clean_env, run_cli

Call = tuple[tuple[str, ...], RunOpts]


class FakeSpawn:
    """Stands in for `process.spawn`: records each command and answers from a script, no binary needed."""

    def __init__(self, answers: dict[str, CmdOut]) -> None:
        self.answers = answers
        self.calls: list[Call] = []

    def __call__(self, command: tuple[str, ...], opts: RunOpts) -> CmdOut:
        self.calls.append((command, opts))
        key = next(k for k in self.answers if k in " ".join(command))
        a = self.answers[key]
        return CmdOut(command, a.returncode, a.stdout, a.stderr)


def fake(monkeypatch: pytest.MonkeyPatch, **answers: CmdOut) -> FakeSpawn:
    spawn = FakeSpawn({k.replace("_", "-"): v for k, v in answers.items()})
    monkeypatch.setattr(process, "spawn", spawn)
    return spawn


def answer(returncode: int = 0, stdout: bytes = b"", stderr: bytes = b"") -> CmdOut:
    return CmdOut((), returncode, stdout, stderr)


# --- exact command lines, without the programs ---------------------------------------------------


def test_nix_eval_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    spawn = fake(monkeypatch, eval=answer(stdout=b'{"machines": {}}'))
    assert eval_flake_json(Path("/r"), "clan.inventory", timeout=300) == {"machines": {}}
    ((command, opts),) = spawn.calls
    assert command == (
        "nix",
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
        "path:/r#clan.inventory",
    )
    assert opts.check and opts.timeout == 300 and opts.input is None and opts.env is None


def test_nix_eval_failure_is_one_sentence_and_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = b"warning: Git tree is dirty\n\nerror: flake 'path:/r' does not provide attribute 'clan.nope'\n"
    fake(monkeypatch, eval=answer(1, stderr=stderr))
    with pytest.raises(NixEvalError) as info:
        eval_flake_json(Path("/r"), "clan.nope")
    e = info.value
    assert isinstance(e, InputError) and isinstance(e, CommandError)
    assert e.message == (
        "nix eval of /r#clan.nope failed with exit code 1: "
        "error: flake 'path:/r' does not provide attribute 'clan.nope'"
    )
    assert e.hint == "check the attribute path with --attr" and e.returncode == 1
    assert e.command[0] == "nix" and e.stderr_tail.startswith("warning: Git tree is dirty")


def test_discovery_git_command_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("a.nix", "b.nix", "_c.nix"):
        (tmp_path / name).write_text("{ }")
    spawn = fake(monkeypatch, rev_parse=answer(stdout=b"true\n"), ls_files=answer(stdout=b"a.nix\0x.txt\0"))
    d = discover(tmp_path)
    root = str(tmp_path.resolve())
    assert [c for c, _ in spawn.calls] == [
        ("git", "-c", "core.fsmonitor=false", "-C", root, "rev-parse", "--is-inside-work-tree"),
        ("git", "-c", "core.fsmonitor=false", "-C", root, "ls-files", "-z", "--cached"),
    ]
    assert [opts.check for _, opts in spawn.calls] == [False, True]  # the listing's exit code is checked
    assert [(e.rel, e.tracked) for e in d.entries] == [("/a.nix", True), ("/b.nix", False)]


def test_discovery_stops_when_git_refuses_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "a.nix").write_text("{ }")
    refused = b"fatal: detected dubious ownership in repository at '/r'\n"
    fake(monkeypatch, rev_parse=answer(128, stderr=refused))
    with pytest.raises(CommandError, match="dubious ownership"):
        discover(tmp_path)  # not silently "no repository, every file counts"


def test_bwrap_probe_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    spawn = fake(monkeypatch, bwrap=answer(1, stderr=b"bwrap: No permissions to create new namespace\n"))
    sandbox._probe.cache_clear()
    try:
        assert sandbox._probe() == "bwrap: No permissions to create new namespace"
    finally:
        sandbox._probe.cache_clear()
    assert [c for c, _ in spawn.calls] == [
        ("bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true")
    ]


# --- real programs --------------------------------------------------------------------------------


def test_real_git_runs_and_fails_with_its_own_words(tmp_path: Path) -> None:
    out = run(["git", "--version"], RunOpts(check=True))
    assert out.ok and out.text.startswith("git version")
    unchecked = run(["git", "-C", str(tmp_path), "log"], RunOpts(check=False))
    assert unchecked.returncode == 128 and "not a git repository" in unchecked.stderr_tail
    with pytest.raises(CommandError) as info:
        run(["git", "-C", str(tmp_path), "log"], RunOpts(check=True, hint="run it inside a repository"))
    e = info.value
    assert e.returncode == 128 and e.hint == "run it inside a repository"
    assert e.message.startswith(
        f"`git -C {tmp_path} log` failed with exit code 128: fatal: not a git repository"
    )


def test_real_git_index_is_what_discovery_reports(tmp_path: Path) -> None:
    for name in ("a.nix", "b.nix", "_c.nix"):
        (tmp_path / name).write_text("{ }")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.nix", "_c.nix"], check=True)
    d = discover(tmp_path)
    assert [(e.rel, e.tracked) for e in d.entries] == [("/a.nix", True), ("/b.nix", False)]
    assert [p.name for p in d.files] == ["a.nix"] and [p.name for p in d.untracked] == ["b.nix"]
    outside = tmp_path / "outside"
    outside.mkdir()
    assert discover(outside / "none").entries == ()  # a missing import root has no files, no git call


NIX_INSTANTIATE = shutil.which("nix-instantiate")


@pytest.mark.skipif(NIX_INSTANTIATE is None, reason="nix-instantiate (Debian nix-bin) is not installed")
def test_real_nix_instantiate(tmp_path: Path) -> None:
    env = clean_env({"NIX_CONFIG": "build-users-group =", "NIX_STATE_DIR": str(tmp_path / "state")}, tmp_path)
    out = run(["nix-instantiate", "--eval", "-E", "1 + 1"], RunOpts(check=True, env=env))
    assert out.text.strip() == "2"
    with pytest.raises(CommandError) as info:
        run(["nix-instantiate", "--eval", "-E", 'throw "boom"'], RunOpts(check=True, env=env))
    assert "boom" in info.value.message and info.value.returncode not in (0, None)


def test_missing_tool_is_a_sentence_with_a_hint() -> None:
    with pytest.raises(ToolMissing) as info:
        run(["dendrite-no-such-tool", "x"], RunOpts(check=True))
    e = info.value
    assert e.tool == "dendrite-no-such-tool"
    assert e.message == "the dendrite-no-such-tool command is needed, which is not installed or not on PATH"
    assert e.hint == "install dendrite-no-such-tool and make sure it is on PATH"
    with pytest.raises(ToolMissing) as info:
        run(["dendrite-no-such-tool"], RunOpts(check=False, needed_for="--frob", missing_hint="drop --frob"))
    assert info.value.message.startswith("--frob needs the dendrite-no-such-tool command")
    assert info.value.hint == "drop --frob" and isinstance(info.value, DendriteError)


def test_timeout_is_an_error_and_kills_what_the_program_started() -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        # the shell's background sleep keeps stderr open: only killing the whole group ends this quickly
        run(["sh", "-c", "echo waiting >&2; sleep 30 & sleep 30"], RunOpts(check=False, timeout=0.5))
    assert time.monotonic() - started < 10
    e = info.value
    assert e.returncode is None and e.stderr_tail == "waiting"
    assert (
        e.message
        == "`sh -c 'echo waiting >&2; sleep 30 & sleep 30'` did not finish within 0.5 s and was stopped"
    )


def test_failure_keeps_the_tail_of_stderr() -> None:
    script = "for i in $(seq 1 50); do echo line$i >&2; done; echo out; exit 3"
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", script], RunOpts(check=True, what="the counting script"))
    e = info.value
    assert e.message == "the counting script failed with exit code 3: line50"
    assert e.stderr_tail.splitlines() == [f"line{i}" for i in range(31, 51)]
    assert e.returncode == 3 and e.stdout == b"out\n" and e.command == ("sh", "-c", script)


def test_input_env_cwd_and_a_closed_stdin(tmp_path: Path) -> None:
    assert run(["cat"], RunOpts(check=True, input=b"secret")).stdout == b"secret"
    assert run(["cat"], RunOpts(check=True, timeout=5)).stdout == b""  # stdin is /dev/null: no hang
    out = run(["sh", "-c", 'printf %s "$X"; pwd'], RunOpts(check=True, env={"X": "y"}, cwd=tmp_path))
    assert out.text == f"y{tmp_path}\n"


def test_debug_log_names_each_command_but_not_its_input(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="dendrite.process"):
        run(["cat"], RunOpts(check=True, input=b"hunter2"))
        run(["sh", "-c", "echo bad >&2; exit 4"], RunOpts(check=False))
    text = caplog.text
    assert "run: cat" in text and "exit 0 after" in text and "hunter2" not in text
    assert "exit 4 after" in text and "bad" in text


# --- the CLI renders them as a sentence and a hint, exit 2 -----------------------------------------


def _bin_with(tmp_path: Path, name: str, script: str) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    tool = bindir / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)
    return str(bindir)


def test_cli_renders_a_missing_nix(tmp_path: Path) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    env = clean_env({"PATH": _bin_with(tmp_path, "true", "exit 0")}, tmp_path)
    res = run_cli(["-C", str(tmp_path), "inventory", "show", "--nix"], env)
    assert res.returncode == 2, res.stderr
    assert res.stderr.decode().splitlines() == [
        "error: --nix needs the nix command, which is not installed or not on PATH",
        "hint: install Nix, or drop --nix to read the repository statically",
    ]


def test_cli_renders_a_failing_nix(tmp_path: Path) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    fake_nix = "echo 'evaluating...' >&2; echo \"error: flake does not provide attribute '$5'\" >&2; exit 1\n"
    bindir = _bin_with(tmp_path, "nix", fake_nix)  # a stand-in nix: a real program that fails as nix does
    env = clean_env({"PATH": f"{bindir}:/usr/bin:/bin"}, tmp_path)
    res = run_cli(["-C", str(tmp_path), "inventory", "show", "--nix", "--attr", "clan.nope"], env)
    assert res.returncode == 2, res.stderr
    root = tmp_path.resolve()
    assert res.stderr.decode().splitlines() == [
        f"error: nix eval of {root}#clan.nope failed with exit code 1: "
        f"error: flake does not provide attribute 'path:{root}#clan.nope'",
        "hint: check the attribute path with --attr",
    ]
    debug = run_cli(["--debug", "-C", str(tmp_path), "inventory", "show", "--nix"], env)
    assert b"debug: dendrite.process: run: nix --extra-experimental-features" in debug.stderr
    assert b"evaluating..." in debug.stderr  # the tail of stderr, logged under --debug


# --- runs with the limits of an untrusted program -------------------------------------------------


def _limited(script: str, limits: process.Limits, timeout: float = 30) -> CmdOut:
    return run(["bash", "-c", script], RunOpts(check=False, timeout=timeout, limits=limits))


def test_limits_keep_only_the_end_of_a_flood() -> None:
    out = _limited("head -c 3000000 /dev/zero; echo -n END; echo -n ERR-END >&2", process.Limits(keep=1000))
    assert out.ok and len(out.stdout) == 1000 and out.stdout.endswith(b"\0END")
    assert out.stderr == b"ERR-END"


def test_limits_cap_the_size_of_a_file_the_program_writes(tmp_path: Path) -> None:
    big = tmp_path / "big"
    out = _limited(f"head -c 100000 /dev/zero > {big}", process.Limits(max_file_size=1000))
    assert out.returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ, 1)
    assert big.stat().st_size == 1001  # one byte over: a file cut at the cap is still seen as too large
    assert _limited(f"head -c 1000 /dev/zero > {big}", process.Limits(max_file_size=1000)).ok


def test_limits_kill_what_the_program_left_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    out = _limited(f"sleep 300 & echo $! > {pid_file}", process.Limits())
    assert out.ok
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only not yet reaped


def test_limits_stop_a_program_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"did not finish within 0\.5 s"):
        _limited("echo started; sleep 300", process.Limits(), timeout=0.5)
    assert time.monotonic() - started < 15


def test_limits_and_input_do_not_go_together() -> None:
    with pytest.raises(ValueError):
        run(["cat"], RunOpts(check=False, input=b"x", limits=process.Limits()))
