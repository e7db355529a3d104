"""Benchmark: load, resolve and validate a 2,000-machine, 200-instance inventory.

dendrite reads inventory.json, resolves every role (explicit machines and tags) with the three-level
settings merge, and validates everything. The anchor is the same tag resolution and settings merge
written as a plain Nix expression (builtins only, bench/inventory-resolve.nix) evaluated by
`nix-instantiate --eval --strict`, measured in the same run.
Run: make bench   (or: .venv/bin/python bench/inventory.py [--machines N] [--instances M])
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dendrite.inventory import analyse

TAGS = [f"tag{i:02d}" for i in range(20)] + ["vps", "workstation", "lab", "primary"]


def build(root: Path, n_machines: int, n_instances: int, seed: int = 3) -> None:
    r = random.Random(seed)
    machines = {}
    for i in range(n_machines):
        machines[f"m{i:04d}"] = {
            "machineClass": "nixos" if i % 5 else "darwin",
            "tags": r.sample(TAGS, r.randint(1, 4)),
        }
    names = list(machines)
    instances = {}
    for i in range(n_instances):
        kind = r.choice(["zerotier", "sshd", "users"])
        if kind == "zerotier":
            roles = {
                "controller": {
                    "machines": {names[i * 5 % len(names)]: {"settings": {"allowedIps": [f"fd00::{i}"]}}},
                    "settings": {"allowedIps": ["fd00::ffff"]},
                },
                "peer": {"tags": {r.choice(TAGS): {}, r.choice(TAGS): {}}},
            }
        elif kind == "sshd":
            t1, t2 = r.sample(TAGS, 2)
            roles = {
                "server": {
                    "tags": {t1: {"settings": {"certificate": {"searchDomains": [f"d{i}.example"]}}}, t2: {}},
                    "machines": {r.choice(names): {"settings": {"generateRootKey": True}}},
                    "settings": {"certificate": {"searchDomains": ["zt"]}},
                },
                "client": {"tags": [r.choice(TAGS)]},
            }
        else:
            roles = {
                "default": {
                    "tags": {r.choice(TAGS): {"settings": {"groups": ["wheel"]}}},
                    "settings": {"user": f"user{i}", "groups": ["users"], "share": True},
                }
            }
        instances[f"inst{i:03d}"] = {"module": {"name": kind, "input": "clan-core"}, "roles": roles}
    (root / "inventory.json").write_text(
        json.dumps({"meta": {"name": "bench"}, "machines": machines, "instances": instances}, indent=2) + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=2000)
    ap.add_argument("--instances", type=int, default=200)
    args = ap.parse_args()
    nix = shutil.which("nix-instantiate")
    if nix is None:
        sys.exit("nix-instantiate is needed as the anchor (Debian nix-bin)")
    anchor = Path(__file__).resolve().parent / "inventory-resolve.nix"
    env = {**os.environ, "NIX_CONFIG": "build-users-group =", "HOME": tempfile.gettempdir()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, args.machines, args.instances)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            result = analyse(root)
            runs.append(time.perf_counter() - t0)
        t_ours = min(runs)
        t0 = time.perf_counter()
        proc = subprocess.run(
            [nix, "--eval", "--strict", "--json", str(anchor), "--arg", "file", str(root / "inventory.json")],
            env=env,
            capture_output=True,
            check=False,
        )
        t_nix = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(proc.stderr.decode())
        nix_roles = json.loads(proc.stdout)
        nix_pairs = sum(len(m) for inst in nix_roles.values() for m in inst.values())
    n_errors = sum(1 for f in result.findings if f.severity == "error")
    print(
        f"inventory: {args.machines} machines, {args.instances} instances; "
        f"{len(result.assignments)} machine-role assignments (nix: {nix_pairs}), {len(result.findings)} findings "
        f"({n_errors} errors)"
    )
    print(f"dendrite: load + resolve + validate  {t_ours:7.3f} s  (best of 3)")
    print(f"nix-instantiate: resolve + merge     {t_nix:7.3f} s")
    print(f"ratio: {t_nix / t_ours:.1f}x")


if __name__ == "__main__":
    main()
