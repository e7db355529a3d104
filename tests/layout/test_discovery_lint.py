"""import-tree's rules on every edge case of the spec, and each lint rule positive and negative."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dendrite.layout.discovery import discover, import_root
from dendrite.layout.lint import RULES, lint
from dendrite.layout.namespace import hosts, namespace, parse_all


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_import_tree_rules_give_the_specs_list(tmp_path: Path) -> None:
    t = tree(
        tmp_path / "tree",
        {
            f: "{ }"
            for f in [
                ".hidden.nix",
                "a.nix",
                "_b.nix",
                "c.txt",
                "d/default.nix",
                "d/e.nix",
                "_skip/f.nix",
                "g/_h/i.nix",
                "g/j.nix",
                "k.nix/l.nix",
                "m.pkg.nix",
                "n.NIX",
                "sub_under/o.nix",
            ]
        },
    )
    os.symlink("a.nix", t / "link.nix")
    os.symlink("d", t / "linkdir")
    d = discover(t, use_git=False)
    assert ["/" + p.relative_to(t).as_posix() for p in d.files] == [
        "/.hidden.nix",
        "/a.nix",
        "/d/default.nix",
        "/d/e.nix",
        "/g/j.nix",
        "/k.nix/l.nix",
        "/link.nix",
        "/m.pkg.nix",
        "/sub_under/o.nix",
    ]
    under = tree(tmp_path / "_root", {"p.nix": "{ }", "_q.nix": "{ }"})
    assert [p.name for p in discover(under, use_git=False).files] == ["p.nix"]  # the root's own _ is fine


def test_only_git_tracked_files_count(tmp_path: Path) -> None:
    t = tree(tmp_path, {"modules/a.nix": "{ }", "modules/b.nix": "{ }"})
    subprocess.run(["git", "init", "-q", str(t)], check=True)
    subprocess.run(["git", "-C", str(t), "add", "modules/a.nix"], check=True)
    d = discover(t / "modules")
    assert [p.name for p in d.files] == ["a.nix"] and [p.name for p in d.untracked] == ["b.nix"]
    assert [f.rule for f in lint(t, t / "modules")] == ["D009"]


def test_the_import_root_comes_from_flake_nix(tmp_path: Path) -> None:
    t = tree(
        tmp_path,
        {
            "flake.nix": "{ outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } "
            "(inputs.import-tree ./nix/parts); }",
            "nix/parts/a.nix": "{ }",
        },
    )
    assert import_root(t) == (t / "nix/parts").resolve()
    assert import_root(tmp_path / "nowhere") == (tmp_path / "nowhere/modules").resolve()


GOOD = {
    "modules/flake-parts.nix": "{ inputs, ... }: { imports = [ inputs.flake-parts.flakeModules.modules ]; }\n",
    "modules/meta.nix": "{ lib, ... }: { options.flake.meta = lib.mkOption { type = lib.types.lazyAttrsOf lib.types.anything; }; "
    'config.flake.meta.owner = "crs58"; }\n',
    "modules/shell.nix": "{ flake.modules = { nixos.shell = { programs.fish.enable = true; }; "
    "homeManager.shell = { pkgs, ... }: { home.packages = [ pkgs.git ]; }; }; }\n",
    "modules/hosts/cinnabar.nix": "{ config, ... }: let m = config.flake.modules.nixos; in {\n"
    '  flake.modules.nixos."hosts/cinnabar" = { imports = with m; [ shell ]; };\n'
    '  clan.machines.cinnabar.imports = [ config.flake.modules.nixos."hosts/cinnabar" ];\n}\n',
    "modules/hosts/_cinnabar/disko.nix": "{ disko.devices = { }; }\n",
    "modules/other.nix": "{ config, ... }: { flake.meta.more = config.flake.meta.owner; }\n",
}


def findings(files: dict[str, str], tmp: Path) -> list[tuple[str, str]]:
    root = tree(tmp, files)
    return [(f.rule, Path(f.file).name) for f in lint(root, root / "modules", use_git=False)]


def test_a_working_dendritic_clan_repo_lints_clean(tmp_path: Path) -> None:
    assert findings(GOOD, tmp_path) == []
    files = parse_all(discover(tmp_path / "modules", use_git=False).files)
    ns = namespace(files)
    assert sorted(ns["nixos"]) == ["hosts/cinnabar", "shell"] and list(ns["homeManager"]) == ["shell"]
    (h,) = hosts(files, ns)
    assert h.name == "cinnabar" and h.via == "clan.machines"


@pytest.mark.parametrize(
    "rule,files",
    [
        ("D001", {"modules/bad.nix": "{ a = ; }"}),
        ("D002", {"modules/disko.nix": "{ disko.devices.disk.main = { }; }"}),
        (
            "D003",
            {
                "modules/a.nix": "{ flake.modules.nixos.a = { }; }",
                "modules/b.nix": "{ flake.modules.nixos.b = { }; }",
            },
        ),
        ("D004", {**GOOD, "modules/meta.nix": '{ flake.meta.owner = "x"; }'}),
        (
            "D005",
            {
                **GOOD,
                "modules/x.nix": "{ config, ... }: { flake.modules.nixos.x = { imports = [ config.flake.modules.darwin.y ]; }; }",
            },
        ),
        (
            "D006",
            {
                **GOOD,
                "modules/host.nix": "{ pkgs, ... }: { flake.modules.nixos.h = { environment.systemPackages = [ pkgs.git ]; }; }",
            },
        ),
        (
            "D006",
            {
                **GOOD,
                "modules/host2.nix": "{ flake.modules.nixos.h = { environment.systemPackages = with pkgs; [ git ]; }; }",
            },
        ),
        ("D007", {**GOOD, "modules/w.nix": "{ flake.modules.nixos.w = { imports = [ ./shell.nix ]; }; }"}),
        (
            "D008",
            {
                **GOOD,
                "modules/gen.nix": "{ inputs, ... }: { flake.nixosConfigurations.cinnabar = inputs.nixpkgs.lib.nixosSystem { modules = [ ]; }; }",
            },
        ),
        (
            "D010",
            {
                **GOOD,
                "modules/sa.nix": "{ inputs, ... }: { flake.nixosConfigurations.x = inputs.nixpkgs.lib.nixosSystem { specialArgs = { inherit inputs; hostConfig = { }; }; modules = [ ]; }; }",
            },
        ),
        ("D011", {**GOOD, "modules/t.nix": "{ flake.modules.terranix.base = ./terranix/base.nix; }"}),
        ("D012", {**GOOD, "modules/u.nix": "{ flake.users = { }; }"}),
    ],
)
def test_each_rule_fires(tmp_path: Path, rule: str, files: dict[str, str]) -> None:
    assert rule in [r for r, _ in findings(files, tmp_path)], findings(files, tmp_path)


def test_repository_rules_and_the_seeds_mistakes(tmp_path: Path) -> None:
    files = {
        **GOOD,
        "docs/notes.md": "Check with `nix eval .#flake.modules.darwin --apply builtins.attrNames`.\n",
        "secrets/users/crs58/key.json": "[]",
        "secrets/machines/cinnabar/key.json": "[]",
        "modules/hosts/cinnabar/disko.nix": "{ disko.devices = { }; }",  # seed mistake 2: no `_`
        "modules/hosts/cinnabar/default.nix": "{ flake.modules.nixos.cinnabar = { environment.systemPackages = with pkgs; [ git ]; }; }",
    }
    got = findings(files, tmp_path)
    assert ("D013", "notes.md") in got and ("D014", "secrets") in got
    assert ("D002", "disko.nix") in got and ("D006", "default.nix") in got


def test_suppression_and_configuration(tmp_path: Path) -> None:
    files = {**GOOD, "modules/u.nix": "{\n  # dendrite: ignore D012\n  flake.users = { };\n}\n"}
    assert findings(files, tmp_path / "a") == []
    files = {**GOOD, "modules/u.nix": "{ flake.users = { }; }\n"}
    root = tree(tmp_path / "b", files)
    (root / "dendrite.toml").write_text('[lint]\nseverity.D012 = "error"\n')
    (f,) = lint(root, root / "modules", use_git=False)
    assert f.rule == "D012" and f.severity == "error"
    (root / "dendrite.toml").write_text('[lint]\ndisable = ["D012"]\n')
    assert lint(root, root / "modules", use_git=False) == []


def test_robustness_per_file_never_a_crash(tmp_path: Path) -> None:
    files = {**GOOD, "modules/broken.nix": '{ a = "unterminated; }', "modules/latin.nix": "# caf\udce9\n{ }"}
    root = tree(tmp_path, {k: v for k, v in files.items() if k != "modules/latin.nix"})
    (root / "modules/latin.nix").write_bytes(b"# caf\xe9\n{ }\n")
    (root / "modules/huge.nix").write_bytes(b" " * (33 * 1024 * 1024))
    os.symlink("loop", root / "modules/loop")
    os.symlink(".", root / "modules/self")
    unreadable = root / "modules/secret.nix"
    unreadable.write_text("{ }")
    unreadable.chmod(0)
    got = findings({}, root)
    assert ("D001", "broken.nix") in got and ("D001", "huge.nix") in got
    assert all(name != "latin.nix" for _, name in got)


def test_every_rule_has_a_hint() -> None:
    assert all(r.hint and r.severity in ("error", "warning") for r in RULES.values())


def test_host_shapes_prefix_generator_and_direct(tmp_path: Path) -> None:
    files = {
        "modules/gen.nix": """{ inputs, lib, config, ... }:
let prefix = "hosts/"; in {
  flake.nixosConfigurations = lib.pipe config.flake.modules.nixos [
    (lib.filterAttrs (name: _: lib.hasPrefix prefix name))
    (lib.mapAttrs' (name: module: { name = lib.removePrefix prefix name; value = inputs.nixpkgs.lib.nixosSystem { modules = [ module ]; }; }))
  ];
}
""",
        "modules/x260.nix": """{ config, ... }: {
  flake.modules.nixos."hosts/x260" = { imports = with config.flake.modules.nixos; [ base ssh ]; };
}
""",
        "modules/direct.nix": """{ inputs, config, ... }: {
  flake.darwinConfigurations.mbp = inputs.nix-darwin.lib.darwinSystem {
    modules = [ config.flake.modules.darwin.base config.flake.modules.darwin."hosts/mbp" ];
  };
}
""",
    }
    root = tree(tmp_path, files)
    parsed = parse_all(discover(root / "modules", use_git=False).files)
    found = {h.name: h for h in hosts(parsed, namespace(parsed))}
    assert found["x260"].modules == ["base", "ssh"] and "generator" in found["x260"].via
    assert found["mbp"].cls == "darwin" and found["mbp"].modules == ["base", "hosts/mbp"]


def test_real_styles_lint_clean(tmp_path: Path) -> None:
    custom_options = {  # mightyiam/infra style: own options instead of flake.modules
        "modules/configurations.nix": """{ lib, config, inputs, ... }:
{
  options.configurations.nixos = lib.mkOption {
    type = lib.types.lazyAttrsOf (lib.types.submodule { options.module = lib.mkOption { type = lib.types.deferredModule; }; });
  };
  config.flake.nixosConfigurations = lib.mapAttrs (name: { module }: inputs.nixpkgs.lib.nixosSystem { modules = [ module ]; })
    config.configurations.nixos;
}
""",
        "modules/desktop.nix": """{ config, ... }:
{
  configurations.nixos.desktop.module = { pkgs, ... }: { environment.systemPackages = [ pkgs.git ]; };
}
""",
    }
    generator = {  # drupol style: the hosts/ prefix generator over flake.modules
        "modules/flake-parts.nix": "{ inputs, ... }: { imports = [ inputs.flake-parts.flakeModules.modules ]; }\n",
        "modules/host-machines.nix": """{ inputs, lib, config, ... }:
let prefix = "hosts/"; in {
  flake.nixosConfigurations = lib.pipe config.flake.modules.nixos [
    (lib.filterAttrs (name: _: lib.hasPrefix prefix name))
    (lib.mapAttrs' (name: module: {
      name = lib.removePrefix prefix name;
      value = inputs.nixpkgs.lib.nixosSystem { specialArgs = { inherit inputs; }; modules = [ module ]; };
    }))
  ];
}
""",
        "modules/hosts/x260/default.nix": """topLevel@{ config, ... }:
{
  flake.modules.nixos."hosts/x260" = {
    imports = with config.flake.modules.nixos; [ base ];
    networking.hostName = "x260";
  };
}
""",
        "modules/base.nix": '{ flake.modules.nixos.base = { lib, ... }: { time.timeZone = lib.mkDefault "UTC"; }; }\n',
    }
    assert findings(custom_options, tmp_path / "a") == []
    assert findings(generator, tmp_path / "b") == []
