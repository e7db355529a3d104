"""Every example in README.md runs as written, against a fresh demo fleet.

The README's shell blocks (```sh, ```console, ```bash, ```shell) are extracted and run, each in its own
copy of a demo fleet built once (by `dendrite demo`, as `make demo` builds it), with the checkout's
`.venv` beside it and the demo's admin key as SOPS_AGE_KEY_FILE. In a block with `$ ` prompts only
the prompted lines are commands (the rest is output); otherwise every line is. Each command must
exit 0. HTML comments just before a block steer it:

- `<!-- not-run: reason -->`: not runnable by design (a network, real hosts, your own files); the
  block is reported as skipped with the reason, so the list of such blocks is in every test report.
- `<!-- run-from: checkout -->`: start in the directory holding `.venv` and `demo-fleet/`, as after
  `make demo` (otherwise a block starts in the fleet's root).
- `<!-- setup: COMMAND -->`: run first, not shown (e.g. a stand-in for a repository of yours).
- `<!-- file: NAME -->` before a block of another language (```toml): the block is written to NAME in
  the fleet, then the commands of `<!-- then: COMMAND -->` comments run.

Blocks are found anew on every run, so examples added to the README are tested without changing this.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import clean_env, run_cli

README = Path(__file__).resolve().parents[1] / "README.md"
SHELL = frozenset({"sh", "console", "bash", "shell"})
VENV = Path(sys.executable).parent.parent  # the checkout's .venv (or whichever runs the tests)
TIMEOUT = 300
_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
_HEREDOC = re.compile(r"(?<!<)<<(?!<)-?\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?")
_EXIT = re.compile(r"\s#.*\bexit (\d+)\b")
_MARK = re.compile(r"^<!--\s*([a-z-]+):\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    marks: tuple[tuple[str, str], ...] = field(default=())

    def mark(self, key: str) -> str | None:
        return next((v for k, v in self.marks if k == key), None)

    def marked(self, key: str) -> list[str]:
        return [v for k, v in self.marks if k == key]

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def blocks(text: str) -> list[Block]:
    """Every fenced block with the HTML comments directly above it (blank lines between allowed)."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        marks: list[tuple[str, str]] = []
        j = start - 1
        while j >= 0 and (not lines[j].strip() or _MARK.match(lines[j])):
            mk = _MARK.match(lines[j])
            if mk:
                marks.insert(0, (mk.group(1), mk.group(2)))
            j -= 1
        out.append(Block(start + 1, m.group(1), "\n".join(body), tuple(marks)))
        i += 1
    return out


def commands(block: Block) -> list[str]:
    """The block's commands: the `$ ` lines when it has any, else every non-comment line."""
    lines = block.text.splitlines()
    if any(ln.startswith("$ ") for ln in lines):
        picked = []
        for ln in lines:  # a prompted line, and the lines its trailing backslash continues it with
            if ln.startswith("$ "):
                picked.append(ln[2:])
            elif picked and picked[-1].endswith("\\") and not ln.startswith("$"):
                picked.append(ln)
    else:
        picked = []
        heredoc: str | None = None  # a here-document's body is part of its command, comments too
        for ln in lines:
            if heredoc is not None:
                picked[-1] += "\n" + ln
                heredoc = None if ln == heredoc else heredoc
            elif ln.strip() and not ln.lstrip().startswith("#"):
                picked.append(ln)
                m = _HEREDOC.search(ln)
                heredoc = m.group(1) if m else None
    joined: list[str] = []
    for ln in picked:  # a trailing backslash continues the command
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + ln
        else:
            joined.append(ln)
    return joined


def _selected() -> list[Block]:
    return [b for b in blocks(README.read_text()) if b.lang in SHELL or b.mark("file") is not None]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory as after `make demo`: `.venv` (the real one, linked) and a fresh `demo-fleet/`."""
    base = tmp_path_factory.mktemp("readme")
    (base / ".venv").symlink_to(VENV)
    res = run_cli(["demo", "demo-fleet"], _env(base), cwd=base)
    assert res.returncode == 0, res.stderr
    return base


def _env(base: Path) -> dict[str, str]:
    env = clean_env(home=base / "home")
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["SOPS_AGE_KEY_FILE"] = str(base / "demo-fleet/.keys/admin-age.txt")
    env.pop("DENDRITE_REPO", None)
    return env


def _script(cmds: list[str]) -> str:
    steps = []
    for c in cmds:
        # a command whose comment documents its exit code ("# …: exit 1") may end with it
        said = _EXIT.search(c.splitlines()[0])
        ok = f"0|{said.group(1)}" if said else "0"
        steps.append(
            f"{c}\nrc=$?; case $rc in {ok}) ;; *) echo FAILED exit $rc: {shlex.quote(c)} >&2; exit 1;; esac"
        )
    return "\n".join(steps) + "\n"


def test_the_readme_has_runnable_examples() -> None:
    found = _selected()
    assert len([b for b in found if b.mark("not-run") is None]) >= 5, [b.id for b in found]
    for b in found:
        if b.mark("not-run") is not None:
            assert b.mark("not-run"), f"{b.id}: a not-run mark needs its reason"


@pytest.mark.parametrize("block", _selected(), ids=lambda b: b.id)
def test_readme_example_runs_as_written(block: Block, checkout: Path, tmp_path: Path) -> None:
    reason = block.mark("not-run")
    if reason is not None:
        pytest.skip(f"{block.id} not run by design: {reason}")
    work = tmp_path / "checkout"
    work.mkdir()
    (work / ".venv").symlink_to(VENV)
    shutil.copytree(checkout / "demo-fleet", work / "demo-fleet", symlinks=True)
    fleet = work / "demo-fleet"
    env = _env(work)
    cwd = work if block.mark("run-from") == "checkout" else fleet
    name = block.mark("file")
    if name is not None:
        target = (fleet / name).resolve()
        assert target.is_relative_to(fleet.resolve()), f"{block.id}: file {name} is outside the fleet"
        target.write_text(block.text + "\n")
        cmds = block.marked("then")
        assert cmds, f"{block.id}: a file block needs a `then:` command that uses it"
    else:
        cmds = commands(block)
    cmds = [*block.marked("setup"), *cmds]
    res = subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", _script(cmds)],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 0, f"{block.id} ({block.lang}) failed:\n{err[-4000:]}"
    assert "Traceback" not in err, err[-4000:]
