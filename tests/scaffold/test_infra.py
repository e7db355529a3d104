"""`dendrite infra hetzner` and `dendrite infra disko` on a fresh `dendrite init` repository."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dendrite.errors import InputError
from dendrite.scaffold import disko, hetzner
from tests.conftest import run_cli
from tests.nixlang.oracle import needs_nix, nix_accepts, nix_eval_expr
from tests.scaffold.conftest import Clan, cli, make_keys


@pytest.fixture
def fresh(tmp_path: Path) -> Clan:
    keys = make_keys(tmp_path)
    root = tmp_path / "clan"
    proc = run_cli(["init", str(root)], keys.env)
    assert proc.returncode == 0, proc.stderr.decode()
    return Clan(root, keys.env, keys.a.public)


def test_opentofu_json_has_the_resources_and_references_hcloud_expects(fresh: Clan) -> None:
    code, out, err = cli(fresh, "infra", "hetzner", "--format", "json", "--server-type", "cx43")
    assert code == 0, err
    assert "EUR 9.99/month" in out and hetzner.PRICE_DATE in out and "hetzner.com" in out
    assert "2026-04-01" in out
    cfg = json.loads((fresh.root / "terraform/main.tf.json").read_text())
    assert cfg["terraform"]["required_providers"]["hcloud"]["source"] == "hetznercloud/hcloud"
    assert cfg["provider"]["hcloud"]["token"] == "${var.hcloud_token}"
    res = cfg["resource"]
    server = res["hcloud_server"]["cinnabar"]
    assert (server["server_type"], server["location"]) == ("cx43", "fsn1")
    # every reference names a resource or variable the file declares
    assert server["ssh_keys"] == ["${hcloud_ssh_key.admin.id}"] and "admin" in res["hcloud_ssh_key"]
    assert (
        server["firewall_ids"] == ["${hcloud_firewall.cinnabar.id}"] and "cinnabar" in res["hcloud_firewall"]
    )
    assert res["hcloud_ssh_key"]["admin"]["public_key"] == "${var.ssh_public_key}"
    assert {"hcloud_token", "ssh_public_key"} <= set(cfg["variable"])
    rules = {(r["protocol"], r["port"]) for r in res["hcloud_firewall"]["cinnabar"]["rule"]}
    assert rules == {("tcp", "22"), ("udp", "9993")}
    assert cfg["output"]["cinnabar_ipv4"]["value"] == "${hcloud_server.cinnabar.ipv4_address}"


@needs_nix
def test_terranix_module_evaluates_to_the_same_configuration(fresh: Clan) -> None:
    code, _, err = cli(fresh, "infra", "hetzner", "--location", "hel1")
    assert code == 0, err
    module = fresh.root / hetzner.TERRANIX_NIX
    assert nix_accepts(module)
    value = nix_eval_expr(f"(import {module}).flake.modules.terranix.hetzner")
    code, _, err = cli(fresh, "infra", "hetzner", "--location", "hel1", "--format", "json")
    assert code == 0, err
    assert value == json.loads((fresh.root / hetzner.MAIN_TF_JSON).read_text())
    code, out, err = cli(fresh, "layout", "lint")
    assert code == 0, out + err


def test_cost_table_is_dated_and_unpriced_types_say_so() -> None:
    assert hetzner.cost("cx43").total == 9.99
    unpriced = hetzner.cost("ccx23")
    assert unpriced.total is None and unpriced.date == hetzner.PRICE_DATE
    assert "2026-04-01" in unpriced.note


def test_every_known_server_type_is_accepted_and_priced_ones_are_in_the_table() -> None:
    for t in hetzner.SERVER_TYPES:
        assert hetzner.check(hetzner.Server("cinnabar", t)).server_type == t
    assert set(hetzner.PRICES) <= set(hetzner.SERVER_TYPES)
    assert not set(hetzner.PRICES) & set(hetzner.UNPRICED_TYPES)
    # the generations Hetzner deprecated on 2025-10-16 and removed in January 2026 are not offered
    retired = {f"cx{n}2" for n in range(2, 6)} | {f"cpx{n}1" for n in range(1, 6)}
    assert not retired & set(hetzner.SERVER_TYPES)


@given(st.text(min_size=1, max_size=12))
def test_any_other_server_type_is_refused_as_bad_input(name: str) -> None:
    assume(name not in hetzner.SERVER_TYPES)
    with pytest.raises(InputError) as caught:
        hetzner.check(hetzner.Server("cinnabar", name))
    assert caught.value.hint and ("did you mean" in caught.value.hint or "known:" in caught.value.hint)


@pytest.mark.parametrize(
    ("given_type", "suggested"),
    [("cx44", "cx43"), ("CX43", "cx43"), ("caxx21", "cax21"), ("ccx33x", "ccx33")],
)
def test_unknown_server_type_is_one_sentence_exit_2_with_a_suggestion_and_writes_nothing(
    fresh: Clan, given_type: str, suggested: str
) -> None:
    head = subprocess.run(
        ["git", "-C", str(fresh.root), "rev-parse", "HEAD"], capture_output=True, check=True, text=True
    ).stdout
    code, out, err = cli(fresh, "infra", "hetzner", "--server-type", given_type)
    assert code == 2, out + err
    assert f"'{given_type}' is not a Hetzner Cloud server type" in err
    assert f"did you mean '{suggested}'?" in err and "Traceback" not in err
    assert not (fresh.root / hetzner.TERRANIX_NIX).exists()
    after = subprocess.run(
        ["git", "-C", str(fresh.root), "rev-parse", "HEAD"], capture_output=True, check=True, text=True
    ).stdout
    assert after == head


def test_known_type_without_a_price_is_written_and_says_the_tables_date(fresh: Clan) -> None:
    code, out, err = cli(fresh, "infra", "hetzner", "--server-type", "ccx23", "--format", "json")
    assert code == 0, err
    assert f"ccx23 has no price in dendrite's table, whose prices are of {hetzner.PRICE_DATE}" in out
    server = json.loads((fresh.root / hetzner.MAIN_TF_JSON).read_text())["resource"]["hcloud_server"]
    assert server["cinnabar"]["server_type"] == "ccx23"


def test_price_output_says_it_is_older_than_the_2026_increases(fresh: Clan) -> None:
    code, out, err = cli(fresh, "infra", "hetzner", "--server-type", "cax21", "--json")
    assert code == 0, err
    cost = json.loads(out)["cost"]
    assert cost["eur_month"] == 6.99 and cost["date"] == hetzner.PRICE_DATE
    assert "2026-04-01" in cost["note"] and "2026-06-15" in cost["note"]


@needs_nix
@pytest.mark.parametrize(("luks", "fs"), [(True, "ext4"), (False, "ext4"), (True, "zfs"), (False, "zfs")])
def test_disko_parses_and_lints(fresh: Clan, luks: bool, fs: str) -> None:
    args = ["infra", "disko", "cinnabar", "--fs", fs, *(["--luks"] if luks else [])]
    code, _, err = cli(fresh, *args)
    assert code == 0, err
    path = fresh.root / "modules/hosts/cinnabar/disko.nix"
    assert nix_accepts(path)
    text = path.read_text()
    assert ("passwordFile" in text or "keylocation" in text) == luks
    code, out, err = cli(fresh, "layout", "lint")
    assert code == 0, out + err
    # the disks, evaluated with the host module's arguments stubbed: the passphrase path is the var's
    stub = '{ config.clan.core.vars.generators.luks-password.files.password.path = "/run/partitioning-secrets/luks-password/password"; pkgs = { coreutils = "c"; xkcdpass = "x"; }; }'
    value = nix_eval_expr(f'((import {path}).flake.modules.nixos."hosts/cinnabar" {stub})')
    assert isinstance(value, dict)
    devices = value["disko"]["devices"]
    if luks:
        gen = value["clan"]["core"]["vars"]["generators"]["luks-password"]
        assert gen["files"]["password"]["neededFor"] == "partitioning"
    if fs == "ext4" and luks:
        luks_part = devices["disk"]["main"]["content"]["partitions"]["root"]["content"]
        assert luks_part["passwordFile"] == "/run/partitioning-secrets/luks-password/password"
        assert luks_part["content"] == {"type": "lvm_pv", "vg": "pool"}
        assert devices["lvm_vg"]["pool"]["lvs"]["root"]["content"]["format"] == "ext4"
    if fs == "zfs":
        assert value["networking"]["hostId"] == disko.host_id("cinnabar")
        assert set(devices["zpool"]["zroot"]["datasets"]) == {"root", "root/nixos", "root/home", "root/nix"}


def test_disko_luks_passphrase_is_generated_by_vars(fresh: Clan) -> None:
    code, _, err = cli(fresh, "infra", "disko", "cinnabar", "--luks")
    assert code == 0, err
    config = tomllib.loads((fresh.root / "dendrite.toml").read_text())
    assert config["generators"]["luks-password"]["machines"] == ["cinnabar"]
    gen = run_cli(
        ["--repo", str(fresh.root), "vars", "generate", "cinnabar"], fresh.env, cwd=fresh.root, stdin=b""
    )
    assert gen.returncode == 0, gen.stderr.decode()
    got = run_cli(["--repo", str(fresh.root), "vars", "get", "cinnabar", "luks-password/password"], fresh.env)
    assert got.returncode == 0 and len(got.stdout.strip().split(b"-")) == 6


def test_disko_unknown_or_darwin_machine_is_refused(fresh: Clan) -> None:
    code, _, err = cli(fresh, "infra", "disko", "nosuch", "--luks")
    assert code == 2 and "not in the inventory" in err and "Traceback" not in err
    code, _, err = cli(fresh, "infra", "disko", "blackphos")
    assert code == 2 and "darwin" in err
    assert not (fresh.root / "modules/hosts/nosuch").exists()
    assert not (fresh.root / "modules/hosts/blackphos/disko.nix").exists()


def test_bad_options_are_refused(fresh: Clan) -> None:
    code, _, err = cli(fresh, "infra", "hetzner", "--location", "mars1")
    assert code == 2 and "location" in err
    code, _, err = cli(fresh, "infra", "disko", "cinnabar", "--fs", "btrfs")
    assert code == 2 and "ext4 or zfs" in err


@needs_nix
def test_disko_in_a_plain_clan_goes_where_clan_loads_it(tmp_path: Path) -> None:
    """clan auto-includes machines/<name>/disko.nix (docs.clan.lol "Auto-included Files"; clan-core
    modules/clan/module.nix); a repository without init's layout gets a plain NixOS module there."""
    root = tmp_path / "plain"
    root.mkdir()
    (root / "inventory.json").write_text(json.dumps({"machines": {"vps": {"machineClass": "nixos"}}}))
    keys = make_keys(tmp_path)
    proc = run_cli(
        ["--repo", str(root), "--no-commit", "infra", "disko", "vps", "--luks"], keys.env, cwd=root
    )
    assert proc.returncode == 0, proc.stderr.decode()
    path = root / "machines/vps/disko.nix"
    assert nix_accepts(path) and not (root / "modules").exists()
    stub = '{ config.clan.core.vars.generators.luks-password.files.password.path = "/p"; pkgs = { coreutils = "c"; xkcdpass = "x"; }; }'
    value = nix_eval_expr(f"(import {path}) {stub}")
    assert isinstance(value, dict)
    root_part = value["disko"]["devices"]["disk"]["main"]["content"]["partitions"]["root"]
    assert root_part["content"]["passwordFile"] == "/p"


def test_machines_delete_removes_the_host_module(fresh: Clan) -> None:
    code, _, err = cli(fresh, "machines", "create", "lab")
    assert code == 0, err
    assert (fresh.root / "modules/hosts/lab/default.nix").is_file()
    code, _, err = cli(fresh, "machines", "delete", "lab")
    assert code == 0, err
    assert not (fresh.root / "modules/hosts/lab").exists()
    status = subprocess.run(
        ["git", "-C", str(fresh.root), "status", "--porcelain"], capture_output=True, check=True, text=True
    )
    assert status.stdout == ""
    code, out, err = cli(fresh, "layout", "lint")
    assert code == 0, out + err


# The hcloud provider's documented schema, as far as this configuration uses it:
# hetznercloud/terraform-provider-hcloud@0fb583a22382d208f3e8fdce0bbd2696553ac495
# docs/resources/{server,firewall}.md (Argument / Attributes Reference), and docs/resources/ssh_key.md
# at 285b7dec97e8a759414cfcd02c73d5e811a84bcb.
ARGUMENTS = {
    "hcloud_server": {
        "name",
        "server_type",
        "image",
        "location",
        "datacenter",
        "user_data",
        "ssh_keys",
        "public_net",
        "keep_disk",
        "iso",
        "rescue",
        "labels",
        "backups",
        "firewall_ids",
        "network",
        "placement_group_id",
        "delete_protection",
        "rebuild_protection",
        "allow_deprecated_images",
        "shutdown_before_deletion",
    },
    "hcloud_firewall": {"name", "labels", "rule", "apply_to"},
    "hcloud_ssh_key": {"name", "public_key", "labels"},
}
REQUIRED = {"hcloud_server": {"name", "server_type", "image"}, "hcloud_ssh_key": {"name", "public_key"}}
RULE_FIELDS = {"direction", "protocol", "port", "source_ips", "destination_ips", "description"}
PUBLIC_NET = {"ipv4_enabled", "ipv4", "ipv6_enabled", "ipv6"}
ATTRIBUTES = {
    "hcloud_server": {"id", "ipv4_address", "ipv6_address", "ipv6_network", "status", "name"},
    "hcloud_firewall": {"id", "name"},
    "hcloud_ssh_key": {"id", "name", "fingerprint"},
}


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize("machine", ["cinnabar", "vps-2"])
def test_configuration_matches_the_providers_documented_schema(machine: str) -> None:
    cfg = hetzner.configuration(hetzner.Server(machine))
    resources = cfg["resource"]
    for rtype, blocks in resources.items():
        for args in blocks.values():
            assert set(args) <= ARGUMENTS[rtype], (rtype, set(args) - ARGUMENTS[rtype])
            assert REQUIRED.get(rtype, set()) <= set(args)
    for rule in resources["hcloud_firewall"][machine]["rule"]:
        assert set(rule) <= RULE_FIELDS and {"direction", "protocol", "port", "source_ips"} <= set(rule)
    assert set(resources["hcloud_server"][machine]["public_net"]) <= PUBLIC_NET
    # every interpolation names a declared variable or an exported attribute of a declared resource
    for ref in (s[2:-1] for s in _strings(cfg) if s.startswith("${")):
        parts = ref.split(".")
        if parts[0] == "var":
            assert parts[1] in cfg["variable"]
        else:
            rtype, name, attr = parts
            assert name in resources[rtype] and attr in ATTRIBUTES[rtype], ref


SCRIPT = Path(sys.executable).parent / "dendrite"  # completion is keyed to the installed script's name


@pytest.mark.skipif(not SCRIPT.exists(), reason="the dendrite script is not installed beside python")
def test_server_type_completes_from_the_known_types(fresh: Clan) -> None:
    words = "dendrite infra hetzner --server-type ca"
    env = {**fresh.env, "_DENDRITE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "4"}
    proc = subprocess.run(
        [str(SCRIPT)], env=env, cwd=fresh.root, capture_output=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == ["cax11", "cax21", "cax31", "cax41"]
