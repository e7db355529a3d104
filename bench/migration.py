"""Benchmark: `dendrite migrate status` and `migrate report --html` over a journal of 100,000 events, each
run as a process as a user runs it (targets: status under 0.5 s, the HTML report under 2 s), with
`dendrite --version` beside them as the anchor: the start-up every command pays before it does anything.
The first `status` parses the whole journal and caches its fold; the medians are of the runs after it.
Run: make bench   (or: .venv/bin/python bench/migration.py [--events N] [--runs R])
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dendrite.fleet import sample_fleet
from dendrite.inventory.scaffold import write_inventory_modules
from dendrite.migration import journal, ops
from dendrite.migration.journal import stamp


def events(n: int, now: dt.datetime) -> list[dict[str, Any]]:
    """A realistic mix over 100 days: mostly probe results (a CI loop checking every 5 minutes), some
    attestations, deployments, red flags opened and resolved, decisions."""
    r = random.Random(7)
    plan = ops.plan.loads(ops.plan.dumps(ops.plan.default_plain((now - dt.timedelta(days=101)).date())))
    crits = [(p.number, c) for p in plan.phases[:3] for c in p.criteria]
    hosts = ["cinnabar", "blackphos"]
    out: list[dict[str, Any]] = []
    flag_id = 0
    open_flags: list[int] = []
    start = now - dt.timedelta(days=100)
    step = dt.timedelta(days=100) / n
    for i in range(n):
        ts = stamp(start + step * i)
        x = r.random()
        phase, c = r.choice(crits)
        if x < 0.86:
            ok = r.random() < 0.93
            out.append(
                {
                    "ts": ts,
                    "type": "probe",
                    "phase": phase,
                    "criterion": c.id,
                    "status": "pass" if ok else "fail",
                    "command": c.probe.describe() if c.probe else "",
                    "exit": 0 if ok else 1,
                    "seconds": round(r.uniform(0.1, 40), 3),
                    "excerpt": "" if ok else "error: attribute 'system' missing\n" * 3,
                    "detail": "as expected" if ok else "exit 1, expected 0",
                }
            )
        elif x < 0.93:
            out.append(
                {
                    "ts": ts,
                    "type": "attest",
                    "phase": phase,
                    "criterion": c.id,
                    "evidence": f"log {i}",
                    "by": "crs58",
                }
            )
        elif x < 0.96:
            out.append(
                {
                    "ts": ts,
                    "type": "decision",
                    "phase": phase,
                    "outcome": "NO-GO",
                    "reasons": [],
                    "alternatives": [],
                }
            )
        elif x < 0.98 or not open_flags:
            flag_id += 1
            open_flags.append(flag_id)
            out.append(
                {
                    "ts": ts,
                    "type": "flag",
                    "id": flag_id,
                    "host": r.choice(hosts),
                    "severity": r.choice(["minor", "major"]),
                    "text": "zerotier flapping",
                }
            )
        else:
            out.append({"ts": ts, "type": "resolve", "id": open_flags.pop(0), "note": "fixed"})
        if i % 5000 == 0:
            out.append({"ts": ts, "type": "deployed", "host": r.choice(hosts), "note": "generation"})
    return out


def timed(argv: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    times = []
    res = None
    for _ in range(runs):
        t = time.perf_counter()
        res = subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - t)
        if res.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed: {res.stderr.decode()[-500:]}")
    assert res is not None
    return statistics.median(times), res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    base = Path(os.environ.get("BENCH_TMP", Path(__file__).resolve().parent.parent / ".bench-tmp"))
    base.mkdir(exist_ok=True)
    dendrite = [sys.executable, "-m", "dendrite"]
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp)
        (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
        fleet = sample_fleet()
        machines = {m.name: {"machineClass": m.machine_class, "tags": list(m.tags)} for m in fleet.machines}
        write_inventory_modules(
            root / "modules" / "clan", {"name": fleet.name, "domain": fleet.domain}, machines, fleet.instances
        )
        now = journal.utcnow()
        ops.init(root, (now - dt.timedelta(days=101)).date(), record=False)
        evs = events(args.events, now)
        journal.append_many(root, evs, now)
        size = (root / "migration" / "journal.jsonl").stat().st_size
        print(f"journal: {len(evs):,} events, {size / 1e6:.1f} MB")
        anchor, _ = timed([*dendrite, "--version"], args.runs)
        cold, _ = timed(
            [*dendrite, "-C", str(root), "migrate", "status"], 1
        )  # no cache yet: all 100,000 parsed
        status, res = timed([*dendrite, "-C", str(root), "migrate", "status"], args.runs)
        assert b"Stability clocks" in res.stdout
        status_json, _ = timed([*dendrite, "-C", str(root), "migrate", "status", "--json"], args.runs)
        report, _ = timed(
            [*dendrite, "-C", str(root), "migrate", "report", "--html", str(root / "r.html")], args.runs
        )
        print(f"dendrite --version (start-up, the anchor): {anchor:.3f} s")
        print(f"migrate status, first run (whole journal parsed, cache written): {cold:.3f} s")
        print(f"migrate status:        {status:.3f} s  (target < 0.5 s) {'ok' if status < 0.5 else 'OVER'}")
        print(f"migrate status --json: {status_json:.3f} s")
        print(f"migrate report --html: {report:.3f} s  (target < 2 s) {'ok' if report < 2 else 'OVER'}")


if __name__ == "__main__":
    main()
