"""Reading the inventory statically from a dendritic repository, checked against real Nix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.inventory import analyse, load
from dendrite.inventory.merge import ConflictError
from dendrite.inventory.sources import nix_files
from tests.inventory.nixeval import nix_inventory_piece, nix_merge
from tests.nixlang.oracle import needs_nix

FILES = {
    "flake.nix": """{
  description = "test-clan";
  outputs = inputs: { };
}
""",
    "modules/clan/meta.nix": """{ ... }:
{
  # the clan's name; never renamed in the seed
  clan.inventory.meta = { name = "test-clan"; domain = "zt"; };
}
""",
    "modules/clan/inventory/machines.nix": """{ inputs, ... }:
let
  workstation = [ "workstation" ];
in
{
  clan.inventory.machines = {
    cinnabar = {
      tags = [ "vps" "cloud" ];
      machineClass = "nixos";
      deploy.targetHost = "root@cinnabar.zt";
    };
    "blackphos" = { tags = workstation; machineClass = "darwin"; };
    stibnite = { tags = workstation ++ [ "primary" ]; machineClass = "darwin"; };
  };
}
""",
    "modules/clan/inventory/services/zerotier.nix": """{
  clan = {
    inventory.instances."zerotier" = {
      module = { name = "zerotier"; input = "clan-core"; };
      roles.controller.machines.cinnabar.settings.allowedIps = [ "fd00::1" ];
      roles.peer.tags = [ "workstation" ];
    };
  };
}
""",
    "modules/clan/inventory/services/users/crs58.nix": """{ lib, ... }:
{
  clan.inventory.instances.users-crs58 = {
    module.name = "users";
    module.input = "clan-core";
    roles.default.tags.workstation = { };
    roles.default.settings = {
      user = "crs58";
      share = true;
      groups = [ "wheel" ];
    };
  };
}
""",
    "modules/clan/inventory/more-tags.nix": """_: {
  clan.inventory.machines.cinnabar.tags = [ "zerotier-controller" ];
}
""",
    "modules/unrelated.nix": "{ pkgs, ... }: { environment.systemPackages = [ pkgs.git ]; }\n",
    "modules/_private/notes.nix": "{ clan.inventory.machines.ghost = { }; }\n",
}


def make_repo(root: Path) -> Path:
    for rel, text in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@needs_nix
def test_spread_inventory_reads_exactly_what_nix_gives(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    ours = load(repo).merged.value
    pieces = [nix_inventory_piece(f) for f in nix_files(repo)]
    assert ours == nix_merge([p for p in pieces if p])
    inv = analyse(repo).inventory
    assert inv.machines["cinnabar"].tags == ("vps", "cloud", "zerotier-controller")
    assert inv.machines["stibnite"].tags == ("workstation", "primary")


def test_private_paths_are_skipped_and_places_are_kept(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    merged = load(repo).merged
    # import-tree leaves `_`-prefixed paths out, so their inventory is not part of the clan
    assert "ghost" not in merged.value["machines"]
    assert str(merged.where(("machines", "blackphos"))[0]).endswith("inventory/machines.nix:12")
    assert str(merged.where(("instances", "zerotier", "roles", "peer"))[0]).endswith(
        "services/zerotier.nix:6"
    )


def test_inventory_json_and_machine_dirs_merge_in(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "machines" / "argentum").mkdir(parents=True)
    (repo / "inventory.json").write_text(
        json.dumps({"machines": {"argentum": {"machineClass": "darwin", "tags": ["workstation"]}}}, indent=2)
    )
    inv = analyse(repo).inventory
    assert inv.machines["argentum"].machine_class == "darwin"
    assert "argentum" in dict(inv.tags_in_use())["workstation"]


def test_conflict_names_both_places(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "inventory.json").write_text(
        '{\n  "machines": {\n    "cinnabar": {"machineClass": "darwin"}\n  }\n}\n'
    )
    with pytest.raises(ConflictError) as info:
        load(repo)
    msg = info.value.message
    assert (
        "machines.cinnabar.machineClass" in msg and "inventory.json:3" in msg and "machines.nix:9" in msg
    ), msg


def test_non_literal_parts_are_reported_not_guessed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "modules/clan/inventory/dynamic.nix").write_text(
        '{ lib, ... }: {\n  clan.inventory.machines.rosegold = {\n    tags = lib.optional true "x";\n    machineClass = "darwin";\n  };\n}\n'
    )
    loaded = load(repo)
    assert loaded.merged.value["machines"]["rosegold"] == {"machineClass": "darwin"}
    (note,) = [n for n in loaded.notes if "not literal" in n.message]
    assert "machines.rosegold.tags" in note.message and str(note.where).endswith("dynamic.nix:3")
    assert note.hint is not None and "--nix" in note.hint


def test_malformed_inventory_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "inventory.json").write_text('{\n  "machines": {\n    "x": ,\n  }\n}\n')
    with pytest.raises(InputError, match=r"inventory\.json:3:10: invalid JSON"):
        load(tmp_path)


@pytest.mark.parametrize(
    "inventory,message",
    [
        ({"machines": {"Bad_Name": {}}}, "machine name 'Bad_Name' is not valid"),
        ({"machines": {"a": {"machineClass": "windows"}}}, "machineClass is 'windows'"),
        ({"machines": {"a": {"tag": []}}}, "unknown key 'tag'"),
        ({"machines": {"a": {"tags": "vps"}}}, "tags must be a list of strings"),
        ({"instances": {"z": {"roles": {"peer": {"machine": {}}}}}}, "unknown key 'machine'"),
        ({"services": {"x": {}}}, "inventory.services was removed"),
    ],
)
def test_schema_errors(tmp_path: Path, inventory: dict[str, object], message: str) -> None:
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    with pytest.raises(InputError, match=message):
        analyse(tmp_path)


@pytest.mark.parametrize(
    "expr,reason",
    [
        ("import ./machines.nix", "function application"),
        ("lib.mkForce { }", "function application"),
        ("with lib; { }", None),
        ("builtins.fromJSON (builtins.readFile ./inventory.json)", "function application"),
    ],
)
def test_each_non_literal_construct_gives_a_note(tmp_path: Path, expr: str, reason: str | None) -> None:
    f = tmp_path / "modules" / "inv.nix"
    f.parent.mkdir(parents=True)
    f.write_text("{ lib, ... }:\n{\n  clan.inventory.machines = " + expr + ";\n}\n")
    loaded = load(tmp_path)
    if reason is None:  # `with lib; { }` is literal: an empty set
        assert loaded.merged.value == {"machines": {}} and not loaded.notes
        return
    assert loaded.merged.value == {}
    (note,) = loaded.notes
    assert reason in note.message and str(note.where).endswith("inv.nix:3") and "--nix" in (note.hint or "")


NIX_BIN = __import__("shutil").which("nix")


@pytest.mark.skipif(NIX_BIN is None, reason="nix (Debian nix-bin) is not installed")
def test_nix_mode_reads_what_the_flake_evaluates_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (
        '{ meta.name = "flk"; machines.cinnabar = { machineClass = "nixos"; tags = [ "vps" ]; }; '
        'instances.zt = { module.name = "zerotier"; roles.controller.machines.cinnabar = { }; }; }'
    )
    (tmp_path / "flake.nix").write_text("{\n  outputs = _: { clan.inventory = " + body + "; };\n}\n")
    monkeypatch.setenv("NIX_CONFIG", "build-users-group =")
    monkeypatch.setenv("HOME", str(tmp_path))
    evaluated = analyse(tmp_path, use_nix=True).inventory
    assert evaluated.meta.name == "flk" and list(evaluated.machines) == ["cinnabar"]
    assert evaluated.instances["zt"].roles["controller"].machines.keys() == {"cinnabar"}
    assert analyse(tmp_path).inventory.machines == {}  # flake.nix's outputs are a function: nothing literal
    with pytest.raises(InputError, match=r"nix eval of .*#clan\.nope failed"):
        analyse(tmp_path, use_nix=True, attr="clan.nope")
