"""A miniature NixOS that runs under Debian's Nix 2.8 with no network, and a fleet that uses it.

`lib.evalModules` from the oracle's nixpkgs lib plays `nixpkgs.lib.nixosSystem`: a handful of NixOS's
options (hostName, /etc files, a package list, users, nix.settings) and a toplevel that is a real
derivation made from the evaluated config, with a /bin/sh builder. ENTRY is the entry expression
`migrate verify --expr` takes: it evaluates the tree's flake.nix as Nix would, with the real flake-parts
and import-tree of the oracle and these stand-ins as its inputs, so the nixos-unified repository and
its converted tree (once flake.dendritic.nix has become flake.nix) are evaluated the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.layout.flake_oracle import ORACLE

NIXOS = r"""# nixpkgs.lib.nixosSystem in miniature
{ lib }:
let
  inherit (lib) mkOption types;
  base = { config, ... }: {
    options = {
      networking.hostName = mkOption { type = types.str; default = "nixos"; };
      environment.etc = mkOption {
        type = types.attrsOf (types.submodule {
          options.text = mkOption { type = types.lines; default = ""; };
          options.source = mkOption { type = types.nullOr types.str; default = null; };
        });
        default = { };
      };
      environment.systemPackages = mkOption { type = types.listOf types.str; default = [ ]; };
      users.users = mkOption {
        type = types.attrsOf (types.submodule { options.isNormalUser = mkOption { type = types.bool; default = false; }; });
        default = { };
      };
      nix.settings = mkOption { type = types.attrsOf types.anything; default = { }; };
      nixpkgs.hostPlatform = mkOption { type = types.str; };
      system.stateVersion = mkOption { type = types.str; };
      system.build = mkOption { type = types.lazyAttrsOf types.unspecified; default = { }; };
    };
    config.system.build.toplevel =
      let
        mk = name: attrs: builtins.derivation ({
          inherit name;
          system = config.nixpkgs.hostPlatform;
          builder = "/bin/sh";
          args = [ "-c" "echo ${name} > $out" ];
        } // attrs);
        etc = mk "etc" { files = builtins.toJSON (lib.mapAttrs (_: f: if f.source != null then f.source else f.text) config.environment.etc); };
        packages = map (p: mk p { }) config.environment.systemPackages;
      in
      mk "nixos-system-${config.networking.hostName}" {
        inherit etc packages;
        users = builtins.toJSON config.users.users;
        nixConf = builtins.toJSON config.nix.settings;
        inherit (config.system) stateVersion;
      };
  };
in
{
  nixosSystem = { modules, specialArgs ? { } }:
    lib.evalModules { inherit specialArgs; modules = [ base ] ++ modules; };
}
"""

# nixos-unified's autowiring in miniature: modules/nixos/* become nixosModules, configurations/nixos/*
# become nixosConfigurations, each with the modules nixos-unified adds implicitly and `flake` passed.
AUTOWIRE = r"""{ self, inputs, config, lib, ... }:
let
  dirMods = dir:
    if builtins.pathExists dir then
      lib.mapAttrs' (n: _: { name = lib.removeSuffix ".nix" n; value = import "${dir}/${n}"; }) (builtins.readDir dir)
    else { };
  common = { lib, ... }: {
    nix.settings.max-jobs = lib.mkDefault "auto";
    nix.settings.experimental-features = lib.mkDefault "nix-command flakes";
  };
  specialArgs = { flake = { inherit self inputs config; }; };
in
{
  flake.nixosModules = dirMods "${self}/modules/nixos";
  flake.nixosConfigurations = lib.mapAttrs (_: host: inputs.nixpkgs.lib.nixosSystem {
    inherit specialArgs;
    modules = [
      common
      (inputs.nixos-unified + "/nix/modules/configurations")
      inputs.home-manager.nixosModules.home-manager
      { home-manager.useGlobalPkgs = true; home-manager.useUserPackages = true; }
      host
    ];
  }) (dirMods "${self}/configurations/nixos");
}
"""

OPTIONS = r"""{ lib, ... }:
{ options.nixos-unified = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; }; }
"""

HOME_MANAGER = r"""{ lib, ... }:
{ options.home-manager = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; }; }
"""

ENTRY = r"""# migrate verify --expr: the tree's flake.nix evaluated with the oracle's flake-parts and stand-ins
{ src }:
let
  oracle = @ORACLE@;
  lib = import (oracle + "/nixpkgs-lib/lib");
  fpdir = oracle + "/flake-parts";
  modulesOf = dir: builtins.listToAttrs (map
    (n: { name = lib.removeSuffix ".nix" n; value = dir + "/${n}"; })
    (builtins.filter (lib.hasSuffix ".nix") (builtins.attrNames (builtins.readDir dir))));
  builtinModules = modulesOf (fpdir + "/modules");
  extraModules = modulesOf (fpdir + "/extras");
  flake-parts = {
    outPath = fpdir;
    lib = import (fpdir + "/lib.nix") { inherit lib builtinModules extraModules; };
    flakeModules = builtinModules // extraModules;
  };
  readFileType = p:
    let s = toString p; in
    if s == "/" then "directory" else (builtins.readDir (dirOf s)).${baseNameOf s} or "missing";
  import-tree = scopedImport { builtins = builtins // { inherit readFileType; }; } (oracle + "/import-tree/default.nix");
  nixpkgs = { outPath = ./.; lib = lib // { inherit (import ./nixos.nix { inherit lib; }) nixosSystem; }; };
  nixos-unified = {
    outPath = ./nixos-unified;
    flakeModules = { default = { }; autoWire = ./nixos-unified/autowire.nix; };
  };
  home-manager = { outPath = ./.; nixosModules.home-manager = ./home-manager.nix; };
  inputs = { inherit flake-parts import-tree nixpkgs nixos-unified home-manager self; };
  self = outputs // { outPath = src; inherit inputs; };
  outputs = (import (src + "/flake.nix")).outputs inputs;
in
outputs
"""

REPO = {
    "flake.nix": """{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-parts.url = "github:hercules-ci/flake-parts";
    nixos-unified.url = "github:srid/nixos-unified";
    home-manager.url = "github:nix-community/home-manager";
  };
  outputs = inputs@{ self, ... }:
    inputs.flake-parts.lib.mkFlake { inherit inputs; } {
      systems = [ "x86_64-linux" ];
      imports = [ ./modules/flake-parts/nixos-flake.nix ./modules/flake-parts/config.nix ];
    };
}
""",
    "modules/flake-parts/nixos-flake.nix": """{ inputs, ... }:
{
  imports = [ inputs.nixos-unified.flakeModules.default inputs.nixos-unified.flakeModules.autoWire ];
}
""",
    "modules/flake-parts/config.nix": """{ lib, ... }:
{
  options.me = lib.mkOption { type = lib.types.attrsOf lib.types.str; };
  config.me = { username = "crs58"; };
}
""",
    "configurations/nixos/alpha.nix": """# the first host
{ flake, ... }:
{
  imports = [ flake.inputs.self.nixosModules.default ];
  nixpkgs.hostPlatform = "x86_64-linux";
  networking.hostName = "alpha";
  users.users.${flake.config.me.username}.isNormalUser = true;
  system.stateVersion = "25.05";
}
""",
    "configurations/nixos/beta.nix": """{ flake, ... }:
{
  imports = [
    flake.inputs.self.nixosModules.default
    flake.inputs.self.nixosModules.tools
    flake.inputs.self.nixosModules.banner
  ];
  nixpkgs.hostPlatform = "x86_64-linux";
  networking.hostName = "beta";
  system.stateVersion = "25.05";
}
""",
    "modules/nixos/default.nix": """{ lib, ... }:
{
  environment.etc.motd.text = "welcome to the fleet";
  environment.etc.issue.text = lib.mkDefault "dendrite";
  environment.systemPackages = [ "git" "vim" ];
}
""",
    "modules/nixos/banner.nix": """# a file of the repository itself: its store path is the flake source's
{ flake, ... }:
{
  environment.etc.banner.source = "${flake.inputs.self}/files/banner";
}
""",
    "files/banner": "hello from the fleet\n",
    "modules/nixos/tools.nix": """{
  environment.systemPackages = [ "htop" ];
}
""",
}


def write_entry(where: Path) -> Path:
    """The entry expression and its stand-ins in `where` (outside the repository); the file to pass."""
    (where / "nixos-unified/nix/modules/configurations").mkdir(parents=True)
    (where / "nixos-unified/nix/modules/configurations/default.nix").write_text(OPTIONS)
    (where / "nixos-unified/autowire.nix").write_text(AUTOWIRE)
    (where / "home-manager.nix").write_text(HOME_MANAGER)
    (where / "nixos.nix").write_text(NIXOS)
    oracle = f"/. + {json.dumps(str(ORACLE.resolve()))}"
    (where / "entry.nix").write_text(ENTRY.replace("@ORACLE@", f"({oracle})"))
    return where / "entry.nix"


def write_repo(root: Path) -> None:
    for rel, text in REPO.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
