"""Honest results: bad input is exit 2 and one sentence, output shows no Python, the small things a
new user meets in the first hour. Every test runs the CLI as a process on the demo fleet."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dendrite import demo
from tests.conftest import clean_env, run_cli, run_sops
from tests.nixlang.oracle import NIX_ENV, NIX_INSTANTIATE, needs_nix


@dataclass(frozen=True)
class Fleet:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_cli(["--repo", str(self.root), *args], self.env, stdin=stdin)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("honest") / "fleet"
    demo.build(root)
    return root


@pytest.fixture
def fleet(built: Path, tmp_path: Path) -> Iterator[Fleet]:
    """A fresh copy of the demo fleet for each test (tests write to it)."""
    root = tmp_path / "fleet"
    shutil.copytree(built, root, symlinks=True)
    env = clean_env({"SOPS_AGE_KEY_FILE": str(root / ".keys/admin-age.txt")}, home=tmp_path / "home")
    # the commands commit (as clan's do); the fresh HOME has no git identity, and these tests are not about it
    ident = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env.update({**ident, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"})
    yield Fleet(root, env)


def one_error(res: subprocess.CompletedProcess[bytes], *parts: str) -> str:
    """Exit 2, no traceback, and an `error:` sentence holding every part (the hint may follow)."""
    err = res.stderr.decode()
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    for p in parts:
        assert p in err, (p, err)
    return err


# ---------------------------------------------------------------------------------- exit 2, not 0


def test_vars_import_of_a_missing_directory(fleet: Fleet, tmp_path: Path) -> None:
    one_error(fleet.run("vars", "import", str(tmp_path / "nowhere")), "nowhere is not a directory")


def test_a_mistyped_machine_in_dendrite_toml(fleet: Fleet) -> None:
    toml = fleet.root / "dendrite.toml"
    toml.write_text(
        toml.read_text()
        + '\n[generators.luks]\nscript = \'printf x > "$out/k"\'\nfiles.k = {}\nmachines = ["cinnabr"]\n'
    )
    for cmd in (["vars", "generate"], ["vars", "check"]):
        one_error(
            fleet.run(*cmd),
            "generators.luks.machines names the machine 'cinnabr'",
            "did you mean 'cinnabar'?",
        )
    toml.write_text(toml.read_text().replace('machines = ["cinnabr"]', 'tags = ["vsp"]'))
    one_error(fleet.run("vars", "check"), "names the tag 'vsp', which no machine has", "did you mean 'vps'?")


def test_a_new_group_needs_create(fleet: Fleet) -> None:
    groups = fleet.root / "sops/groups"
    err = one_error(
        fleet.run("secrets", "groups", "add-user", "admin", "crs58"),
        "group 'admin' does not exist",
        "did you mean 'admins'?",
        "--create",
    )
    assert "sops/groups" in err and not (groups / "admin").exists()
    assert fleet.run("secrets", "groups", "add-machine", "backup", "cinnabar", "--create").returncode == 0
    assert (groups / "backup/machines/cinnabar").is_symlink()
    one_error(fleet.run("secrets", "groups", "remove-user", "admn", "crs58"), "did you mean 'admins'?")


def test_machines_list_with_a_tag_no_machine_has(fleet: Fleet) -> None:
    one_error(fleet.run("machines", "list", "--tag", "workstation"), "no machine has the tag 'workstation'")
    one_error(fleet.run("machines", "list", "--tag", "zerotier-per"), "did you mean 'zerotier-peer'?")
    both = fleet.run("machines", "list", "--tag", "darwin", "--tag", "primary")
    assert both.returncode == 0 and both.stdout == b"stibnite\n"


def test_an_empty_secret_is_refused_unless_allowed(fleet: Fleet, sops_bin: str) -> None:
    one_error(
        fleet.run("secrets", "set", "empty", stdin=b""),
        "value given for secret 'empty' is empty",
        "--allow-empty",
    )
    assert not (fleet.root / "sops/secrets/empty").exists()
    assert fleet.run("secrets", "set", "empty", "--allow-empty", stdin=b"").returncode == 0
    dec = run_sops(sops_bin, ["decrypt", str(fleet.root / "sops/secrets/empty/secret")], fleet.env)
    assert dec.stdout == b""


def test_migrate_convert_leaving_a_host_unconverted(fleet: Fleet) -> None:
    unified = fleet.root / "nixos-unified"
    (unified / "configurations/nixos/cinnabar.nix").write_text("{ broken\n")
    out = unified / "converted"
    for extra in ([], ["--dry-run"]):
        one_error(
            fleet.run("migrate", "convert", str(unified), "--out", "converted", *extra),
            "cannot convert",
            "cinnabar.nix:2:1",
            "--partial",
        )
        assert not out.exists()
    res = fleet.run("migrate", "convert", str(unified), "--out", "converted", "--partial")
    assert res.returncode == 0, res.stderr
    assert (out / "hosts/darwin/stibnite.nix").is_file() and not (out / "hosts/nixos/cinnabar.nix").exists()
    assert b"cinnabar.nix: not converted" in res.stderr


def test_inventory_commands_on_a_file_that_does_not_parse(fleet: Fleet) -> None:
    (fleet.root / "modules/clan/broken.nix").write_text("{ clan.inventory.machines.x = { ; }\n")
    # the demo is a git repository: a flake (and dendrite) sees the file once git tracks it
    subprocess.run(["git", "-C", str(fleet.root), "add", "modules/clan/broken.nix"], check=True)
    for cmd in (["inventory", "show"], ["inventory", "machine", "cinnabar"], ["tags", "list"]):
        err = one_error(fleet.run(*cmd), "broken.nix:1:", "does not parse")
        assert err.count("broken.nix") == 1, err  # the place is said once


# ---------------------------------------------------------------------------------- vars set


def _crypt(password: str, hashed: str) -> str:
    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    return str(lib.crypt(password.encode(), hashed.encode()).decode())


def test_vars_set_keeps_a_password_and_its_hash_together(fleet: Fleet) -> None:
    """clan_lib/vars/set.py `set_var` writes the one file and leaves the hash stale; dendrite does not."""
    var = "user-password-crs58/user-password"
    res = fleet.run("vars", "set", "cinnabar", var, stdin=b"correct horse\n")
    assert res.returncode == 0, res.stderr
    assert fleet.run("vars", "get", "cinnabar", var).stdout == b"correct horse"
    hashed = fleet.run("vars", "get", "cinnabar", var + "-hash").stdout.decode()
    assert _crypt("correct horse", hashed) == hashed  # the system's crypt(3) agrees: made from the value
    assert fleet.run("vars", "check").returncode == 0


def test_vars_set_of_a_file_made_with_others_is_refused_or_left_stale(fleet: Fleet) -> None:
    var = "emergency-access/password"
    before = fleet.run("vars", "get", "cinnabar", var).stdout
    one_error(
        fleet.run("vars", "set", "cinnabar", var, stdin=b"x"),
        "made together with emergency-access/password-hash",
        "--force",
    )
    assert fleet.run("vars", "get", "cinnabar", var).stdout == before
    assert fleet.run("vars", "set", "--force", "cinnabar", var, stdin=b"x").returncode == 0
    check = fleet.run("vars", "check")
    assert check.returncode == 1 and b"cinnabar: emergency-access: outdated" in check.stdout
    again = fleet.run("vars", "generate")  # an outdated generator is made anew, as clan's generate does
    assert again.returncode == 0 and b"cinnabar: emergency-access" in again.stdout, again.stderr
    assert fleet.run("vars", "check").returncode == 0
    hashed = fleet.run("vars", "get", "cinnabar", var + "-hash").stdout.decode()
    assert _crypt(fleet.run("vars", "get", "cinnabar", var).stdout.decode(), hashed) == hashed


def test_vars_set_of_what_another_generator_is_made_from(fleet: Fleet) -> None:
    var = "zerotier-network-zerotier/network-id"
    ip = "zerotier-ip-cinnabar-zerotier/ip"
    old, old_ip = (fleet.run("vars", "get", "cinnabar", v).stdout for v in (var, ip))
    one_error(fleet.run("vars", "set", "cinnabar", var, stdin=b"nonsense"), "the old value was put back")
    assert fleet.run("vars", "get", "cinnabar", var).stdout == old
    res = fleet.run("vars", "set", "cinnabar", var, stdin=b"a1b2c3d4e5f60718")
    assert res.returncode == 0, res.stderr
    new_ip = fleet.run("vars", "get", "cinnabar", ip).stdout
    assert new_ip != old_ip and new_ip.startswith(b"fda1:b2c3:d4e5:f607:")  # RFC 4193 from the new id


# ---------------------------------------------------------------------------------- no Python in output


@needs_nix
def test_inventory_machine_shows_settings_as_nix(fleet: Fleet) -> None:
    res = fleet.run("inventory", "machine", "cinnabar")
    text = res.stdout.decode()
    assert res.returncode == 0 and "certificate = { searchDomains = [ ]; };" in text
    for python in ("{'", "': ", "False", "True", "None", "[]"):
        assert python not in text, python
    bindings = [line.strip() for line in text.splitlines() if line.startswith("      ")]
    assert len(bindings) > 5
    for b in bindings:  # each line is a Nix binding the real parser accepts
        proc = subprocess.run(
            [NIX_INSTANTIATE, "--parse", "-E", "{ " + b + " }"], capture_output=True, env=NIX_ENV, check=False
        )
        assert proc.returncode == 0, (b, proc.stderr)


def test_help_shows_no_python_types(fleet: Fleet) -> None:
    seen = 0
    for args in (
        [],
        ["secrets", "set"],
        ["secrets", "groups", "add-user"],
        ["vars", "generate"],
        ["vars", "set"],
        ["migrate", "convert"],
        ["machines", "list"],
    ):
        res = run_cli([*args, "--help"], fleet.env)
        text = res.stdout.decode()
        assert res.returncode == 0 and "Usage:" in text
        for python in ("<bool>", "list[", "<str>", "{name}"):
            assert python not in text, (args, python)
        seen += 1
    top = run_cli(["--help"], fleet.env).stdout.decode()
    debug = next(line for line in top.splitlines() if "--debug" in line)
    assert "<" not in debug  # a flag takes no value
    assert seen == 7


def test_bare_commands_print_help_and_exit_0(fleet: Fleet) -> None:
    for args in ([], ["secrets"], ["vars"]):
        res = run_cli(args, fleet.env)
        assert res.returncode == 0 and b"Usage: " in res.stdout and b"COMMAND" in res.stdout, res.stderr


def test_demo_into_an_existing_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    res = run_cli(["demo", str(target)], clean_env(home=tmp_path / "home"))
    assert res.returncode == 0 and b"internal error" not in res.stderr, res.stderr
    assert (target / "sops/users/crs58/key.json").is_file()


# ---------------------------------------------------------------------------------- the small ones


def test_layout_rules_json_and_an_unknown_class(fleet: Fleet) -> None:
    rules = json.loads(fleet.run("layout", "rules", "--json").stdout)
    assert rules[0]["id"] == "D001" and {"id", "severity", "title", "hint"} <= set(rules[0])
    text = fleet.run("layout", "rules").stdout.decode().splitlines()
    assert (
        len(text) == len(rules)
        and len({line.index(r["title"]) for line, r in zip(text, rules, strict=True)}) == 1
    )
    tree = str(fleet.root / "nixos-unified")
    one_error(
        fleet.run("layout", "modules", tree, "--class", "nixo"), "no module has the class 'nixo'", "'nixos'"
    )


def test_secrets_key_show_and_generate(fleet: Fleet) -> None:
    shown = fleet.run("secrets", "key", "show")
    line = shown.stdout.decode()
    assert shown.returncode == 0 and line.startswith("age1") and "crs58" in line and "{" not in line
    assert json.loads(fleet.run("secrets", "key", "show", "--json").stdout)[0]["username"] == "crs58"
    gen = fleet.run("secrets", "key", "generate")
    assert gen.returncode == 0 and b"registered as the clan user crs58" in gen.stderr
    assert b"register it" not in gen.stderr


def test_vars_export_counts_and_vars_list_has_no_blank_lines(fleet: Fleet, tmp_path: Path) -> None:
    out = tmp_path / "export"
    res = fleet.run("vars", "export", str(out))
    files = [f for _, _, fs in os.walk(out) for f in fs]
    vars_ = [f for f in files if f != ".validation-hash"]
    assert res.returncode == 0 and f"exported {len(vars_)} vars to {out}".encode() in res.stderr
    assert f"holds {len(files)} files in PLAINTEXT".encode() in res.stderr
    (out / "leftover").write_text("x")
    again = fleet.run("vars", "export", str(out))
    assert f"holds {len(files) + 1} files".encode() in again.stderr
    listed = fleet.run("vars", "list", "cinnabar").stdout.decode()
    assert "\n\n" not in listed and "openssh/ssh.id_ed25519.pub: ssh-ed25519 " in listed


def test_did_you_mean_for_members_of_secrets(fleet: Fleet) -> None:
    one_error(
        fleet.run("secrets", "set", "x", "--machine", "cinnabr", stdin=b"v"),
        "machine 'cinnabr' does not exist",
        "did you mean 'cinnabar'?",
    )
    one_error(
        fleet.run("secrets", "machines", "add-secret", "cinabar", "hetzner-api-token"),
        "did you mean 'cinnabar'?",
    )
    assert not (fleet.root / "sops/secrets/x").exists()
    one_error(
        fleet.run("secrets", "get", "hetzner-api-tokn"), "does not exist", "did you mean 'hetzner-api-token'?"
    )


def test_a_long_list_of_names_is_not_a_hint() -> None:
    from dendrite.cli.secrets_base import nearest as _nearest

    many = [f"secret-{i:04d}" for i in range(2400)]
    assert _nearest("zzz", many, "dendrite secrets list") == "see 'dendrite secrets list'"
    assert _nearest("secret-001", many, "x").startswith("did you mean 'secret-")
    assert _nearest("zzz", ["a", "b"], "x") == "known: a, b (see 'x')"


def test_no_machine_declares_generator(fleet: Fleet) -> None:
    one_error(
        fleet.run("vars", "generate", "-g", "opensh"),
        "no machine declares a generator 'opensh'",
        "did you mean 'openssh'?",
    )
    one_error(fleet.run("vars", "check", "-g", "nosuch"), "no machine declares a generator 'nosuch'")
    one_error(
        fleet.run("vars", "check", "-g", "openssh", "argentum"),
        "argentum does not declare the generator 'openssh'",
        "cinnabar does",
    )


def test_vars_check_json_findings_carry_a_hint(fleet: Fleet) -> None:
    shutil.rmtree(fleet.root / "vars/per-machine/cinnabar/openssh")
    res = fleet.run("vars", "check", "--json")
    found = json.loads(res.stdout)
    assert res.returncode == 1 and found and all(f["hint"] for f in found)


def test_eval_literal_prints_what_is_literal(tmp_path: Path) -> None:
    f = tmp_path / "part.nix"
    f.write_text('{ a = 1; b = builtins.foo; c = { d = "x"; e = import ./y.nix; }; }')
    res = run_cli(["nix", "eval-literal", str(f)], clean_env(home=tmp_path))
    assert res.returncode == 1
    assert res.stdout.decode() == (
        '{\n  a = 1;\n  b = «not literal: 1:14»;\n  c = {\n    d = "x";\n    e = «not literal: 1:47»;\n  };\n}\n'
    )
    assert f"{f}:1:14: not literal".encode() in res.stderr


def test_check_syntax_of_a_binary_file_is_one_error(tmp_path: Path) -> None:
    f = tmp_path / "blob.nix"
    f.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    res = run_cli(["nix", "check-syntax", str(f)], clean_env(home=tmp_path))
    lines = res.stdout.decode().splitlines()
    assert res.returncode == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"{f}:1:1: binary data, not Nix source (")


def _complete(fleet: Fleet, words: str, cwd: Path | None = None) -> list[str]:
    env = {**fleet.env, "_DENDRITE_COMPLETE": "complete_bash", "COMP_WORDS": words}
    env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    proc = subprocess.run([str(SCRIPT)], env=env, cwd=cwd, capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().split()


# completion is keyed to the program's name (`_DENDRITE_COMPLETE`): the installed script, as a shell runs it
SCRIPT = Path(sys.executable).parent / "dendrite"


@pytest.mark.skipif(not SCRIPT.exists(), reason="the dendrite script is not installed beside python")
def test_completion_of_names(fleet: Fleet, tmp_path: Path) -> None:
    here = fleet.root
    assert _complete(fleet, "dendrite secrets get hetz", here) == ["hetzner-api-token"]
    assert "cinnabar-age.key" in _complete(fleet, "dendrite secrets get ", here)
    assert _complete(fleet, "dendrite vars list ci", here) == ["cinnabar"]
    assert _complete(fleet, "dendrite secrets groups add-user a", here) == ["admins"]
    assert _complete(fleet, "dendrite secrets groups add-user admins ", here) == ["crs58"]
    assert _complete(fleet, "dendrite secrets set x --machine st", here) == ["stibnite"]
    assert _complete(fleet, f"dendrite -C {here} secrets users get ", tmp_path) == ["crs58"]
    assert _complete(fleet, "dendrite secrets get ", tmp_path) == []  # no repository here: nothing offered
