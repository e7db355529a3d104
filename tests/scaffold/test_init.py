"""`dendrite init`: the test-clan parses with the real Nix, lints clean, validates, generates its vars,
and its flake-parts layer evaluates with the real flake-parts and import-tree to what dendrite reports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from dendrite.secrets.keys import read_keys
from tests.conftest import run_cli
from tests.layout.flake_oracle import evaluate, needs_oracle
from tests.nixlang.oracle import needs_nix, nix_verdicts
from tests.scaffold.conftest import Clan, cli, make_keys

CATEGORIES = {"base", "nixos", "darwin", "shell", "dev", "hosts", "flake-parts", "terranix", "users"}
FLEET = ["cinnabar", "blackphos", "rosegold", "argentum", "stibnite"]
# clan-core stubbed by a module that declares `clan` (as its flakeModules.default does) and publishes
# what the tree put into it, so the test sees the registrations the real clan-core would receive.
CLAN_STUB = (
    "{ clan-core = { flakeModules.default = { lib, config, ... }: {"
    " options.clan = lib.mkOption { type = lib.types.anything; };"
    " config.flake.clanSeen = { registered = builtins.attrNames config.clan.machines;"
    " inventory = builtins.attrNames config.clan.inventory.machines;"
    " instances = builtins.attrNames config.clan.inventory.instances; }; }; }; }"
)
STUBS = ["nixpkgs", "home-manager", "nix-darwin", "terranix"]


def nix_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.nix") if ".git" not in p.parts)


def test_layout_is_the_seeds(clan: Clan) -> None:
    root = clan.root
    assert {p.name for p in (root / "modules").iterdir()} == CATEGORIES
    assert sorted(p.name for p in (root / "modules" / "hosts").iterdir()) == sorted(FLEET)
    flake = (root / "flake.nix").read_text()
    for name in (
        "nixpkgs",
        "flake-parts",
        "import-tree",
        "clan-core",
        "nix-darwin",
        "home-manager",
        "terranix",
    ):
        assert f"{name}.url" in flake
    assert "(inputs.import-tree ./modules)" in flake and "mkFlake" in flake
    assert "flakeModules.modules" in (root / "modules/flake-parts/flake-parts.nix").read_text()
    assert ".terraform-deploy-key" in (root / ".gitignore").read_text()
    assert "dendrite vars generate" in (root / "README.md").read_text()
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, check=True, text=True
    )
    assert status.stdout == ""  # everything committed: the flake sees every file


def test_admin_key_is_registered_in_admins(clan: Clan) -> None:
    keys = read_keys(clan.root / "sops/users/crs58/key.json")
    assert [k.publickey for k in keys] == [clan.public]
    link = clan.root / "sops/groups/admins/users/crs58"
    assert link.is_symlink() and link.resolve() == (clan.root / "sops/users/crs58").resolve()


@needs_nix
def test_every_nix_file_parses_with_real_nix(clan: Clan) -> None:
    files = nix_files(clan.root)
    assert len(files) >= 16
    assert all(nix_verdicts(files)), [
        str(f) for f, ok in zip(files, nix_verdicts(files), strict=True) if not ok
    ]


def test_lint_and_inventory_are_clean(clan: Clan) -> None:
    code, out, err = cli(clan, "layout", "lint", "--json")
    assert code == 0, out + err
    assert [f for f in json.loads(out) if f["severity"] == "error"] == []
    code, out, err = cli(clan, "inventory", "validate")
    assert code == 0, out + err
    assert "0 error(s), 0 warning(s)" in out + err
    code, out, err = cli(clan, "inventory", "show", "--json")
    inv = json.loads(out)
    assert list(inv["machines"]) == FLEET
    assert {"zerotier", "sshd", "emergency-access"} <= set(inv["instances"])


@needs_oracle
def test_flake_parts_layer_evaluates_to_what_layout_modules_reports(clan: Clan) -> None:
    found = evaluate(
        clan.root / "modules", "{ ns = r.namespace; seen = r.outputs.clanSeen; }", STUBS, CLAN_STUB
    )
    code, out, err = cli(clan, "layout", "modules", "--json")
    assert code == 0, err
    reported = json.loads(out)
    static = {cls: sorted(names) for cls, names in reported.items()}
    assert found["ns"] == static
    assert found["ns"]["nixos"] == ["base", "hosts/cinnabar", "shell", "users"]
    # every host registers itself with clan.machines; the inventory lists the same machines
    assert sorted(found["seen"]["registered"]) == sorted(FLEET)
    assert sorted(found["seen"]["inventory"]) == sorted(FLEET)


def test_vars_generate_runs_on_a_fresh_init(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    root = tmp_path / "clan"
    assert run_cli(["init", str(root), "--machines", "cinnabar,mac:darwin"], keys.env).returncode == 0
    gen = run_cli(["--repo", str(root), "vars", "generate"], keys.env, cwd=root, stdin=b"")
    assert gen.returncode == 0, gen.stderr.decode()
    check = run_cli(["--repo", str(root), "vars", "check"], keys.env, cwd=root)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert (root / "vars/per-machine/cinnabar/openssh/ssh.id_ed25519.pub/value").is_file()


def test_machines_option_and_the_given_classes(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    root = tmp_path / "clan"
    proc = run_cli(["init", str(root), "--machines", "vps1", "--machines", "mac:darwin"], keys.env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert 'flake.modules.darwin."hosts/mac"' in (root / "modules/hosts/mac/default.nix").read_text()
    clan_nix = (root / "modules/flake-parts/clan.nix").read_text()
    assert "controller" in clan_nix and "vps1" in clan_nix and "cinnabar" not in clan_nix


def test_refuses_a_non_empty_directory_and_writes_nothing(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    root = tmp_path / "busy"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n")
    proc = run_cli(["init", str(root)], keys.env)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "is not empty" in err and "--force" in err and "Traceback" not in err
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    forced = run_cli(["init", str(root), "--force"], keys.env)
    assert forced.returncode == 0, forced.stderr.decode()
    assert (root / "notes.txt").read_text() == "mine\n" and (root / "flake.nix").is_file()


def test_bad_machine_spec_is_one_sentence(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    proc = run_cli(["init", str(tmp_path / "c"), "--machines", "box:windows"], keys.env)
    assert proc.returncode == 2 and "not known" in proc.stderr.decode()
    assert not (tmp_path / "c").exists()


def test_machines_create_writes_the_host_module(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    root = tmp_path / "clan"
    assert run_cli(["init", str(root), "--machines", "cinnabar"], keys.env).returncode == 0
    proc = run_cli(
        ["--repo", str(root), "machines", "create", "lab", "--class", "darwin"], keys.env, cwd=root
    )
    assert proc.returncode == 0, proc.stderr.decode()
    host = root / "modules/hosts/lab/default.nix"
    assert 'flake.modules.darwin."hosts/lab"' in host.read_text()
    assert "clan.machines.lab.imports" in host.read_text()
    lint = run_cli(["--repo", str(root), "layout", "lint"], keys.env, cwd=root)
    assert lint.returncode == 0, lint.stdout.decode()


def test_clan_meta_names_the_inventory(clan: Clan) -> None:
    """clan-core's modules/clan/module.nix (config: `inventory.meta = config.meta`): the `clan.meta`
    init writes is the inventory's meta, and the static reader takes it so."""
    code, out, err = cli(clan, "inventory", "show", "--json")
    assert code == 0, err
    assert json.loads(out)["meta"] == {"name": "test-clan", "domain": "zt"}


def test_force_over_an_init_repository_is_idempotent(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    root = tmp_path / "clan"
    assert run_cli(["init", str(root)], keys.env).returncode == 0
    (root / "modules/dev/mine.nix").write_text("{ }\n")
    again = run_cli(["init", str(root), "--force"], keys.env)
    assert again.returncode == 0, again.stderr.decode()
    assert (root / "modules/dev/mine.nix").read_text() == "{ }\n"
    assert [k.publickey for k in read_keys(root / "sops/users/crs58/key.json")] == [keys.a.public]
    assert (root / "sops/groups/admins/users/crs58").is_symlink()


def test_a_new_key_is_made_when_there_is_none(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    key_file = tmp_path / "fresh" / "keys.txt"
    env = {**keys.env, "SOPS_AGE_KEY_FILE": str(key_file)}
    proc = run_cli(["init", str(tmp_path / "clan")], env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = [line.split(": ")[1] for line in key_file.read_text().splitlines() if "public key" in line]
    assert [k.publickey for k in read_keys(tmp_path / "clan/sops/users/crs58/key.json")] == public


def test_a_refused_key_file_leaves_no_directory(tmp_path: Path) -> None:
    keys = make_keys(tmp_path)
    exposed = tmp_path / "exposed.txt"
    exposed.write_text("")
    exposed.chmod(0o644)  # others could read a private key appended here: refused, as `vars keygen` does
    proc = run_cli(["init", str(tmp_path / "clan")], {**keys.env, "SOPS_AGE_KEY_FILE": str(exposed)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exposed.txt", "home", "keys.txt"]
