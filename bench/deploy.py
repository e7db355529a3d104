"""Benchmark: `vars upload` to 10 loopback sshd targets, all at once against one at a time.

Each target is its own sshd (Debian's openssh-server, started here as root with throwaway keys) and
its own secretUploadDirectory. One upload is what `dendrite vars upload` does: decrypt the machine's
age key and activation secrets, open a control master, stream the tar, switch by one rename, close.
"Parallel" runs the ten in threads (as `machines update --jobs 10` does); "serial" one after another.
Each mode runs 3 times; the median is printed.
Run: make bench   (or: .venv/bin/python bench/deploy.py [--targets N])
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyrage

# the repository root instead of bench/: the tests' sshd helper, and bench/secrets.py must not shadow
# the standard library's secrets module
sys.path[0] = str(Path(__file__).resolve().parents[1])

from tests.deploy.conftest import SSHD, Sshd, start_sshd, stop_sshd  # noqa: E402

from dendrite.deploy.ssh import SshConfig, connect, parse_address  # noqa: E402
from dendrite.deploy.upload import collect, upload  # noqa: E402
from dendrite.secrets.keys import SopsKey  # noqa: E402
from dendrite.secrets.store import SecretsStore  # noqa: E402
from dendrite.sops import identities_from_text  # noqa: E402
from dendrite.vars.generate import generate  # noqa: E402

TOML = """
[secrets]
default_groups = ["admins"]

[generators.disk]
recipe = "luks-password"
files.password = { secret = true, neededFor = "activation" }
"""


def build(root: Path, n: int) -> SecretsStore:
    machines = {f"m{i:02d}": {"machineClass": "nixos"} for i in range(n)}
    (root / "inventory.json").write_text(json.dumps({"meta": {"name": "bench"}, "machines": machines}))
    (root / "dendrite.toml").write_text(TOML)
    admin = pyrage.x25519.Identity.generate()
    store = SecretsStore(root, identities_from_text(str(admin), "bench"))
    store.add_user("admin", [SopsKey("age", str(admin.to_public()))])
    store.group_add("admins", "users", "admin")
    generate(root, sorted(machines), store=store, sandbox=False)
    return store


def one(root: Path, store: SecretsStore, machine: str, target: Sshd, dest: Path) -> None:
    payload = collect(root, machine, store)
    config = SshConfig("strict", target.ssh_options, 10)
    with connect(parse_address(target.address), config) as conn:
        upload(conn, payload, str(dest))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=10)
    args = parser.parse_args()
    if not (os.path.exists(SSHD) and os.geteuid() == 0):
        print("deploy: skipped (needs /usr/sbin/sshd and root to start loopback servers)")
        return 0
    with tempfile.TemporaryDirectory(prefix="dendrite-bench-deploy-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        store = build(root, args.targets)
        machines = sorted(store.machines())
        targets = [start_sshd(Path(tmp) / f"sshd{i}") for i in range(args.targets)]
        dests = [Path(tmp) / f"machine{i}" / "var" / "sops-nix" for i in range(args.targets)]
        try:
            jobs = list(zip(machines, targets, dests, strict=True))

            def serial() -> None:
                for m, t, d in jobs:
                    one(root, store, m, t, d)

            def parallel() -> None:
                with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                    for f in [pool.submit(one, root, store, m, t, d) for m, t, d in jobs]:
                        f.result()

            times: dict[str, list[float]] = {"serial": [], "parallel": []}
            for _ in range(3):
                for name, fn in (("serial", serial), ("parallel", parallel)):
                    started = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - started)
        finally:
            for t in targets:
                stop_sshd(t)
    s, p = statistics.median(times["serial"]), statistics.median(times["parallel"])
    print(f"deploy: vars upload to {args.targets} loopback sshd targets (median of 3)")
    print(f"  one at a time: {s:.2f} s")
    print(f"  in parallel:   {p:.2f} s")
    print(f"  ratio:         {s / p:.1f}x faster in parallel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
