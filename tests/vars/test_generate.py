"""vars generate end to end against real tools: sops, ssh-keygen, crypt(3), and clan's layout."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from dendrite.errors import DendriteError, InputError
from dendrite.secrets.store import SecretsStore
from dendrite.vars import ops
from dendrite.vars.generate import generate
from dendrite.vars.model import validation_hash
from tests.conftest import Keys, run_cli, run_sops
from tests.nixlang.oracle import NIX_ENV, NIX_INSTANTIATE, needs_nix
from tests.vars.conftest import PROMPTS


def gen(root: Path, keys: Keys, **kw):  # type: ignore[no-untyped-def]
    return generate(root, store=SecretsStore(root, keys.identities), prompt_values=PROMPTS, **kw)


def get(root: Path, keys: Keys, var: str, machine: str = "cinnabar") -> bytes:
    return ops.get_var(root, machine, var, store=SecretsStore(root, keys.identities))


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "vars").rglob("*")) if p.is_file()
    }


def test_everything_generates_into_clans_layout(clan: Path, keys: Keys, sops_bin: str) -> None:
    report = gen(clan, keys)
    names = sorted({k[1] for k in (g.key for g in report.generated)})
    assert names == [
        "derived",
        "emergency-access",
        "hello",
        "openssh",
        "openssh-ca",
        "openssh-cert",
        "site-key",
    ]
    v = clan / "vars"
    assert (v / "per-machine/cinnabar/openssh/ssh.id_ed25519.pub/value").is_file()
    assert (v / "shared/openssh-ca/id_ed25519/secret").is_file() and (
        v / "shared/site-key/key/secret"
    ).is_file()
    # darwin: sshd and emergency-access have no module there, so their generators do not run (as in clan)
    assert sorted(p.name for p in (v / "per-machine/stibnite").iterdir()) == ["hello"]
    secret_dir = v / "per-machine/cinnabar/openssh/ssh.id_ed25519"
    assert (secret_dir / "machines/cinnabar").readlink() == Path("../../../../../../sops/machines/cinnabar")
    assert (secret_dir / "users/alice").readlink() == Path("../../../../../../sops/users/alice")
    assert (secret_dir / "groups/admins").readlink() == Path("../../../../../../sops/groups/admins")
    assert not (v / "per-machine/cinnabar/derived/both/machines").exists()  # deploy = false: no machine link
    shared = v / "shared/site-key/key"
    assert {p.name for p in (shared / "machines").iterdir()} == {"cinnabar", "orb", "stibnite"}
    cert = v / "per-machine/cinnabar/openssh-cert"
    assert (cert / ".validation-hash").read_text() == validation_hash(
        {"name": "cinnabar", "domains": {"zt": "zt"}}
    )
    assert not (v / "per-machine/cinnabar/openssh/.validation-hash").exists()
    # the real sops decrypts every secret var
    for f in v.rglob("secret"):
        assert run_sops(sops_bin, ["decrypt", str(f)], keys.env).returncode == 0
    assert (
        run_sops(
            sops_bin, ["decrypt", str(v / "per-machine/cinnabar/hello/greeting/secret")], keys.env
        ).stdout
        == b"hello world"
    )
    assert get(clan, keys, "derived/both") == b"public-worldhello world"
    assert ops.check(clan) == []
    again = gen(clan, keys)
    assert again.generated == []  # nothing missing: nothing runs


def test_ssh_keys_load_with_openssh_and_the_certificate_verifies(
    clan: Path, keys: Keys, tmp_path: Path
) -> None:
    gen(clan, keys)
    priv = tmp_path / "id"
    priv.write_bytes(get(clan, keys, "openssh/ssh.id_ed25519"))
    priv.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(priv)], capture_output=True, check=True).stdout
    public = get(clan, keys, "openssh/ssh.id_ed25519.pub")
    assert derived.split()[:2] == public.split()[:2]
    cert = tmp_path / "id-cert.pub"
    cert.write_bytes(get(clan, keys, "openssh-cert/ssh.id_ed25519-cert.pub"))
    info = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(cert)], capture_output=True, check=True, text=True
    ).stdout
    assert "host certificate" in info and "cinnabar.zt" in info and 'Key ID: "cinnabar"' in info
    assert "Signing CA: ED25519" in info
    ca = tmp_path / "ca.pub"
    ca.write_bytes(get(clan, keys, "openssh-ca/id_ed25519.pub"))
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(ca)], capture_output=True, check=True, text=True
    ).stdout
    assert fingerprint.split()[1] in info  # signed by the clan's CA


def _crypt(password: str, hashed: str) -> str:
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    return lib.crypt(password.encode(), hashed.encode()).decode()


def test_password_hashes_verify_with_the_systems_crypt(clan: Path, keys: Keys) -> None:
    gen(clan, keys)
    pw = get(clan, keys, "emergency-access/password").decode()
    hashed = get(clan, keys, "emergency-access/password-hash").decode()
    assert len(pw.split("-")) == 6 and not pw.endswith("\n")
    assert hashed.startswith("$6$") and _crypt(pw, hashed) == hashed and _crypt(pw + "x", hashed) != hashed


@needs_nix
def test_validation_hash_is_nixs(tmp_path: Path) -> None:
    value = {"name": "cinnabar", "domains": {"zt": "zt", "b": 'é"\\\n'}, "n": 3, "ok": True, "l": [1, "x"]}
    from dendrite.nixlang.printer import to_nix

    expr = f'builtins.hashString "sha256" (builtins.toJSON ({to_nix(value)}))'
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--json", "-E", expr], capture_output=True, env=NIX_ENV, check=True
    )
    assert json.loads(proc.stdout) == validation_hash(value)


def test_changed_validation_reruns_that_generator_and_its_dependents_only(clan: Path, keys: Keys) -> None:
    gen(clan, keys)
    before = snapshot(clan)
    toml = (
        (clan / "dendrite.toml")
        .read_text()
        .replace("[generators.hello]", "[generators.hello]\nvalidation = { version = 2 }")
    )
    (clan / "dendrite.toml").write_text(toml)
    stale = sorted((c.machine, c.var) for c in ops_problems(clan) if c.kind == "outdated")
    assert stale == [("cinnabar", "hello"), ("orb", "hello"), ("stibnite", "hello")]
    report = gen(clan, keys)
    ran = sorted((g.machine, g.key[1]) for g in report.generated)
    assert ran == [("cinnabar", "derived"), ("cinnabar", "hello"), ("orb", "hello"), ("stibnite", "hello")]
    after = snapshot(clan)
    changed = {k for k in before if before[k] != after.get(k)}
    assert all("/hello/" in k or "/derived/" in k for k in changed)
    assert (clan / "vars/per-machine/orb/hello/.validation-hash").read_text() == validation_hash(
        {"version": 2}
    )
    (clan / "vars/per-machine/orb/hello/.validation-hash").write_text("0" * 64)
    outdated = [p for p in ops.check(clan) if p.kind == "outdated"]
    assert [(p.machine, p.var) for p in outdated] == [("orb", "hello")]


def ops_problems(clan: Path) -> list[ops.Problem]:
    return ops.check(clan)


def test_regenerate_one_generator_reruns_it_and_its_dependents(clan: Path, keys: Keys) -> None:
    gen(clan, keys)
    report = gen(clan, keys, machines=["cinnabar"], generator="hello", regenerate=True)
    assert sorted(g.key[1] for g in report.generated) == ["derived", "hello"]


def test_shared_generator_declared_differently_is_an_error() -> None:
    from dendrite.vars import graph as G
    from dendrite.vars.model import FileSpec, Generator

    a = Generator("site-key", (FileSpec("key"),), share=True, script="a")
    b = Generator("site-key", (FileSpec("key"),), share=True, script="b")
    with pytest.raises(
        InputError, match="machines cinnabar and orb have different definitions for shared generator"
    ):
        G.build({"cinnabar": {"site-key": a}, "orb": {"site-key": b}})


@pytest.mark.parametrize(
    "script,needle",
    [
        ('echo "boom on stderr" >&2; exit 3', "boom on stderr"),
        ('echo -n x > "$out/greeting"', "did not produce banner"),
        # killed by a signal (SIGINT is ignored by scripts: Ctrl-C is dendrite's to handle, it stops them)
        ("kill -TERM $$", "failed"),
    ],
    ids=["non-zero", "missing-file", "killed"],
)
def test_failures_leave_previous_vars_untouched(clan: Path, keys: Keys, script: str, needle: str) -> None:
    gen(clan, keys)
    before = snapshot(clan)
    toml = (clan / "dendrite.toml").read_text()
    start = toml.index("script = '''", toml.index("[generators.hello]"))
    end = toml.index("'''", start + 12) + 3
    (clan / "dendrite.toml").write_text(toml[:start] + f"script = '''{script}'''" + toml[end:])
    with pytest.raises(DendriteError) as info:
        gen(clan, keys, generator="hello", regenerate=True)
    assert needle in info.value.message and "no var was changed" in info.value.message
    assert snapshot(clan) == before


def test_a_clan_written_vars_tree_is_listed_read_checked_and_fixed(
    clan: Path, keys: Keys, sops_bin: str
) -> None:
    """Written with the real sops the way clan does: binary files, relative symlinks, .validation-hash."""
    from tests.secrets.helpers import clan_encrypt, link

    store = SecretsStore(clan, keys.identities)
    store.add_machine("cinnabar", None)
    d = clan / "vars/per-machine/cinnabar/hello"
    link(clan / "sops/users/alice", d / "greeting/users/alice")
    link(clan / "sops/machines/cinnabar", d / "greeting/machines/cinnabar")
    tmp = clan / "tmp"
    tmp.mkdir()
    clan_encrypt(
        sops_bin, keys.env, tmp, d / "greeting", b"hello from clan", [keys.a.public]
    )  # machine missing
    (d / "banner").mkdir(parents=True)
    (d / "banner/value").write_bytes(b"clan-banner")
    tmp.rmdir() if not any(tmp.iterdir()) else None
    assert ("hello/banner", "clan-banner") in ops.list_vars(clan, "cinnabar")
    assert get(clan, keys, "hello/greeting") == b"hello from clan"
    problems = {(p.var, p.kind) for p in ops.check(clan, ["cinnabar"], "hello")}
    assert ("hello/greeting", "unfixed") in problems
    assert ops.fix(clan, ["cinnabar"], store=SecretsStore(clan, keys.identities)) == 1
    assert [p for p in ops.check(clan, ["cinnabar"], "hello")] == []
    assert run_sops(sops_bin, ["decrypt", str(d / "greeting/secret")], keys.env).stdout == b"hello from clan"


def test_export_and_import_round_trip(clan: Path, keys: Keys, tmp_path: Path) -> None:
    gen(clan, keys)
    out = tmp_path / "export"
    os.environ["SOPS_AGE_KEY_FILE"] = str(keys.file)
    try:
        count = ops.export_vars(clan, out)
        assert count > 10 and oct(out.stat().st_mode & 0o777) == "0o700"
        f = out / "per-machine/cinnabar/hello/greeting"
        assert f.read_bytes() == b"hello world" and oct(f.stat().st_mode & 0o777) == "0o600"
        f.write_bytes(b"edited")
        assert ops.import_vars(clan, out) == count
        assert get(clan, keys, "hello/greeting") == b"edited"
    finally:
        del os.environ["SOPS_AGE_KEY_FILE"]


def test_cli_bad_input(clan: Path, keys: Keys, tmp_path: Path) -> None:
    cli = ["--repo", str(clan), "vars"]
    pv = tmp_path / "pv.json"
    pv.write_text(json.dumps(PROMPTS))
    for args, needle in [
        (["generate", "nosuch", "--prompt-values", str(pv)], b"machine 'nosuch' is not in the inventory"),
        (["generate", "-g", "nope", "--prompt-values", str(pv)], b"declares a generator 'nope'"),
        (["generate"], b"no value for the prompt 'hello/name'"),
        (["get", "cinnabar", "zzz"], b"no var of cinnabar matches 'zzz'"),
    ]:
        res = run_cli([*cli, *args], keys.env)
        assert res.returncode == 2 and needle in res.stderr and b"Traceback" not in res.stderr, res.stderr
    (clan / "dendrite.toml").write_text(
        '[generators.a]\ndependencies = ["b"]\nscript = "x"\nfiles.f = {}\n'
        '[generators.b]\ndependencies = ["a"]\nscript = "y"\nfiles.g = {}\n'
    )
    res = run_cli([*cli, "generate", "--prompt-values", str(pv)], keys.env)
    assert res.returncode == 2 and b"cycle: a -> b -> a" in res.stderr
    (clan / "dendrite.toml").write_text("[generators.a\nscript = 1\n")
    res = run_cli([*cli, "check"], keys.env)
    assert res.returncode == 2 and b"dendrite.toml" in res.stderr and b"line 1" in res.stderr


def test_a_luks_passphrase_from_the_built_in_recipe(clan: Path, keys: Keys) -> None:
    (clan / "dendrite.toml").write_text(
        '[generators.luks-password]\nrecipe = "luks-password"\nfiles.password = { neededFor = "partitioning" }\n'
        'machines = ["cinnabar"]\n'
    )
    generate(clan, ["cinnabar"], "luks-password", store=SecretsStore(clan, keys.identities))
    pw = get(clan, keys, "luks-password/password").decode()
    assert len(pw.split("-")) == 6
    (clan / "dendrite.toml").write_text('[generators.x]\nrecipe = "nope"\nfiles.f = {}\n')
    with pytest.raises(InputError, match="recipe 'nope' is not a built-in"):
        generate(clan, ["cinnabar"], store=SecretsStore(clan, keys.identities))


@pytest.mark.skipif(
    __import__("shutil").which("zerotier-idtool") is None, reason="zerotier-idtool is not installed"
)
def test_zerotier_idtool_accepts_our_identities(tmp_path: Path) -> None:
    from dendrite.vars import zerotier

    f = tmp_path / "identity.secret"
    f.write_text(zerotier.generate_identity().secret_text())
    assert (
        subprocess.run(["zerotier-idtool", "validate", str(f)], capture_output=True, check=False).returncode
        == 0
    )
