"""vars commands as users run them, and generators read from a flake with --nix."""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path

import pytest

from dendrite.vars.sources import nix_generators
from tests.conftest import Keys, run_cli
from tests.vars.conftest import PROMPTS


def test_generate_list_get_set_check(clan: Path, keys: Keys, tmp_path: Path) -> None:
    cli = ["--repo", str(clan), "vars"]
    pv = tmp_path / "pv.json"
    pv.write_text(json.dumps(PROMPTS))
    res = run_cli([*cli, "generate", "cinnabar", "--prompt-values", str(pv)], keys.env)
    assert res.returncode == 0, res.stderr
    assert "cinnabar: hello" in res.stdout.decode()
    listed = run_cli([*cli, "list", "cinnabar"], keys.env).stdout.decode().splitlines()
    assert "hello/banner: public-world" in listed and "hello/greeting: ********" in listed
    assert "derived/both: ********" in listed
    assert run_cli([*cli, "get", "cinnabar", "hello/greeting"], keys.env).stdout == b"hello world"
    setting = [*cli, "set", "cinnabar", "hello/greeting"]
    refused = run_cli(setting, keys.env, stdin=b"set by hand")  # banner is made by the same run
    assert refused.returncode == 2 and b"made together with hello/banner" in refused.stderr
    assert run_cli([*setting, "--force"], keys.env, stdin=b"set by hand").returncode == 0
    assert run_cli([*cli, "get", "cinnabar", "hello/greeting"], keys.env).stdout == b"set by hand"
    check = run_cli([*cli, "check", "--json"], keys.env)
    found = json.loads(check.stdout)
    missing = {(p["machine"], p["var"]) for p in found if p["kind"] == "missing"}
    assert (
        check.returncode == 1
        and ("orb", "hello/greeting") in missing
        and not any(m == "cinnabar" for m, _ in missing)
    )
    assert ("cinnabar", "hello") in {(p["machine"], p["var"]) for p in found if p["kind"] == "outdated"}


def test_keygen_registers_your_key(clan: Path, keys: Keys, tmp_path: Path) -> None:
    env = {**keys.env, "SOPS_AGE_KEY_FILE": str(tmp_path / "new-keys.txt"), "USER": "bob", "LOGNAME": "bob"}
    res = run_cli(["--repo", str(clan), "vars", "keygen"], env)
    assert res.returncode == 0, res.stderr
    public = res.stdout.decode().strip()
    assert json.loads((clan / "sops/users/bob/key.json").read_text()) == [
        {"publickey": public, "type": "age"}
    ]
    again = run_cli(["--repo", str(clan), "vars", "keygen"], env)
    assert again.returncode == 0 and b"already registered" in again.stderr


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix (Debian nix-bin) is not installed")
def test_generators_from_a_flake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"
    gens = (
        '{ openssh = { share = false; dependencies = [ ]; script = "ssh-keygen"; '
        'files."ssh.id_ed25519" = { secret = true; deploy = true; owner = "root"; group = "root"; mode = "0400"; '
        'neededFor = "services"; path = "/run/x"; }; prompts = { }; validationHash = null; }; }'
    )
    (tmp_path / "flake.nix").write_text(
        "{ outputs = _: { clanInternals.machines."
        + system
        + ".cinnabar.config.clan.core.vars.generators = "
        + gens
        + "; }; }\n"
    )
    monkeypatch.setenv("NIX_CONFIG", "build-users-group =")
    monkeypatch.setenv("HOME", str(tmp_path))
    got = nix_generators(tmp_path, ["cinnabar"], system)
    gen = got["cinnabar"]["openssh"]
    assert gen.script == "ssh-keygen" and [f.name for f in gen.files] == ["ssh.id_ed25519"]
    assert gen.files[0].secret and gen.files[0].needed_for == "services"
