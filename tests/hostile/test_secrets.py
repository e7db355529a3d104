"""The secrets store (`sops/`) on a hostile repository: planted links, FIFOs, refusals that change nothing.

Every test plays an attacker with write access to the repository. What it asserts: nothing outside the
repository is read into it, written or deleted (the `sentinel`); a member link is never followed; a
refusal exits 2 with one sentence and leaves the repository byte-identical; an interrupted change
leaves links old or new and `secrets fix` makes every file agree with them.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyrage
import pytest

from dendrite.secrets import health
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.sops.age import discover_identities, identities_from_text
from tests.conftest import run_sops
from tests.hostile.conftest import (
    PRIVATE_MARK,
    Fleet,
    Sentinel,
    assert_refused,
    dendrite,
    tree_bytes,
)

# ------------------------------------------------------------------------------------------------ helpers


def secrets(fleet: Fleet, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return dendrite(["--repo", str(fleet.root), "secrets", *args], fleet.env, stdin=stdin)


def ok(res: subprocess.CompletedProcess[bytes]) -> str:
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode(errors="replace")


def recipients(path: Path) -> set[str]:
    meta = json.loads(path.read_bytes())["sops"]
    return {e["recipient"] for e in meta.get("age") or []}


def all_recipients(root: Path) -> dict[str, set[str]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        if "secret" in files and not Path(dirpath, "secret").is_symlink():
            out[str(Path(dirpath).relative_to(root))] = recipients(Path(dirpath) / "secret")
    return out


def new_identity() -> tuple[str, str]:
    ident = pyrage.x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def key_json(public: str) -> str:
    return json.dumps([{"publickey": public, "type": "age"}])


def plant_user(fleet: Fleet, name: str, public: str, kind: str = "users") -> None:
    d = fleet.root / "sops" / kind / name
    d.mkdir(parents=True)
    (d / "key.json").write_text(key_json(public))


def store_of(fleet: Fleet) -> SecretsStore:
    return SecretsStore(fleet.root, identities_from_text(fleet.key_file.read_text(), str(fleet.key_file)))


ADMIN_ONLY = "argentum-age.key"  # linked to crs58 directly, and to nobody else
SHARED = "hetzner-api-token"  # linked to crs58 and to the group admins


def group_only_secret(fleet: Fleet) -> str:
    """A secret only the group admins (so crs58) reads: the direct admin link taken away."""
    store = store_of(fleet)
    store.set("group-only", b"g", groups=["admins"])
    store.secret_remove_member("group-only", "users", "crs58")
    return "group-only"


# ------------------------------------------------------------------------------------------------ 1. links


def test_key_json_symlinked_out_is_not_read(fleet: Fleet, sentinel: Sentinel) -> None:
    kj = fleet.root / "sops/users/crs58/key.json"
    kj.unlink()
    kj.symlink_to(sentinel.authorized_keys)
    res = secrets(fleet, "users", "get", "crs58")
    assert_refused(res, "symbolic link")
    assert "admin@laptop" not in res.stdout.decode() + res.stderr.decode()
    res = secrets(fleet, "set", "new", stdin=b"v")  # which user you are cannot be told: refused by name
    assert_refused(res, "sops/users/crs58/key.json", "symbolic link")
    assert not (fleet.root / "sops/secrets/new").exists()


def test_key_json_symlinked_to_an_attacker_key_never_becomes_a_recipient(
    fleet: Fleet, tmp_path: Path, sentinel: Sentinel
) -> None:
    _, evil = new_identity()
    outside = tmp_path / "evil-key.json"
    outside.write_text(key_json(evil))
    kj = fleet.root / "sops/machines/cinnabar/key.json"
    kj.unlink()
    kj.symlink_to(outside)
    check = secrets(fleet, "check", "--json")
    assert check.returncode == 1
    assert any("cinnabar" in f["detail"] for f in json.loads(check.stdout))
    secrets(fleet, "key", "update")  # refuses or re-keys; never to the attacker's key
    secrets(fleet, "fix")
    assert all(evil not in r for r in all_recipients(fleet.root).values())
    assert outside.read_text() == key_json(evil)


def test_secret_file_symlinked_out_is_neither_read_nor_written(fleet: Fleet, sentinel: Sentinel) -> None:
    s = fleet.root / "sops/secrets/stolen"
    (s / "users").mkdir(parents=True)
    (s / "users/crs58").symlink_to("../../../users/crs58")
    (s / "secret").symlink_to(sentinel.private_key)
    res = secrets(fleet, "get", "stolen")
    assert_refused(res, "is a symbolic link, not a regular file")
    assert PRIVATE_MARK.encode() not in res.stdout + res.stderr
    assert "stolen" not in ok(secrets(fleet, "list"))
    before = tree_bytes(fleet.root)
    assert_refused(secrets(fleet, "set", "stolen", stdin=b"overwrite"), "symbolic link")
    assert tree_bytes(fleet.root) == before
    res = secrets(fleet, "check")
    assert PRIVATE_MARK.encode() not in res.stdout + res.stderr


def test_symlinked_secrets_directory_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    sd = fleet.root / "sops/secrets"
    moved = fleet.root / "real-secrets"
    sd.rename(moved)
    sd.symlink_to(sentinel.victim_dir)
    for args in (["list"], ["set", "x"], ["check"], ["fix"], ["remove", "tmp"], ["key", "update"]):
        assert_refused(secrets(fleet, *args, stdin=b"v"), "symbolic link")
    assert (sentinel.victim_dir / "tmp/keep.txt").exists()


@pytest.mark.parametrize("target", ["../../../../../etc", "../../../../../outside/home/.ssh", "/etc"])
def test_member_link_out_of_the_store_is_misplaced_and_fix_removes_only_the_link(
    fleet: Fleet, sentinel: Sentinel, target: str
) -> None:
    link = fleet.root / "sops/secrets/cachix-auth-token/users/evil"
    link.symlink_to(target)
    check = secrets(fleet, "check", "--json")
    assert check.returncode == 1
    found = json.loads(check.stdout)
    assert [f["kind"] for f in found] == ["link"] and "misplaced link" in found[0]["detail"]
    assert_refused(secrets(fleet, "key", "update"), "misplaced link")
    ok(secrets(fleet, "fix"))
    assert not link.is_symlink()
    ok(secrets(fleet, "check"))


def test_member_link_to_a_planted_key_outside_is_never_followed(
    fleet: Fleet, tmp_path: Path, sentinel: Sentinel
) -> None:
    _, evil = new_identity()
    planted = tmp_path / "users" / "evil"  # looks like a member directory, outside the repository
    planted.mkdir(parents=True)
    (planted / "key.json").write_text(key_json(evil))
    link = fleet.root / "sops/groups/admins/users/evil"
    link.symlink_to(os.path.relpath(planted, link.parent))
    before = all_recipients(fleet.root)
    res = secrets(fleet, "groups", "add-secret", "admins", ADMIN_ONLY)
    assert_refused(res, "misplaced link")
    ok(secrets(fleet, "fix"))
    assert not link.is_symlink() and (planted / "key.json").exists()
    after = all_recipients(fleet.root)
    assert all(evil not in r for r in after.values()) and after.keys() == before.keys()


def test_member_link_named_one_user_pointing_at_another_is_misplaced(fleet: Fleet) -> None:
    plant_user(fleet, "mallory", new_identity()[1])
    link = fleet.root / "sops/secrets/cachix-auth-token/users/crs58x"
    link.symlink_to("../../../users/mallory")
    check = json.loads(secrets(fleet, "check", "--json").stdout)
    assert any("points to 'mallory'" in f["detail"] for f in check)


def test_members_subdirectory_symlinked_out_is_reported_and_removed_as_a_link(
    fleet: Fleet, sentinel: Sentinel
) -> None:
    users = fleet.root / "sops/secrets/cachix-auth-token/users"
    if users.exists():
        for p in users.iterdir():
            p.unlink()
        users.rmdir()
    users.symlink_to(sentinel.root / "home")
    check = json.loads(secrets(fleet, "check", "--json").stdout)
    assert any("where a directory of member links belongs" in f["detail"] for f in check)
    ok(secrets(fleet, "fix"))
    assert not users.is_symlink()
    assert (sentinel.root / "home/.ssh/id_ed25519").exists()


def test_a_fifo_as_key_json_never_hangs(fleet: Fleet) -> None:
    kj = fleet.root / "sops/machines/cinnabar/key.json"
    kj.unlink()
    os.mkfifo(kj)
    for args in (["machines", "get", "cinnabar"], ["users", "list"], ["machines", "list"], ["key", "show"]):
        res = secrets(fleet, *args)  # the runner's timeout fails the test on a hang
        assert res.returncode in (0, 2), res.stderr
    assert secrets(fleet, "check").returncode == 1
    assert_refused(secrets(fleet, "machines", "get", "cinnabar"), "FIFO")
    kj2 = fleet.root / "sops/users/crs58/key.json"
    kj2.unlink()
    os.mkfifo(kj2)
    assert_refused(secrets(fleet, "set", "x", stdin=b"v"), "sops/users/crs58/key.json", "FIFO")


def test_a_fifo_as_a_secret_never_hangs(fleet: Fleet) -> None:
    f = fleet.root / "sops/secrets/cachix-auth-token/secret"
    f.unlink()
    os.mkfifo(f)
    assert_refused(secrets(fleet, "get", "cachix-auth-token"), "is a FIFO, not a regular file")
    assert secrets(fleet, "check").returncode in (0, 1)
    assert secrets(fleet, "key", "update").returncode in (0, 2)


def test_symlinked_vars_generator_outside_is_not_rekeyed(fleet: Fleet, tmp_path: Path) -> None:
    machine_dir = next((fleet.root / "vars/per-machine").iterdir())
    gen = next(p for p in machine_dir.iterdir() if p.is_dir())
    outside = tmp_path / "outside-gen"
    os.rename(gen, outside)
    gen.symlink_to(outside)
    snapshot = {p: p.read_bytes() for p in outside.rglob("secret")}
    plant_user(fleet, "bob", new_identity()[1])
    ok(secrets(fleet, "groups", "add-user", "admins", "bob"))
    ok(secrets(fleet, "fix"))
    assert {p: p.read_bytes() for p in outside.rglob("secret")} == snapshot


def test_invalid_names_in_listings_are_skipped(fleet: Fleet) -> None:
    (fleet.root / "sops/secrets/-rf").mkdir()
    (fleet.root / "sops/secrets/-rf/secret").write_text("{}")
    (fleet.root / "sops/users/Ünicode").mkdir()
    (fleet.root / "sops/users/Ünicode/key.json").write_text(key_json(new_identity()[1]))
    assert "-rf" not in ok(secrets(fleet, "list")).split()
    assert ok(secrets(fleet, "users", "list")).split() == ["crs58"]


# ------------------------------------------------------------------------------------------------ 2. refusals


def refused_unchanged(fleet: Fleet, args: list[str], *words: str, stdin: bytes | None = None) -> None:
    before = tree_bytes(fleet.root)
    assert_refused(secrets(fleet, *args, stdin=stdin), *words)
    assert tree_bytes(fleet.root) == before


def test_removing_the_only_admin_changes_nothing(fleet: Fleet) -> None:
    refused_unchanged(fleet, ["users", "remove", "crs58"], "no user who can decrypt it")
    ok(secrets(fleet, "check"))


def test_users_remove_secret_leaving_no_user_changes_nothing(fleet: Fleet) -> None:
    refused_unchanged(fleet, ["users", "remove-secret", "crs58", ADMIN_ONLY], "no user who can decrypt it")


def test_groups_remove_secret_leaving_no_user_changes_nothing(fleet: Fleet) -> None:
    name = group_only_secret(fleet)
    refused_unchanged(fleet, ["groups", "remove-secret", "admins", name], "no user who can decrypt it")


def test_groups_remove_user_leaving_no_user_changes_nothing(fleet: Fleet) -> None:
    group_only_secret(fleet)
    refused_unchanged(fleet, ["groups", "remove-user", "admins", "crs58"], "no user who can decrypt it")


def unusable_user(fleet: Fleet, name: str = "mallory") -> None:
    plant_user(fleet, name, "age1" + "q" * 58)  # well formed to the eye, not a valid key


def test_groups_add_user_with_an_unusable_key_changes_nothing(fleet: Fleet) -> None:
    unusable_user(fleet)
    refused_unchanged(fleet, ["groups", "add-user", "admins", "mallory"], "not a valid age recipient")


def test_groups_add_user_with_a_pgp_key_changes_nothing(fleet: Fleet) -> None:
    d = fleet.root / "sops/users/pgpuser"
    d.mkdir()
    (d / "key.json").write_text(json.dumps([{"publickey": "ABCDEF0123456789", "type": "pgp"}]))
    refused_unchanged(fleet, ["groups", "add-user", "admins", "pgpuser"], "pgp key")


def test_failed_set_leaves_no_directory(fleet: Fleet) -> None:
    unusable_user(fleet)
    refused_unchanged(fleet, ["set", "fresh", "--user", "mallory"], "not a valid age recipient", stdin=b"v")
    assert not (fleet.root / "sops/secrets/fresh").exists()


def test_failed_set_of_an_existing_secret_adds_no_link(fleet: Fleet) -> None:
    unusable_user(fleet)
    refused_unchanged(
        fleet, ["set", "cachix-auth-token", "--user", "mallory"], "not a valid age recipient", stdin=b"v"
    )


def test_failed_machines_add_secret_changes_nothing(fleet: Fleet) -> None:
    plant_user(fleet, "evilbox", "age1" + "q" * 58, kind="machines")
    refused_unchanged(
        fleet, ["machines", "add-secret", "evilbox", "cachix-auth-token"], "not a valid age recipient"
    )


def test_users_add_key_with_an_unusable_key_changes_nothing(fleet: Fleet) -> None:
    refused_unchanged(fleet, ["users", "add-key", "crs58", "age1" + "q" * 58], "age")


def test_a_planted_file_where_a_link_belongs_refuses_before_any_change(fleet: Fleet) -> None:
    plant_user(fleet, "bob", new_identity()[1])
    (fleet.root / "sops/secrets/cachix-auth-token/users").mkdir(exist_ok=True)
    (fleet.root / "sops/secrets/cachix-auth-token/users/bob").write_text("not a link")
    refused_unchanged(fleet, ["users", "add-secret", "bob", "cachix-auth-token"], "bob")


def test_refusals_leave_the_store_decryptable_by_sops(fleet: Fleet, sops_bin: str) -> None:
    unusable_user(fleet)
    for args in (["users", "remove", "crs58"], ["groups", "add-user", "admins", "mallory"]):
        assert_refused(secrets(fleet, *args))
    link = fleet.root / "sops/secrets/cachix-auth-token/users/evil"
    link.symlink_to("../../../../../etc")
    ok(secrets(fleet, "fix"))
    value = ok(secrets(fleet, "get", SHARED)).encode()
    out = run_sops(sops_bin, ["decrypt", str(fleet.root / "sops/secrets" / SHARED / "secret")], fleet.env)
    assert out.stdout == value


# ------------------------------------------------------------------------------------------------ 3. keys


def test_private_key_in_argv_is_refused(fleet: Fleet) -> None:
    secret, _ = new_identity()
    refused_unchanged(fleet, ["users", "add", "bob", secret], "command line", "--age-key-file")
    refused_unchanged(fleet, ["users", "add", "bob", "--age-key", secret], "command line")
    refused_unchanged(fleet, ["users", "add-key", "crs58", secret], "command line")
    refused_unchanged(fleet, ["machines", "add", "box", secret], "command line")


def test_private_key_from_stdin_or_a_file_is_accepted(fleet: Fleet, tmp_path: Path) -> None:
    secret, public = new_identity()
    ok(secrets(fleet, "users", "add", "bob", "-", stdin=f"# a key\n{secret}\n".encode()))
    assert [k["publickey"] for k in json.loads(ok(secrets(fleet, "users", "get", "bob")))] == [public]
    secret2, public2 = new_identity()
    f = tmp_path / "carol.txt"
    f.write_text(secret2 + "\n")
    f.chmod(0o600)
    ok(secrets(fleet, "users", "add", "carol", "--age-key-file", str(f)))
    assert [k["publickey"] for k in json.loads(ok(secrets(fleet, "users", "get", "carol")))] == [public2]
    ok(secrets(fleet, "users", "add", "dave", new_identity()[1]))  # public keys stay fine in argv


def test_a_key_file_others_can_read_is_warned_about(fleet: Fleet) -> None:
    fleet.key_file.chmod(0o644)
    res = secrets(fleet, "get", SHARED)  # a command that uses the key
    assert res.returncode == 0
    err = res.stderr.decode()
    assert "warning:" in err and "readable by others" in err and "chmod 600" in err
    refused = secrets(fleet, "users", "remove", "crs58")
    assert_refused(refused, "no user")  # the error stays the first line; the warning follows it
    fleet.key_file.chmod(0o600)
    assert "warning" not in secrets(fleet, "get", SHARED).stderr.decode()


def test_key_generate_new_never_appends_to_a_file_others_can_read(fleet: Fleet) -> None:
    fleet.key_file.chmod(0o640)
    before = fleet.key_file.read_bytes()
    res = dendrite(["--repo", str(fleet.root), "secrets", "key", "generate", "--new"], fleet.env)
    assert_refused(res, "readable by group or others", "chmod 600")
    assert fleet.key_file.read_bytes() == before


def test_key_generate_new_refuses_a_symlinked_key_file(fleet: Fleet, sentinel: Sentinel) -> None:
    env = {**fleet.env, "SOPS_AGE_KEY_FILE": str(fleet.root / "keylink")}
    (fleet.root / "keylink").symlink_to(sentinel.private_key)
    res = dendrite(["--repo", str(fleet.root), "secrets", "key", "generate", "--new"], env)
    assert res.returncode == 2 and "Traceback" not in res.stderr.decode()


# ------------------------------------------------------------------------------------------------ interruption


def _many_secrets(fleet: Fleet, n: int, mark: str) -> SecretsStore:
    store = store_of(fleet)
    for i in range(n):
        store.set(f"bulk-{i:03d}", f"{mark}{i:03d}".encode(), groups=["admins"])
    return store


def _no_plaintext(roots: list[Path], mark: bytes) -> None:
    for root in roots:
        for dirpath, _dirs, files in os.walk(root, followlinks=False):
            for f in files:
                p = Path(dirpath) / f
                try:
                    if p.is_symlink() or not p.is_file() or p.stat().st_size > 4 << 20:
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                assert mark not in data, f"plaintext left in {p}"


def _survivors(root: Path) -> list[int]:
    """Processes still working on `root` (a re-key worker that outlived its killed parent)."""
    out = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if pid.isdigit() and str(root).encode() in cmd and b"dendrite" in cmd:
            out.append(int(pid))
    return out


def _no_survivors(root: Path) -> None:
    deadline = time.monotonic() + 5
    while _survivors(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _survivors(root)
    for pid in left:  # ours: started by this test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"re-key workers outlived their killed parent: {left}"


def test_sigkill_during_groups_add_user_leaves_old_or_new(fleet: Fleet) -> None:
    mark = f"plain-{os.urandom(8).hex()}-"  # random: not even this test's source holds it
    store = _many_secrets(fleet, 220, mark)
    bob_secret, bob = new_identity()
    store.add_user("bob", [SopsKey("age", bob)])
    group_secrets = [r for r in store.layout.all_secrets() if (r.path / "groups/admins").is_symlink()]
    assert len(group_secrets) > 200
    old = {r.label: recipients(r.file) for r in group_secrets}  # bob reads none of them yet
    argv = [sys.executable, "-m", "dendrite", "--repo", str(fleet.root), "secrets", "groups"]
    t0 = time.monotonic()
    ok(dendrite(["--repo", str(fleet.root), "secrets", "groups", "add-user", "admins", "bob"], fleet.env))
    full = time.monotonic() - t0  # kills are spread over the whole run, most of it start-up and re-wrap
    rng = random.Random(9)
    start = time.monotonic()
    kills = mid_way = 0
    while kills < 20 and time.monotonic() - start < 300:
        linked = (fleet.root / "sops/groups/admins/users/bob").is_symlink()
        verb = "remove-user" if linked else "add-user"
        proc = subprocess.Popen([*argv, verb, "admins", "bob"], env=fleet.env, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.05) * full)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        _no_survivors(fleet.root)
        mid_way += bool(health.check(store_of(fleet)))  # killed between the first change and the last
        health.fix(store_of(fleet))
        now_linked = (fleet.root / "sops/groups/admins/users/bob").is_symlink()
        for ref in group_secrets:
            wanted = old[ref.label] | {bob} if now_linked else old[ref.label]
            assert recipients(ref.file) == wanted, f"{ref.label}: neither old nor new after fix"
        assert health.check(store_of(fleet)) == []
    assert kills >= 20, f"only {kills} kills in the time allowed"
    print(f"{kills} kills, {mid_way} between the first change and the last")
    _no_plaintext([fleet.root, Path("/tmp")], mark.encode())
    as_bob = SecretsStore(fleet.root, identities_from_text(bob_secret))
    if (fleet.root / "sops/groups/admins/users/bob").is_symlink():
        assert as_bob.get("bulk-000") == f"{mark}000".encode()


def test_the_library_returns_the_key_file_warning_and_prints_nothing(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.key_file.chmod(0o604)
    ids = discover_identities({"SOPS_AGE_KEY_FILE": str(fleet.key_file), "HOME": str(fleet.root / "nohome")})
    assert ids and len(ids.warnings) == 1 and "readable by others" in ids.warnings[0]
    store = SecretsStore(fleet.root, ids)
    assert store.warnings == ids.warnings
    assert capsys.readouterr() == ("", "")


def test_check_names_a_planted_secret_file_it_neither_reads_nor_rekeys(
    fleet: Fleet, sentinel: Sentinel
) -> None:
    """A `secret` that is a link, a directory or a FIFO is no secret of dendrite's (never read, never
    re-keyed: clan would try to decrypt what the link points at); `secrets check` says so, exit 1."""
    planted = {"by-link": "a symbolic link", "by-dir": "a directory", "by-fifo": "a special file"}
    for name in planted:
        (fleet.root / "sops/secrets" / name).mkdir(parents=True)
    (fleet.root / "sops/secrets/by-link/secret").symlink_to(sentinel.private_key)
    (fleet.root / "sops/secrets/by-dir/secret").mkdir()
    os.mkfifo(fleet.root / "sops/secrets/by-fifo/secret")
    check = secrets(fleet, "check", "--json")
    assert check.returncode == 1, check.stderr
    found = {f["secret"]: f for f in json.loads(check.stdout)}
    for name, what in planted.items():
        assert found[name]["kind"] == "unreadable"
        assert f"sops/secrets/{name}/secret is {what}" in found[name]["detail"], found[name]
    assert PRIVATE_MARK.encode() not in check.stdout + check.stderr
    for name in planted:
        shutil.rmtree(fleet.root / "sops/secrets" / name)
    assert secrets(fleet, "check").returncode == 0
