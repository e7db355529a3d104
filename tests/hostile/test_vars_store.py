"""vars on a hostile repository: names that are paths, planted links, and the generate transaction.

Each test plays someone with write access to the repository (dendrite.toml, the inventory, vars/) or
to an export directory, and checks that dendrite refuses with one sentence (exit 2), follows no link,
writes nothing outside, and that a `vars generate` run is stored completely or not at all, even when
killed or run twice at once.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from dendrite import names
from dendrite.errors import DendriteError
from dendrite.fsutil import repo_lock
from dendrite.repofs import RepoFS
from dendrite.secrets.store import SecretsStore
from dendrite.sops.age import identities_from_text
from dendrite.undo import JOURNAL, recover
from dendrite.vars import ops
from dendrite.vars.generate import generate
from tests.hostile.conftest import (
    PRIVATE_MARK,
    Fleet,
    Sentinel,
    assert_no_leak,
    assert_refused,
    dendrite,
    snapshot,
    tree_bytes,
)

CA_PUB = "vars/shared/openssh-ca/id_ed25519.pub/value"
CA_KEY = "vars/shared/openssh-ca/id_ed25519/secret"
HOST_PUB = "vars/per-machine/cinnabar/openssh/ssh.id_ed25519.pub/value"
CERT = "vars/per-machine/cinnabar/openssh-cert/ssh.id_ed25519-cert.pub/value"
USERS_NIX = "modules/clan/inventory/services/users-crs58.nix"


# ---- helpers ----------------------------------------------------------------------------------------


def cli(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[bytes]:
    return dendrite(["-C", str(fleet.root), *args], fleet.env)


def add_toml(fleet: Fleet, text: str) -> None:
    path = fleet.root / "dendrite.toml"
    path.write_text(path.read_text() + "\n" + text)


def toml_str(s: str) -> str:
    """A TOML basic string for any text: quotes, backslashes and control characters escaped."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def repo_state(fleet: Fleet) -> dict[str, tuple[str, int, bytes]]:
    return {k: v for k, v in tree_bytes(fleet.root).items() if k.startswith(("vars", "sops"))}


def fingerprint(args: list[str]) -> str:
    res = subprocess.run(["ssh-keygen", *args], capture_output=True, text=True, check=True)
    return next(w for w in res.stdout.split() if w.startswith("SHA256:"))


def identities(fleet: Fleet):  # type: ignore[no-untyped-def]
    return identities_from_text(fleet.key_file.read_text())


def assert_cert_signed_by_stored_ca(fleet: Fleet, tmp: Path) -> None:
    """The stored CA key pair belongs together, and the stored host certificate is signed by it."""
    root = fleet.root
    store = SecretsStore(root, identities(fleet))
    ca_private = ops.get_var(root, "cinnabar", "openssh-ca/id_ed25519", store=store)
    key = tmp / "ca"
    key.write_bytes(ca_private)
    key.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == (root / CA_PUB).read_text().split()[:2], (
        "CA secret and public differ"
    )
    cert = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(root / CERT)], capture_output=True, text=True, check=True
    )
    signing = next(ln for ln in cert.stdout.splitlines() if "Signing CA:" in ln)
    assert fingerprint(["-l", "-f", str(root / CA_PUB)]) in signing, "certificate not signed by the stored CA"
    host = next(ln for ln in cert.stdout.splitlines() if "Public key:" in ln)
    assert fingerprint(["-l", "-f", str(root / HOST_PUB)]) in host, "certificate of another host key"


# ---- names that are paths ---------------------------------------------------------------------------

ESCAPES = ["../../../outside/victim/x", "a/b", ".."]


@pytest.mark.parametrize("bad", ESCAPES)
@pytest.mark.parametrize("kind", ["generator", "file", "prompt"])
def test_a_path_as_a_name_in_dendrite_toml_is_refused(
    fleet: Fleet, sentinel: Sentinel, kind: str, bad: str
) -> None:
    gen, file, prompt = "evil", "out", "ask"
    if kind == "generator":
        gen = bad
    elif kind == "file":
        file = bad
    else:
        prompt = bad
    add_toml(
        fleet,
        f'[generators.{toml_str(gen)}]\nmachines = ["cinnabar"]\nscript = \'echo hi > "$out/out"\'\n'
        f"files.{toml_str(file)} = {{ secret = false }}\n"
        f"prompts.{toml_str(prompt)} = {{ persist = true }}\n",
    )
    before = tree_bytes(fleet.root)
    for args in (["vars", "generate", "--no-sandbox"], ["vars", "list", "cinnabar"]):
        err = assert_refused(cli(fleet, *args), "dendrite.toml", f"{kind} name")
        assert "generators" in err
    assert tree_bytes(fleet.root) == before


def test_a_path_as_the_users_service_user_is_refused_and_reported(fleet: Fleet, sentinel: Sentinel) -> None:
    nix = fleet.root / USERS_NIX
    nix.write_text(nix.read_text().replace('user = "crs58";', 'user = "../../../../outside/victim";'))
    before = tree_bytes(fleet.root)
    res = cli(fleet, "inventory", "validate")
    assert res.returncode == 1, res.stderr.decode()
    assert b"error: bad-name" in res.stdout and b"settings.user" in res.stdout, res.stdout.decode()
    for args in (["vars", "generate"], ["vars", "check"], ["vars", "export", str(fleet.root.parent / "ex")]):
        assert_refused(cli(fleet, *args), "user name", "settings.user")
    assert tree_bytes(fleet.root) == before
    assert not (fleet.root.parent / "ex").exists()


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("generators = 5", ["dendrite.toml: generators", "table"]),
        ("[generators.g]\nfiles = 'x'", ["generators.g.files", "table"]),
        ("[generators.g]\nshare = 'false'\nfiles.f = {}", ["generators.g.share", "true or false"]),
        ("[generators.g]\nfiles.f = { secret = 'no' }", ["generators.g.files.f.secret", "true or false"]),
        ("[generators.g]\nfiles.f = 3", ["generators.g.files.f", "table"]),
        ("[generators.g]\nfiles.f = {}\ndependencies = 'openssh'", ["generators.g.dependencies", "list"]),
        ("[generators.g]\nfiles.f = {}\nprompts.p = { persist = 1 }", ["generators.g.prompts.p.persist"]),
        ("[generators.g]\nfiles.f = {}\nmachines = [1]", ["generators.g.machines"]),
        ("[secrets]\ndefault_groups = 'admins'", ["secrets.default_groups", "list"]),
    ],
)
def test_wrong_types_in_dendrite_toml_are_one_sentence(fleet: Fleet, toml: str, words: list[str]) -> None:
    (fleet.root / "dendrite.toml").write_text(toml + "\n")
    before = tree_bytes(fleet.root)
    assert_refused(cli(fleet, "vars", "generate", "--no-sandbox"), *words)
    assert tree_bytes(fleet.root) == before


# ---- planted links ----------------------------------------------------------------------------------


def test_a_value_linked_to_a_private_key_is_not_listed_or_printed(fleet: Fleet, sentinel: Sentinel) -> None:
    value = fleet.root / HOST_PUB
    value.unlink()
    value.symlink_to(sentinel.private_key)
    listed = cli(fleet, "vars", "list", "cinnabar")
    assert_refused(listed, "symbolic link")
    got = cli(fleet, "vars", "get", "cinnabar", "openssh/ssh.id_ed25519.pub")
    assert_refused(got, "symbolic link")
    checked = cli(fleet, "vars", "check")
    assert checked.returncode == 1, checked.stderr.decode()
    assert b"openssh/ssh.id_ed25519.pub: unsafe" in checked.stdout, checked.stdout.decode()
    assert_no_leak(fleet.root, [PRIVATE_MARK], *(r.stdout + r.stderr for r in (listed, got, checked)))


def test_a_linked_value_is_not_copied_by_a_dependent_generator(fleet: Fleet, sentinel: Sentinel) -> None:
    value = fleet.root / CA_PUB
    value.unlink()
    value.symlink_to(sentinel.private_key)
    before = tree_bytes(fleet.root)
    res = cli(fleet, "vars", "generate", "--regenerate", "-g", "openssh-cert")
    assert_refused(res, "symbolic link")
    assert tree_bytes(fleet.root) == before
    assert_no_leak(fleet.root, [PRIVATE_MARK], res.stdout, res.stderr)


def test_a_linked_secret_directory_is_refused_not_written_through(fleet: Fleet, sentinel: Sentinel) -> None:
    gen_dir = fleet.root / "vars/per-machine/cinnabar/openssh-cert"
    shutil.rmtree(gen_dir)
    gen_dir.symlink_to(sentinel.victim_dir)
    before = tree_bytes(fleet.root)
    assert_refused(cli(fleet, "vars", "generate", "--regenerate", "-g", "openssh-cert"), "symbolic link")
    assert tree_bytes(fleet.root) == before


def test_export_never_writes_through_a_link_in_the_destination(fleet: Fleet, sentinel: Sentinel) -> None:
    dest = fleet.root.parent / "export"
    planted = dest / "per-machine/cinnabar/openssh/ssh.id_ed25519.pub"
    planted.parent.mkdir(parents=True)
    planted.symlink_to(sentinel.authorized_keys)  # the file itself: replaced, not written through
    res = cli(fleet, "vars", "export", str(dest))
    assert res.returncode == 0, res.stderr.decode()
    assert not planted.is_symlink() and planted.read_bytes() == (fleet.root / HOST_PUB).read_bytes()
    assert (planted.stat().st_mode & 0o777) == 0o600

    dest2 = fleet.root.parent / "export2"
    dest2.mkdir()
    (dest2 / "shared").symlink_to(sentinel.victim_dir)  # a directory on the way: refused
    assert_refused(cli(fleet, "vars", "export", str(dest2)), "symbolic link")

    dest3 = fleet.root.parent / "export3"
    dest3.symlink_to(sentinel.victim_dir)  # the destination itself
    assert_refused(cli(fleet, "vars", "export", str(dest3)), "not a directory")


def test_import_never_reads_a_link_in_the_export(fleet: Fleet, sentinel: Sentinel) -> None:
    dest = fleet.root.parent / "export"
    assert cli(fleet, "vars", "export", str(dest)).returncode == 0
    value = dest / "per-machine/cinnabar/openssh/ssh.id_ed25519.pub"
    value.unlink()
    value.symlink_to(sentinel.private_key)
    before = tree_bytes(fleet.root)
    res = cli(fleet, "vars", "import", str(dest))
    assert_refused(res, "symbolic link")
    assert tree_bytes(fleet.root) == before
    assert_no_leak(fleet.root, [PRIVATE_MARK], res.stdout, res.stderr)


# ---- the transaction --------------------------------------------------------------------------------

FAILING = """
[generators.boom]
share = true
dependencies = ["openssh-ca"]
script = 'echo half > "$out/x"; exit 3'
files.x = { secret = false }
"""


def test_a_failing_generator_leaves_every_var_as_it_was(fleet: Fleet) -> None:
    add_toml(fleet, FAILING)
    checked_before = cli(fleet, "vars", "check")
    before = repo_state(fleet)
    res = cli(fleet, "vars", "generate", "--no-sandbox", "--regenerate", "-g", "openssh-ca")
    assert_refused(res, "no var was changed")
    assert repo_state(fleet) == before  # openssh-ca was computed, but not stored without its dependents
    checked_after = cli(fleet, "vars", "check")
    assert (checked_after.returncode, checked_after.stdout) == (
        checked_before.returncode,
        checked_before.stdout,
    )
    assert not (fleet.root / JOURNAL).exists()


def _measure(fleet: Fleet, args: list[str]) -> float:
    start = time.monotonic()
    res = cli(fleet, *args)
    assert res.returncode == 0, res.stderr.decode()
    return time.monotonic() - start


def _kill_at_random(fleet: Fleet, args: list[str], rng: random.Random, full: float, in_batch: bool) -> None:
    """Start a run and SIGKILL it: at a random moment of the whole run, or (in_batch) a random few
    milliseconds after its undo journal appears, which is when its final batch is being written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dendrite", "-C", str(fleet.root), *args],
        env=fleet.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if in_batch:
        deadline = time.monotonic() + 3 * full + 5
        while not (fleet.root / JOURNAL).exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0002)
        time.sleep(rng.uniform(0, 0.006))
    else:
        time.sleep(rng.uniform(0.1, 1.2) * full)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_sigkill_at_random_moments_never_leaves_a_cert_signed_by_another_ca(
    fleet: Fleet, tmp_path: Path
) -> None:
    args = ["vars", "generate", "--regenerate", "-g", "openssh-ca"]
    full = _measure(fleet, args)
    rng = random.Random(9)
    interrupted = 0
    cas = {(fleet.root / CA_PUB).read_bytes()}
    for i in range(24):
        _kill_at_random(fleet, args, rng, full, in_batch=i % 2 == 1)
        interrupted += (fleet.root / JOURNAL).exists()
        assert ops.check(fleet.root, store=SecretsStore(fleet.root, identities(fleet))) == []  # rolls back
        assert not (fleet.root / JOURNAL).exists()
        assert_cert_signed_by_stored_ca(fleet, tmp_path)
        cas.add((fleet.root / CA_PUB).read_bytes())
    assert interrupted > 0, "no kill landed inside a transaction"
    print(f"{interrupted} of 24 kills inside a transaction, {len(cas) - 1} new CA(s) stored")
    _measure(fleet, args)  # and after all that, a run completes normally
    assert_cert_signed_by_stored_ca(fleet, tmp_path)
    res = cli(fleet, "vars", "check")
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def test_a_leftover_journal_is_rolled_back_exactly(fleet: Fleet) -> None:
    """A kill between the journal and the commit, made deterministic: write, then replay the journal."""
    before = repo_state(fleet)
    fs = RepoFS(fleet.root)
    store = SecretsStore(fleet.root, identities(fleet))
    from dendrite.vars.storage import VarsStore

    vs = VarsStore(fleet.root, store)
    gen_dir = fleet.root / "vars/shared/openssh-ca"
    new_gen = fleet.root / "vars/per-machine/cinnabar/new-gen"
    with (
        repo_lock(fleet.root),
        pytest.raises(KeyboardInterrupt),
        vs.transaction([gen_dir, new_gen]),
    ):
        (gen_dir / "id_ed25519.pub/value").write_text("half-written\n")
        (new_gen / "f").mkdir(parents=True)
        journal = fs.read_bytes(JOURNAL)
        raise KeyboardInterrupt  # rolled back at once
    assert repo_state(fleet) == before
    # as if killed: the same changes, and the journal left behind
    (gen_dir / "id_ed25519.pub/value").write_text("half-written\n")
    (fleet.root / "vars/per-machine/cinnabar/new-gen/f").mkdir(parents=True)
    fs.write_bytes(JOURNAL, journal, 0o600)
    with repo_lock(fleet.root):  # taking the lock is enough: it rolls the journal back
        assert fs.kind(JOURNAL) is None
        assert not recover(fs)
    assert repo_state(fleet) == before


def test_a_forged_journal_cannot_write_outside_vars(fleet: Fleet, sentinel: Sentinel) -> None:
    fs = RepoFS(fleet.root)
    forged = {"version": 1, "dirs": {"../outside/victim": None}, "created": []}
    fs.write_bytes(JOURNAL, json.dumps(forged).encode(), 0o600)
    assert_refused(cli(fleet, "vars", "check"), "journal")
    forged = {"version": 1, "dirs": {"vars/x": [["vars/x/../../flake.nix", "file", 420, ""]]}, "created": []}
    fs.write_bytes(JOURNAL, json.dumps(forged).encode(), 0o600)
    before = tree_bytes(fleet.root)
    assert_refused(cli(fleet, "vars", "list", "cinnabar"), "journal")
    assert tree_bytes(fleet.root) == before


def test_two_concurrent_runs_do_not_interleave(fleet: Fleet, tmp_path: Path) -> None:
    args = [sys.executable, "-m", "dendrite", "-C", str(fleet.root), "vars", "generate", "--regenerate"]
    args += ["-g", "openssh-ca"]
    procs = [subprocess.Popen(args, env=fleet.env, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    assert_cert_signed_by_stored_ca(fleet, tmp_path)
    res = cli(fleet, "vars", "check")
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


# ---- random names -----------------------------------------------------------------------------------

VALID = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,8}", fullmatch=True)
ANY = st.one_of(
    st.sampled_from(["..", ".", "-x", ".hidden", "a/b", "../../../outside/x", "x\n", "K\u212a", "\u017f"]),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), min_codepoint=0, max_codepoint=0x2FFF),
        min_size=1,
        max_size=12,
    ),
)
# half the examples keep three valid names, the others replace one with anything at all
REPLACE = st.one_of(st.none(), st.tuples(st.sampled_from(["gen", "file", "prompt"]), ANY))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names3=st.tuples(VALID, VALID, VALID), replace=REPLACE)
def test_random_names_are_round_tripped_or_refused(
    fleet: Fleet, sentinel: Sentinel, names3: tuple[str, str, str], replace: tuple[str, str] | None
) -> None:
    chosen = dict(zip(("gen", "file", "prompt"), names3, strict=True))
    if replace is not None:
        chosen[replace[0]] = replace[1]
    gen, file, prompt = chosen["gen"], chosen["file"], chosen["prompt"]
    assume(file != prompt)
    config = fleet.root / "dendrite.toml"
    original = config.read_bytes()
    outside_before = snapshot(fleet.root.parent / "outside")
    script = f'cat "$prompts"/* > "$out"/{shlex.quote(file)}'
    config.write_text(
        original.decode()
        + f'\n[generators.{toml_str(gen)}]\nmachines = ["cinnabar"]\nscript = {toml_str(script)}\n'
        f"files.{toml_str(file)} = {{ secret = false }}\n"
        f"files.{toml_str(prompt)} = {{ secret = false }}\n"
        f"prompts.{toml_str(prompt)} = {{ persist = true }}\n"
    )
    valid = all(names.is_valid(k, n) for k, n in (("generator", gen), ("file", file), ("prompt", prompt)))  # type: ignore[arg-type]
    valid = valid and not _is_builtin(fleet, gen)
    try:
        store = SecretsStore(fleet.root, identities(fleet))
        try:
            generate(
                fleet.root,
                ["cinnabar"],
                gen,
                sandbox=False,
                prompt_values={f"{gen}/{prompt}": "v"},
                store=store,
            )
        except DendriteError as exc:
            assert not valid, f"refused a valid name: {exc.message}"
        else:
            assert valid, f"accepted {gen!r}/{file!r}/{prompt!r}"
            event("accepted")
            rows = dict(ops.list_vars(fleet.root, "cinnabar", store=store))
            assert rows[f"{gen}/{file}"] == "v" and rows[f"{gen}/{prompt}"] == "v"
            assert (fleet.root / "vars/per-machine/cinnabar" / gen / file / "value").read_bytes() == b"v"
        assert snapshot(fleet.root.parent / "outside") == outside_before
        assert sorted(os.listdir(fleet.root.parent)) == sorted(["repo", "outside", "home"])
    finally:
        config.write_bytes(original)
        if valid:
            shutil.rmtree(fleet.root / "vars/per-machine/cinnabar" / gen, ignore_errors=True)


def _is_builtin(fleet: Fleet, gen: str) -> bool:
    return (fleet.root / "vars/per-machine/cinnabar" / gen).is_dir() or (
        fleet.root / "vars/shared" / gen
    ).is_dir()
