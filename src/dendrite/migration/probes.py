"""Running the probes of a phase: commands with a timeout and an expectation, and dendrite's builtins.

A command runs through `dendrite.process` with its timeout: one that hangs is killed with whatever it
started and recorded as failed. Its expectation is an exit code, and optionally a regular expression
its stdout must match, or a JSON path into its stdout and the value found there. A missing program
(no nix, no ssh on this machine) makes the probe `unavailable`: the criterion stays pending, since
nothing was learnt about it.

The builtins call dendrite's library, never its CLI: `layout lint`, import-tree discovery and the
`flake.modules` namespace, `inventory validate`, `vars check`, `secrets check`, and `migrate verify`
(`dendrite.drv.verify.verify_hosts`) for the phase's hosts, the plan's `old_ref` against the phase's
tree; its verdicts (identical, sources moved, different with the count of differing derivations) are
kept in the probe's event under `verify`.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrite.errors import CommandTimeout, DendriteError, ToolMissing
from dendrite.migration.plan import CLOCK_BUILTINS, Criterion, Phase, Plan, Probe, substitution
from dendrite.process import Limits, RunOpts, run

PASS, FAIL, UNAVAILABLE = "pass", "fail", "unavailable"
EXCERPT = 400


@dataclass(frozen=True)
class ProbeResult:
    phase: int
    criterion: str
    status: str  # pass, fail, unavailable
    command: str
    exit: int | None
    seconds: float
    excerpt: str
    detail: str
    verdicts: tuple[dict[str, Any], ...] = ()  # the verify builtin: one summary per host

    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = {"verify": list(self.verdicts)} if self.verdicts else {}
        return found | {
            "phase": self.phase,
            "criterion": self.criterion,
            "status": self.status,
            "command": self.command,
            "exit": self.exit,
            "seconds": round(self.seconds, 3),
            "excerpt": self.excerpt,
            "detail": self.detail,
        }


def _excerpt(stdout: bytes, stderr: bytes) -> str:
    text = (stdout.decode(errors="replace") + stderr.decode(errors="replace")).strip()
    return text if len(text) <= EXCERPT else "…" + text[-EXCERPT:]


_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def json_path(value: Any, path: str) -> Any:
    """`[0].status`, `networks.0.id`: the value at `path`; KeyError when there is none."""
    for index, name in _TOKEN.findall(path):
        key: Any = int(index) if index else name
        if isinstance(value, list):
            try:
                value = value[int(key)]
            except (ValueError, IndexError):
                raise KeyError(path) from None
        elif isinstance(value, dict) and str(key) in value:
            value = value[str(key)]
        else:
            raise KeyError(path)
    return value


def expectation_failure(probe: Probe, code: int, stdout: bytes) -> str | None:
    """Why the output does not meet the probe's expectation, or None when it does."""
    if code != probe.expect_exit:
        return f"exit {code}, expected {probe.expect_exit}"
    text = stdout.decode(errors="replace")
    if probe.expect_output is not None and not re.search(probe.expect_output, text, re.MULTILINE):
        return f"output does not match /{probe.expect_output}/"
    if probe.expect_json is not None:
        try:
            got = json_path(json.loads(text), probe.expect_json)
        except ValueError:
            return "output is not JSON"
        except KeyError:
            return f"output has no {probe.expect_json}"
        if got != probe.expect_value:
            return f"{probe.expect_json} is {got!r}, expected {probe.expect_value!r}"
    return None


def _run_command(argv: list[str], probe: Probe, cwd: Path) -> tuple[str, int | None, float, str, str]:
    """(status, exit code, seconds, excerpt, detail) of one command."""
    start = time.monotonic()
    try:
        out = run(argv, RunOpts(check=False, timeout=probe.timeout, cwd=cwd, limits=Limits()))
    except ToolMissing as exc:
        return UNAVAILABLE, None, time.monotonic() - start, "", exc.message
    except CommandTimeout as exc:
        seconds = time.monotonic() - start
        excerpt = _excerpt(exc.stdout, exc.stderr_tail.encode())
        return FAIL, None, seconds, excerpt, f"timed out after {probe.timeout:g} s and was stopped"
    excerpt = _excerpt(out.stdout, out.stderr)
    why = expectation_failure(probe, out.returncode, out.stdout)
    return (FAIL if why else PASS), out.returncode, out.seconds, excerpt, why or "as expected"


def _import_dir(root: Path) -> Path:
    from dendrite.layout.lint import safe_import_root
    from dendrite.repofs import RepoFS

    return safe_import_root(root) if RepoFS(root).kind("flake.nix") is not None else root


def _layout_lint(root: Path, probe: Probe) -> tuple[bool, str]:
    from dendrite.layout.lint import lint

    findings = lint(root, _import_dir(root))
    errors = [f for f in findings if f.severity == "error"]
    first = f"; first: {errors[0].message}" if errors else ""
    return not errors, f"{len(errors)} errors, {len(findings) - len(errors)} other findings{first}"


def _layout_modules(root: Path, probe: Probe) -> tuple[bool, str]:
    from dendrite.layout.discovery import discover
    from dendrite.layout.lint import analyse_files

    import_dir = _import_dir(root)
    files = list(discover(import_dir).files)
    modules = 0
    unreadable = []
    for _, facts in analyse_files(files, import_dir):
        if facts is None:
            unreadable.append("?")
            continue
        modules += len(facts.definitions)
    ok = bool(files) and modules > 0 and not unreadable
    return (
        ok,
        f"{len(files)} files discovered, {modules} flake.modules definitions, {len(unreadable)} unreadable",
    )


def _inventory(root: Path, probe: Probe) -> tuple[bool, str]:
    from dendrite.inventory import analyse

    r = analyse(root)
    errors = [f for f in r.findings if f.severity == "error"]
    detail = f"static: {len(r.inventory.machines)} machines, {len(r.inventory.instances)} instances, {len(errors)} errors"
    use_nix = (
        probe.nix
        if probe.nix is not None
        else (shutil.which("nix") is not None and (root / "flake.lock").is_file())
    )
    if use_nix and not errors:
        evaluated = analyse(root, use_nix=True)
        nix_errors = [f for f in evaluated.findings if f.severity == "error"]
        errors += nix_errors
        detail += f"; nix eval .#clan.inventory: {len(nix_errors)} errors"
    elif probe.nix is None:
        detail += "; nix eval not run (no nix or no flake.lock)"
    if errors:
        detail += f"; first: {errors[0].message}"
    return not errors, detail


def _vars(root: Path, probe: Probe) -> tuple[bool, str]:
    from dendrite.vars.ops import check

    problems = check(root)
    first = f"; first: {problems[0].message}" if problems else ""
    return not problems, f"{len(problems)} problems{first}"


def _secrets(root: Path, probe: Probe) -> tuple[bool, str]:
    from dendrite.secrets import health
    from dendrite.secrets.store import SecretsStore

    findings = health.check(SecretsStore(root))
    first = f"; first: {findings[0].message}" if findings else ""
    return not findings, f"{len(findings)} findings{first}"


def _verify_hosts(plan: Plan, phase: Phase, probe: Probe) -> list[str]:
    return list(probe.hosts or phase.hosts)


def _verify(plan: Plan, phase: Phase, c: Criterion, root: Path) -> ProbeResult:
    """`migrate verify` for the phase's hosts: pass when every host is the same system (identical, or
    only the flake's own sources moved); a difference or an evaluation error fails, no Nix is unavailable.
    """
    from dendrite.drv.verify import verify_hosts

    assert c.probe is not None
    probe = c.probe
    hosts = _verify_hosts(plan, phase, probe)
    command = _verify_command(plan, probe, hosts, root)
    start = time.monotonic()
    if not hosts:
        return ProbeResult(
            phase.number, c.id, FAIL, command, None, 0.0, "", "the phase has no host to verify"
        )
    expr = (root / probe.expr) if probe.expr else None
    try:
        verdicts = verify_hosts(
            hosts, old=plan.old_ref, new=str(root), repo_root=root, expr=expr, timeout=probe.timeout
        )
    except ToolMissing as exc:
        return ProbeResult(
            phase.number, c.id, UNAVAILABLE, command, None, time.monotonic() - start, "", exc.message
        )
    except DendriteError as exc:
        return ProbeResult(phase.number, c.id, FAIL, command, None, time.monotonic() - start, "", exc.message)
    parts = []
    for v in verdicts:
        if v.error is not None:
            parts.append(f"{v.host}: {v.error}")
        elif v.verdict == "different":
            parts.append(f"{v.host}: different, {v.differences} derivation(s) differ")
        else:
            parts.append(f"{v.host}: {v.verdict}")
    ok = all(v.error is None and v.verdict != "different" for v in verdicts)
    return ProbeResult(
        phase.number,
        c.id,
        PASS if ok else FAIL,
        command,
        None,
        time.monotonic() - start,
        "",
        "; ".join(parts),
        tuple(v.summary() for v in verdicts),
    )


def _verify_command(plan: Plan, probe: Probe, hosts: list[str], root: Path) -> str:
    argv = ["dendrite", "migrate", "verify", *hosts, "--old", plan.old_ref, "--new", str(root)]
    if probe.expr:
        argv += ["--expr", str(root / probe.expr)]
    return shlex.join(argv)


BUILTIN_RUNNERS: dict[str, Callable[[Path, Probe], tuple[bool, str]]] = {
    "layout-lint": _layout_lint,
    "layout-modules": _layout_modules,
    "inventory-validate": _inventory,
    "vars-check": _vars,
    "secrets-check": _secrets,
}


def run_probe(plan: Plan, phase: Phase, c: Criterion, repo_root: Path) -> ProbeResult:
    assert c.probe is not None and c.probe.builtin not in CLOCK_BUILTINS
    probe = c.probe
    root = (repo_root / phase.root).resolve()
    if probe.builtin == "verify":
        return _verify(plan, phase, c, root)
    if probe.kind == "builtin":
        assert probe.builtin is not None
        start = time.monotonic()
        try:
            ok, detail = BUILTIN_RUNNERS[probe.builtin](root, probe)
            status = PASS if ok else FAIL
        except DendriteError as exc:  # the repository cannot be read as the check needs: a failure
            status, detail = FAIL, exc.message
        return ProbeResult(
            phase.number, c.id, status, f"builtin {probe.builtin}", None, time.monotonic() - start, "", detail
        )
    hosts: list[str | None] = list(probe.hosts or phase.hosts) or [None]
    statuses, details, excerpts, shown = [], [], [], []
    total, last_exit = 0.0, None
    for h in hosts:
        sub = substitution(plan, str(root), h)
        argv = [sub.format(a) for a in probe.command]
        status, code, seconds, excerpt, detail = _run_command(argv, probe, root)
        statuses.append(status)
        total += seconds
        last_exit = code
        prefix = f"{h}: " if len(hosts) > 1 and h else ""
        details.append(prefix + detail)
        excerpts.append(prefix + excerpt if excerpt else "")
        shown.append(" ".join(argv))
    status = FAIL if FAIL in statuses else UNAVAILABLE if UNAVAILABLE in statuses else PASS
    excerpt = "\n".join(e for e in excerpts if e)
    return ProbeResult(
        phase.number,
        c.id,
        status,
        "; ".join(shown),
        last_exit,
        total,
        excerpt if len(excerpt) <= EXCERPT else "…" + excerpt[-EXCERPT:],
        "; ".join(details),
    )


def planned_commands(plan: Plan, phase: Phase, c: Criterion, repo_root: Path) -> list[str]:
    """What `run_probe` would run for `c`, as text (`check --dry-run`)."""
    assert c.probe is not None
    if c.probe.builtin == "verify":
        where = (repo_root / phase.root).resolve()
        return [_verify_command(plan, c.probe, _verify_hosts(plan, phase, c.probe), where)]
    if c.probe.kind == "builtin":
        return [f"builtin {c.probe.builtin} in {(repo_root / phase.root).resolve()}"]
    root = str((repo_root / phase.root).resolve())
    hosts: list[str | None] = list(c.probe.hosts or phase.hosts) or [None]
    out = []
    for h in hosts:
        sub = substitution(plan, root, h)
        out.append(shlex.join(sub.format(a) for a in c.probe.command))
    return out


def checkable(phase: Phase) -> list[Criterion]:
    """The criteria of the phase that `check` runs (clock criteria are computed, not run)."""
    return [c for c in phase.criteria if c.probe is not None and c.probe.builtin not in CLOCK_BUILTINS]
