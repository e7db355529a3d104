"""runtimeInputs inside the bubblewrap sandbox: what is found on PATH runs there (read-only), the venv's
xkcdpass included; a command that is missing is named, with the sandbox."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from dendrite.errors import InputError, ScriptFailed
from dendrite.vars import sandbox
from dendrite.vars.sandbox import resolve_inputs, run_script

BIN = Path(sys.executable).parent


@pytest.fixture
def venv_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture
def bwrap() -> None:
    if sandbox._probe() is not None:
        pytest.skip(f"bwrap does not run here: {sandbox._probe()}")


def _run(tmp_path: Path, script: str, inputs: tuple[str, ...], *, sandboxed: bool = True) -> bytes:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    run_script(script, tmp_path, {"out": str(out)}, inputs, sandbox=sandboxed, label="'t' (cinnabar)")
    return (out / "value").read_bytes()


@pytest.mark.usefixtures("venv_path", "bwrap")
def test_the_venvs_xkcdpass_runs_in_the_sandbox(tmp_path: Path) -> None:
    if not (BIN / "xkcdpass").exists():
        pytest.skip("xkcdpass (a dependency of dendrite) is not in this environment")
    value = _run(tmp_path, 'xkcdpass -n 6 -d - | tr -d "\\n" > "$out/value"', ("xkcdpass", "tr"))
    words = value.decode().split("-")
    assert len(words) == 6 and all(w.isalpha() for w in words), value


@pytest.mark.usefixtures("venv_path", "bwrap")
def test_what_is_bound_is_read_only(tmp_path: Path) -> None:
    inputs = resolve_inputs(("xkcdpass",))
    assert any(str(BIN.parent) == b or str(BIN.parent).startswith(b + "/") for b in inputs.binds), inputs
    target = BIN / "xkcdpass"
    script = f'if echo x >> {target}; then echo wrote > "$out/value"; else echo refused > "$out/value"; fi'
    assert _run(tmp_path, script, ("xkcdpass",)) == b"refused\n"


@pytest.mark.usefixtures("venv_path", "bwrap")
def test_home_and_repository_are_not_shown(tmp_path: Path) -> None:
    home = os.path.expanduser("~")
    inputs = resolve_inputs(("xkcdpass", "tr", "cat"))
    assert home not in inputs.binds and "/" not in inputs.binds
    script = f'if [ -e {home}/.bashrc ] || [ -e {Path.cwd()}/pyproject.toml ]; then echo seen; else echo unseen; fi > "$out/value"'
    assert _run(tmp_path, script, ("cat",)) == b"unseen\n"


def test_a_command_not_on_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        resolve_inputs(("no-such-command-here",), "'t' (cinnabar)")
    assert "'no-such-command-here'" in exc.value.message and "sandbox" in exc.value.message
    for bad in ("../bin/sh", "/bin/sh", ""):
        with pytest.raises(InputError, match="not a command name"):
            resolve_inputs((bad,))


@pytest.mark.usefixtures("bwrap")
def test_a_command_missing_in_the_sandbox_names_it_and_the_sandbox(tmp_path: Path) -> None:
    if shutil.which("xkcdpass") is None and not (BIN / "xkcdpass").exists():
        pytest.skip("xkcdpass is not installed")
    with pytest.raises(ScriptFailed) as exc:
        _run(tmp_path, 'xkcdpass > "$out/value"', ())  # not in runtimeInputs
    msg = exc.value.message
    assert "'xkcdpass'" in msg and "bwrap sandbox" in msg, msg
    assert exc.value.hint is not None and "runtimeInputs" in exc.value.hint
