"""vars generate / fix / get as clan-core runs them, on a small clan repository with real sops.

A machine that joins a shared generator later, `-g` on generators that exist, a generator whose
`share` is switched, `vars fix` making a machine key or refusing to remove a last key, and `vars get`
with a prefix. Each test names the clan-core function it follows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.vars import ops
from dendrite.vars.generate import Report, generate
from dendrite.vars.groups import MachineGroups
from tests.conftest import SOPS, Keys, clean_env, run_cli, run_sops
from tests.hostile.conftest import tree_bytes
from tests.vars.conftest import write_two_machine_inventory

RANDOM = 'head -c 12 /dev/urandom | od -An -tx1 | tr -d " \\n"'


def _toml(
    site_machines: list[str],
    tok_share: bool = False,
    groups: tuple[str, ...] = ("admins",),
    tok_machines: tuple[str, ...] = ("cinnabar", "orb"),
) -> str:
    return f"""
[secrets]
default_groups = {json.dumps(list(groups))}

[generators.site-key]
share = true
machines = {json.dumps(site_machines)}
script = '{RANDOM} > "$out/key"'
files.key = {{ secret = true }}

[generators.ca]
machines = ["cinnabar"]
script = '{RANDOM} > "$out/key"'
files.key = {{ secret = true }}

[generators.cert]
machines = ["cinnabar"]
dependencies = ["ca"]
script = '{{ cat "$in/ca/key"; {RANDOM}; }} > "$out/crt"'
runtimeInputs = ["cat"]
files.crt = {{ secret = false }}

[generators.tok]
share = {"true" if tok_share else "false"}
machines = {json.dumps(list(tok_machines))}
script = '{RANDOM} > "$out/s"; {RANDOM} > "$out/p"'
files.s = {{ secret = true }}
files.p = {{ secret = false }}
"""


class Repo:
    def __init__(self, root: Path, keys: Keys) -> None:
        self.root, self.keys = root, keys
        root.mkdir()
        write_two_machine_inventory(root)
        self.config(["cinnabar"])
        store = self.store()
        store.add_user("alice", [SopsKey("age", keys.a.public)])
        store.group_add("admins", "users", "alice")

    def config(self, site_machines: list[str], **kw: object) -> None:
        (self.root / "dendrite.toml").write_text(_toml(site_machines, **kw))  # type: ignore[arg-type]

    def store(self) -> SecretsStore:
        return SecretsStore(self.root, self.keys.identities)

    def generate(self, machines: list[str] | None = None, **kw: object) -> Report:
        return generate(self.root, machines, store=self.store(), **kw)  # type: ignore[arg-type]

    def get(self, machine: str, var: str) -> bytes:
        return ops.get_var(self.root, machine, var, store=self.store())

    def sops(self, secret: Path, age_secret_key: str) -> bytes:
        if SOPS is None:
            pytest.skip("the sops binary is not installed")
        return run_sops(SOPS, ["decrypt", str(secret)], clean_env({"SOPS_AGE_KEY": age_secret_key})).stdout

    def machine_private_key(self, machine: str) -> str:
        """The machine's age key, decrypted by the admin from sops/secrets/<m>-age.key with real sops."""
        text = self.sops(self.root / f"sops/secrets/{machine}-age.key/secret", self.keys.a.secret).decode()
        return next(ln for ln in text.splitlines() if ln.startswith("AGE-SECRET-KEY-"))


@pytest.fixture
def repo(tmp_path: Path, keys: Keys) -> Repo:
    return Repo(tmp_path / "repo", keys)


SITE = "vars/shared/site-key/key"


def test_a_machine_joining_a_shared_generator_can_decrypt_it(repo: Repo) -> None:
    """clan_lib/vars/generate.py run_generators, "Re-encrypt shared secrets if recipients changed":
    after the run, each existing shared secret is fixed (sops SecretStore.fix) for every machine that
    declares its generator, making the machine's key first (ensure_machine_key). Proved with orb's own
    age key and the real sops binary."""
    repo.generate()
    value = repo.get("cinnabar", "site-key/key")
    orb_key = repo.machine_private_key("orb")  # made for orb's own deployed secrets
    assert SOPS is not None
    env = clean_env({"SOPS_AGE_KEY": orb_key})
    assert run_sops(SOPS, ["decrypt", str(repo.root / SITE / "secret")], env, check=False).returncode != 0
    repo.config(["cinnabar", "orb"])  # orb now declares the shared generator
    report = repo.generate(["cinnabar"])  # even a run for another machine fixes it, as in clan
    assert report.generated == [] and report.reencrypted == 1
    assert (repo.root / SITE / "machines/orb").is_symlink()
    assert repo.sops(repo.root / SITE / "secret", orb_key) == value
    assert repo.generate().reencrypted == 0  # nothing drifted any more


def test_vars_fix_makes_the_missing_machine_key_and_links_it(repo: Repo) -> None:
    """clan_lib/vars/fix.py fix_vars -> sops SecretStore.fix: a machine that cannot read a deployed
    secret gets its key made (ensure_machine_key), a link (allow_member) and a re-encryption."""
    repo.config(["cinnabar"], tok_machines=("cinnabar",))
    repo.generate()
    assert not (repo.root / "sops/machines/orb").exists()  # orb had nothing to read: no key yet
    repo.config(["cinnabar", "orb"], tok_machines=("cinnabar",))
    assert ops.fix(repo.root, ["orb"], store=repo.store()) == 1
    assert (repo.root / "sops/machines/orb/key.json").is_file()
    assert repo.sops(repo.root / SITE / "secret", repo.machine_private_key("orb")) == repo.get(
        "orb", "site-key/key"
    )
    assert ops.fix(repo.root, ["orb"], store=repo.store()) == 0


def test_vars_fix_refuses_to_remove_a_last_key_before_changing_anything(repo: Repo) -> None:
    """clan_cli/secrets/secrets.py disallow_member: "Cannot remove ... No keys left" when fewer than
    MIN_KEYS_FOR_GROUP_REMOVAL (2) keys read the secret. dendrite checks every var first, so the other
    fixes of the same run (here a default group link) are not made either."""
    repo.config(["cinnabar", "orb"])
    repo.generate()
    d = repo.root / "vars/per-machine/orb/tok/s"
    (d / "users/alice").unlink()
    (d / "groups/admins").unlink()  # only orb's own link is left
    (repo.root / SITE / "groups/admins").unlink()  # a fix `vars fix orb` would make otherwise
    toml = (repo.root / "dendrite.toml").read_text()
    (repo.root / "dendrite.toml").write_text(
        toml.replace("files.s = { secret = true }", "files.s = { deploy = false }")
    )
    before = tree_bytes(repo.root)
    with pytest.raises(InputError, match="no key would be left"):
        ops.fix(repo.root, ["orb"], store=repo.store())
    assert tree_bytes(repo.root) == before
    res = run_cli(["--repo", str(repo.root), "vars", "fix", "orb"], repo.keys.env)
    assert res.returncode == 2 and b"cannot remove orb from tok/s" in res.stderr


def test_vars_fix_removes_the_machine_of_a_file_no_longer_deployed(repo: Repo) -> None:
    """sops SecretStore.fix: `deploy = false` drops the machine's link (disallow_member) and re-keys."""
    repo.config(["cinnabar", "orb"])
    repo.generate()
    toml = (repo.root / "dendrite.toml").read_text()
    (repo.root / "dendrite.toml").write_text(
        toml.replace("files.s = { secret = true }", "files.s = { deploy = false }")
    )
    assert ops.fix(repo.root, ["orb"], store=repo.store()) == 1
    d = repo.root / "vars/per-machine/orb/tok/s"
    assert not (d / "machines").exists()
    assert repo.get("orb", "tok/s")  # the admin still reads it


def test_a_missing_default_group_is_an_error(repo: Repo) -> None:
    """clan_cli/secrets/secrets.py allow_member raises when sops/groups/<g> does not exist; clan's
    encrypt_secret (generate) and SecretStore.fix both link every default group through it."""
    repo.generate()
    repo.config(["cinnabar"], groups=("admins", "ops"))
    before = tree_bytes(repo.root)
    with pytest.raises(InputError, match="default group 'ops' does not exist"):
        ops.fix(repo.root, None, store=repo.store())
    with pytest.raises(InputError, match="default group 'ops' does not exist"):
        repo.generate(regenerate=True)
    assert tree_bytes(repo.root) == before


def test_a_named_generator_runs_with_its_dependents_even_when_they_exist(repo: Repo) -> None:
    """clan_lib/vars/generate.py run_generators: with a generator name the closure is requested_closure
    (graph.py): the generator, its missing dependencies and all its dependents, whether or not they
    exist. clan_cli/vars/generate.py keeps previous prompt values unless --regenerate."""
    repo.generate()
    ca, crt = repo.get("cinnabar", "ca/key"), repo.get("cinnabar", "cert/crt")
    assert repo.generate(["cinnabar"]).generated == []
    report = repo.generate(["cinnabar"], generator="ca")
    assert sorted(g.key.name for g in report.generated) == ["ca", "cert"]
    assert repo.get("cinnabar", "ca/key") != ca and repo.get("cinnabar", "cert/crt") != crt
    assert repo.get("cinnabar", "cert/crt").startswith(repo.get("cinnabar", "ca/key"))
    res = run_cli(["--repo", str(repo.root), "vars", "generate", "cinnabar", "-g", "cert"], repo.keys.env)
    assert res.returncode == 0 and b"cinnabar: cert" in res.stdout and b"up to date" not in res.stderr


def test_switching_share_removes_the_var_from_its_old_place(repo: Repo) -> None:
    """clan_lib/vars/_types.py StoreBase.set: before storing, a shared generator removes the var from
    per-machine/<m>/ of every machine declaring it, and a per-machine one removes it from shared/ (the
    sops store deletes the secret's directory, in_repo unlinks the value)."""
    v = repo.root / "vars"
    repo.generate()
    assert (v / "per-machine/cinnabar/tok/s/secret").is_file() and (
        v / "per-machine/orb/tok/p/value"
    ).is_file()
    repo.config(["cinnabar"], tok_share=True)
    repo.generate()
    assert (v / "shared/tok/s/secret").is_file() and (v / "shared/tok/p/value").is_file()
    for m in ("cinnabar", "orb"):
        assert not (v / f"per-machine/{m}/tok/s").exists() and not (v / f"per-machine/{m}/tok/p").exists()
    repo.config(["cinnabar"], tok_share=False)
    repo.generate()
    assert not (v / "shared/tok/s").exists() and not (v / "shared/tok/p").exists()
    assert (v / "per-machine/orb/tok/s/secret").is_file() and (
        v / "per-machine/cinnabar/tok/p/value"
    ).is_file()
    assert ops.check(repo.root, store=repo.store()) == []


def test_get_with_a_prefix_says_did_you_mean(repo: Repo) -> None:
    """clan_lib/vars/get.py get_machine_var: an exact id only; a single prefix match raises "Did you
    mean: <id>", several raise "Found multiple vars" (set goes through the same lookup)."""
    repo.generate()
    cli = ["--repo", str(repo.root), "vars"]
    res = run_cli([*cli, "get", "cinnabar", "site"], repo.keys.env)
    assert res.returncode == 2 and b"did you mean: site-key/key" in res.stderr and res.stdout == b""
    res = run_cli([*cli, "get", "cinnabar", "tok/"], repo.keys.env)
    assert res.returncode == 2 and b"tok/s, tok/p" in res.stderr
    res = run_cli([*cli, "set", "cinnabar", "site"], repo.keys.env, stdin=b"x")
    assert res.returncode == 2 and b"did you mean: site-key/key" in res.stderr
    assert run_cli([*cli, "get", "cinnabar", "site-key/key"], repo.keys.env).returncode == 0


def test_a_planted_member_entry_stops_the_run_before_anything_is_written(repo: Repo) -> None:
    """clan_cli/secrets/secrets.py allow_member: a member path that "exists but is not a symlink" is an
    error. dendrite finds it while planning the shared-secret fix, before any generator's output is
    stored, so the run changes nothing."""
    repo.generate()
    planted = repo.root / SITE / "machines/orb"
    planted.parent.mkdir(exist_ok=True)
    planted.write_text("not a link")
    repo.config(["cinnabar", "orb"])
    for d in (repo.root / "vars/per-machine/cinnabar/ca", repo.root / "vars/per-machine/cinnabar/cert"):
        for f in sorted(d.rglob("*"), reverse=True):
            f.rmdir() if f.is_dir() and not f.is_symlink() else f.unlink()
        d.rmdir()  # ca and cert are missing: the run would generate them
    before = tree_bytes(repo.root)
    res = run_cli(["--repo", str(repo.root), "vars", "generate"], repo.keys.env)
    assert res.returncode == 2 and b"where a member link belongs" in res.stderr, res.stderr
    assert tree_bytes(repo.root) == before


def test_a_reader_without_a_link_is_linked_not_locked_out(repo: Repo) -> None:
    """secret_modules/sops.py fix links a machine only when it is no recipient (machine_has_access),
    then re-encrypts to the linked keys: a machine that reads the file but lost its link would lose
    access until the next run. dendrite links it back in the same run (a documented difference)."""
    repo.config(["cinnabar", "orb"])
    repo.generate()
    (repo.root / SITE / "machines/orb").unlink()
    report = repo.generate()
    assert report.reencrypted == 0 and (repo.root / SITE / "machines/orb").is_symlink()
    assert repo.sops(repo.root / SITE / "secret", repo.machine_private_key("orb")) == repo.get(
        "orb", "site-key/key"
    )


def test_a_place_another_machine_still_uses_is_kept(repo: Repo) -> None:
    """clan_lib/vars/_types.py StoreBase.set deletes the var at the toggled place whatever uses it; when
    one machine declares a generator shared and another per-machine, dendrite's generate passes the
    places still in its graph (`live`) and keeps them (a documented difference)."""
    from dendrite.generators import SHARED, FileSpec, Generator, PerMachine
    from dendrite.vars.storage import Item, VarsStore

    store = repo.store()
    vs = VarsStore(repo.root, store)
    shared = Generator("mix", (FileSpec("v", secret=False),), share=True)
    own = Generator("mix", (FileSpec("v", secret=False),))
    with store.writing() as scratch:
        vs.write(
            [Item(shared, ["cinnabar"], "cinnabar", {"v": b"shared"})], "alice", MachineGroups(), scratch
        )
        item = Item(own, ["orb"], "orb", {"v": b"own"})
        assert vs.drop_toggled(item, {(SHARED, "mix"), (PerMachine("orb"), "mix")}) == []
        assert (repo.root / "vars/shared/mix/v/value").read_bytes() == b"shared"
        vs.write([item], "alice", MachineGroups(), scratch)  # clan's behaviour when nothing else declares it
    assert not (repo.root / "vars/shared/mix/v").exists()
    assert (repo.root / "vars/per-machine/orb/mix/v/value").read_bytes() == b"own"
