"""Crash safety: SIGKILL a re-key of 200 secrets at random moments; nothing is ever half-written."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dendrite.fsutil import repo_lock
from dendrite.secrets import health
from dendrite.secrets.keys import SopsKey, write_keys
from dendrite.secrets.store import SecretsStore
from dendrite.sops import decrypt_document, identities_from_text
from tests.conftest import Keys, new_key, run_cli

N_SECRETS = 200
KILLS = 32


def _spawn(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dendrite", "--repo", str(root), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _verify(root: Path, old: set[str], new: set[str], reader_ids) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Every secret is whole, decrypts with its MAC verified, and is encrypted to the old or the new set."""
    counts = [0, 0]
    for i in range(N_SECRETS):
        d = root / "sops" / "secrets" / f"s{i:03d}"
        assert sorted(p.name for p in d.iterdir()) == ["groups", "machines", "secret", "users"], (
            f"stray file in {d}"
        )
        data = (d / "secret").read_bytes()
        doc = decrypt_document(data, "binary", reader_ids, where=str(d))
        assert doc.branches[0].get("data") == f"value-{i}"
        got = set(doc.metadata.recipients)
        assert got in (old, new), f"{d}: recipients {got} are neither the old nor the new set"
        counts[got == new] += 1
    return counts[0], counts[1]


@pytest.mark.slow
def test_sigkill_during_rekey_never_loses_a_secret(tmp_path: Path, keys: Keys) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.group_add("admins", "users", "alice")
    machine = new_key()
    store.add_machine("cinnabar", SopsKey("age", machine.public))
    for i in range(N_SECRETS):
        store.set(f"s{i:03d}", f"value-{i}".encode(), groups=["admins"], machines=["cinnabar"])
    sets = [{keys.a.public, machine.public}, {keys.a.public, keys.b.public, machine.public}]
    user_keys = [
        [SopsKey("age", keys.a.public)],
        [SopsKey("age", keys.a.public), SopsKey("age", keys.b.public)],
    ]
    reader = identities_from_text(keys.a.secret)

    # how long an uninterrupted re-key takes, start-up included, to aim the kills inside it
    write_keys(root / "sops/users/alice/key.json", user_keys[1])
    t0 = time.monotonic()
    full = _spawn(root, keys.env, "secrets", "key", "update")
    assert full.wait(timeout=120) == 0, full.stderr.read() if full.stderr else ""
    duration = time.monotonic() - t0
    assert _verify(root, sets[0], sets[1], reader) == (0, N_SECRETS)

    rng = random.Random(1234)
    target = 0
    killed = 0
    for _attempt in range(KILLS * 4):  # runs that finish before their kill do not count as kills
        write_keys(root / "sops/users/alice/key.json", user_keys[target])
        proc = _spawn(root, keys.env, "secrets", "key", "update")
        time.sleep(rng.uniform(0.0, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            killed += 1
        with repo_lock(root, timeout=10):  # no orphaned worker of the killed run holds the lock
            pass
        old_count, _new_count = _verify(root, sets[1 - target], sets[target], reader)
        if killed >= KILLS:
            break
        if old_count:  # the kill left work undone: next round continues towards the same target
            continue
        target = 1 - target
    assert killed >= KILLS, f"only {killed} runs could be killed before finishing"

    # an uninterrupted run completes the last target, and the next writer clears any leftover temp files
    done = run_cli(["--repo", str(root), "secrets", "key", "update"], keys.env)
    assert done.returncode == 0, done.stderr
    assert _verify(root, sets[1 - target], sets[target], reader) == (0, N_SECRETS)
    assert health.check(store) == []
    with repo_lock(root) as scratch:
        assert list(scratch.iterdir()) == []


def test_the_repo_lock_keeps_writers_apart(tmp_path: Path, keys: Keys) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    assert (
        run_cli(["--repo", str(root), "secrets", "users", "add", "alice", keys.a.public], keys.env).returncode
        == 0
    )
    with repo_lock(root):
        waiting = subprocess.Popen(
            [sys.executable, "-m", "dendrite", "--repo", str(root), "secrets", "set", "x"],
            env=keys.env,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert waiting.stdin is not None
        waiting.stdin.write(b"value")
        waiting.stdin.close()
        time.sleep(2.0)
        assert waiting.poll() is None, "the second writer did not wait for the lock"
        assert not (root / "sops/secrets/x/secret").exists()
        impatient = run_cli(
            ["--repo", str(root), "secrets", "set", "y"],
            {**keys.env, "DENDRITE_LOCK_TIMEOUT": "0.5"},
            stdin=b"v",
        )
        assert impatient.returncode == 2 and b"holds the lock" in impatient.stderr
    assert waiting.wait(timeout=60) == 0
    assert run_cli(["--repo", str(root), "secrets", "get", "x"], keys.env).stdout == b"value"


def test_concurrent_membership_changes_and_writes_stay_consistent(tmp_path: Path, keys: Keys) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.add_user("bob", [SopsKey("age", keys.b.public)])
    store.group_add("admins", "users", "alice")
    env = keys.env
    script = (
        "import subprocess,sys\n"
        "r=sys.argv[1]\n"
        "for i in range(6):\n"
        "    for verb in ('add-user','remove-user'):\n"
        "        subprocess.run([sys.executable,'-m','dendrite','--repo',r,'secrets','groups',verb,'admins','bob'],check=True)\n"
    )
    flipper = subprocess.Popen([sys.executable, "-c", script, str(root)], env=env)
    for i in range(12):
        res = run_cli(
            ["--repo", str(root), "secrets", "set", f"c{i}", "--group", "admins"], env, stdin=f"{i}".encode()
        )
        assert res.returncode == 0, res.stderr
    assert flipper.wait(timeout=300) == 0
    assert health.check(store) == [], "a write raced a membership change"
    assert json.loads(run_cli(["--repo", str(root), "secrets", "list", "--json"], env).stdout) == sorted(
        f"c{i}" for i in range(12)
    )
