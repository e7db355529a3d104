"""The command line as users run it: help, version, completion, sops commands, demo."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from dendrite import __version__
from tests.conftest import Keys, clean_env, run_cli, run_sops


def test_help_version_and_completion(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path)
    res = run_cli(["--help"], env)
    assert (
        res.returncode == 0 and b"secrets" in res.stdout and b"sops" in res.stdout and b"demo" in res.stdout
    )
    assert run_cli(["--version"], env).stdout.decode().strip() == f"dendrite {__version__}"
    # typer detects the shell from the parent process: run under bash (not exec'd, so bash stays the parent)
    comp = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m dendrite --show-completion; true"],
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert b"complete" in comp.stdout and b"dendrite" in comp.stdout, comp.stderr
    for group in (["secrets"], ["secrets", "users"], ["secrets", "groups"], ["sops"]):
        assert run_cli([*group, "--help"], env).returncode == 0


def test_usage_error_exits_2(tmp_path: Path) -> None:
    res = run_cli(["secrets", "users", "frobnicate"], clean_env(home=tmp_path))
    assert res.returncode == 2 and b"Traceback" not in res.stderr


def test_debug_shows_the_traceback(tmp_path: Path, keys: Keys) -> None:
    res = run_cli(["--debug", "sops", "decrypt", str(tmp_path / "missing.yaml")], keys.env)
    assert res.returncode != 0 and b"Traceback" in res.stderr and b"InputError" in res.stderr


def test_sops_cli_encrypt_decrypt_extract_updatekeys_rotate(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    f = tmp_path / "app.yaml"
    f.write_text("db:\n  password: hunter2\n  port: 5432\n")
    res = run_cli(["sops", "encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env)
    assert res.returncode == 0, res.stderr
    assert "hunter2" not in f.read_text()
    dec = run_cli(["sops", "decrypt", str(f)], keys.env)
    assert dec.stdout == b"db:\n    password: hunter2\n    port: 5432\n"
    ext = run_cli(["sops", "decrypt", "--extract", '["db"]["password"]', str(f)], keys.env)
    assert ext.stdout == b"hunter2"
    as_json = run_cli(["sops", "decrypt", "--output-type", "json", str(f)], keys.env)
    assert json.loads(as_json.stdout) == {"db": {"password": "hunter2", "port": 5432}}
    upd = run_cli(["sops", "updatekeys", "--age", f"{keys.a.public},{keys.b.public}", str(f)], keys.env)
    assert upd.returncode == 0, upd.stderr
    assert run_sops(sops_bin, ["decrypt", str(f)], keys.env).returncode == 0
    before = f.read_text()
    rot = run_cli(["sops", "rotate", "--in-place", str(f)], keys.env)
    assert rot.returncode == 0 and f.read_text() != before
    assert run_cli(["sops", "decrypt", "--extract", '["db"]["port"]', str(f)], keys.env).stdout == b"5432"
    binf = tmp_path / "blob"
    binf.write_bytes(b"\x00\x01raw")
    enc = run_cli(["sops", "encrypt", "--age", keys.a.public, str(binf)], keys.env)
    out = tmp_path / "blob.enc"
    out.write_bytes(enc.stdout)
    assert (
        run_sops(
            sops_bin, ["decrypt", "--input-type", "binary", "--output-type", "binary", str(out)], keys.env
        ).stdout
        == b"\x00\x01raw"
    )
    assert run_cli(["sops", "decrypt", "--input-type", "binary", str(out)], keys.env).stdout == b"\x00\x01raw"


def test_sops_recipients_from_environment(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"a": 1}')
    res = run_cli(["sops", "encrypt", str(f)], {**keys.env, "SOPS_AGE_RECIPIENTS": keys.b.public})
    assert res.returncode == 0 and keys.b.public.encode() in res.stdout
    none = run_cli(["sops", "encrypt", str(f)], keys.env)
    assert none.returncode == 2 and b"no age recipients" in none.stderr


def test_identity_discovery_like_sops(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"a": 1}')
    assert (
        run_cli(["sops", "encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env).returncode == 0
    )
    base = clean_env(home=tmp_path / "h")
    assert run_cli(["sops", "decrypt", str(f)], {**base, "SOPS_AGE_KEY": keys.a.secret}).returncode == 0
    default = tmp_path / "h/.config/sops/age/keys.txt"
    default.parent.mkdir(parents=True)
    default.write_text(keys.a.secret + "\n")
    assert run_cli(["sops", "decrypt", str(f)], base).returncode == 0
    default.unlink()
    assert run_cli(["sops", "decrypt", str(f)], base).returncode == 2


def test_demo_builds_the_sample_fleet(tmp_path: Path, sops_bin: str) -> None:
    env = clean_env(home=tmp_path / "home")
    target = tmp_path / "fleet"
    res = run_cli(["demo", str(target)], env)
    assert res.returncode == 0, res.stderr
    text = res.stdout.decode()
    for name in ("cinnabar", "blackphos", "rosegold", "argentum", "stibnite", "crs58", "hetzner-api-token"):
        assert name in text
    key_file = target / ".keys/admin-age.txt"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (tmp_path / "home/.config/sops").exists(), "the demo touched the user's own key file"
    demo_env = {**env, "SOPS_AGE_KEY_FILE": str(key_file)}
    listed = json.loads(run_cli(["--repo", str(target), "secrets", "list", "--json"], demo_env).stdout)
    assert "cinnabar-age.key" in listed and "cachix-auth-token" in listed
    assert run_cli(["--repo", str(target), "secrets", "check"], demo_env).returncode == 0
    out = run_sops(
        sops_bin, ["decrypt", str(target / "sops/secrets/cinnabar-restic-password/secret")], demo_env
    )
    assert out.stdout == b"correct-horse-battery-staple"
    # running it again rebuilds the demo; a foreign directory is refused
    assert run_cli(["demo", str(target)], env).returncode == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep")
    res = run_cli(["demo", str(foreign)], env)
    assert res.returncode == 2 and (foreign / "precious.txt").read_text() == "keep"


def test_demo_inside_a_git_checkout_sees_its_own_files(tmp_path: Path) -> None:
    # `make demo` builds ./demo-fleet inside the dendrite checkout, which ignores it: the demo's .nix
    # files must still be tracked (by a repository of its own), or the inventory is empty
    env = clean_env(home=tmp_path / "home")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "-q", str(checkout)], check=True, env=env, timeout=60)
    (checkout / ".gitignore").write_text("demo-fleet/\n")
    res = run_cli(["demo", "demo-fleet"], env, cwd=checkout)
    assert res.returncode == 0, res.stderr
    fleet = checkout / "demo-fleet"
    demo_env = {**env, "SOPS_AGE_KEY_FILE": str(fleet / ".keys/admin-age.txt")}
    shown = run_cli(["inventory", "show", "--json"], demo_env, cwd=fleet)
    assert shown.returncode == 0 and len(json.loads(shown.stdout)["machines"]) == 5, shown.stderr
    lint = run_cli(["layout", "lint", "nixos-unified/dendritic"], demo_env, cwd=fleet)
    assert lint.returncode == 0 and b"D009" not in lint.stdout, lint.stdout
    tracked = subprocess.run(
        ["git", "-C", str(fleet), "ls-files"], check=True, env=env, capture_output=True, timeout=60
    )
    assert b".keys" not in tracked.stdout, "the demo's private key must not be added to git"
