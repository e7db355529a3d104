"""nixos-unified repositories in the shapes real ones have (written for these tests, not copied).

Each shape follows one public repository, read at the commit named; the names, values and comments are
ours, the structure (which directories, which argument patterns, how `flake` is reached) is theirs:

- SRID: srid/nixos-config at 66ed7369c139252b10850edaa64d989843102825 (2026-08-22). flake-parts
  modules under modules/flake-parts/ read by `readDir` in flake.nix; hosts as directories
  (`configurations/nixos/<h>/default.nix` beside `configuration.nix`); `let inherit (flake) config
  inputs; inherit (inputs) self; in`; `self + /modules/home` and `"${homeMod}/cli/x.nix"` strings;
  `nixos-unified.sshTarget`; a darwin module importing `self.nixosModules.common`; an overlay
  `{ flake, ... }: let … in self: super:` over a packages/ directory.
- TEMPLATE: juspay/nixos-unified-template at 08c90e6f19eb17182c7d9ca107d5369523b83829 (2026-06-21).
  `inputs.nixos-unified.lib.mkFlake { inherit inputs; root = ./.; }` with modules/flake/; the autowire
  import in modules/flake/toplevel.nix (not nixos-flake.nix); a nixos and a darwin host both named
  `example`; `flake.inputs.self.nixosModules.common`; `flake.inputs.<x>.homeModules.<y>` in imports; a
  home module importing its siblings with `map (fn: ./${fn}) (… readDir ./.)`.
- OVERLAYS: cameronraysmith/nix-config at 5f90200c895ee1e7ec8b93886f6f69e3eef4231a (2025-10-02) and the
  overlay layering its notes describe (`{ flake, ... }: final: prev:` overlays using
  `flake.inputs.nixpkgs-stable`): the shape that was converted to an unbound `topLevel`. Also a
  flake-parts module that names `self.nixosModules` and `inherit flake;` passed to an imported file.
"""

from __future__ import annotations

from pathlib import Path

SRID = {
    "flake.nix": """{
  description = "a workstation fleet";
  inputs = {
    flake-parts.url = "github:hercules-ci/flake-parts";
    nixpkgs.url = "github:nixos/nixpkgs/nixos-unstable";
    nix-darwin.url = "github:LnL7/nix-darwin/master";
    nix-darwin.inputs.nixpkgs.follows = "nixpkgs";
    home-manager.url = "github:nix-community/home-manager/master";
    home-manager.inputs.nixpkgs.follows = "nixpkgs";
    nixos-unified.url = "github:srid/nixos-unified";
    agenix.url = "github:ryantm/agenix";
  };
  outputs = inputs@{ self, ... }:
    inputs.flake-parts.lib.mkFlake { inherit inputs; } {
      systems = [ "x86_64-linux" "aarch64-darwin" ];
      imports = (with builtins; map (fn: ./modules/flake-parts/${fn}) (attrNames (readDir ./modules/flake-parts)));
    };
}
""",
    "config.nix": """{
  me = { username = "ada"; fullname = "Ada L"; email = "ada@example.org"; };
}
""",
    "modules/flake-parts/nixos-flake.nix": """{ inputs, ... }:
{
  imports = [
    inputs.nixos-unified.flakeModules.default
    inputs.nixos-unified.flakeModules.autoWire
  ];
  perSystem = { self', ... }: {
    packages.default = self'.packages.activate;
  };
}
""",
    "modules/flake-parts/config.nix": """# the values in config.nix, typed
{ lib, ... }:
{
  options.me = lib.mkOption { type = lib.types.attrsOf lib.types.str; };
  config.me = (import ../../config.nix).me;
}
""",
    "configurations/nixos/lab/default.nix": """{ config, flake, lib, ... }:

let
  inherit (flake) inputs;
  inherit (inputs) self;
  homeMod = self + /modules/home;
in
{
  nixos-unified.sshTarget = "ada@lab";
  imports = [
    self.nixosModules.default
    ./configuration.nix
    (self + /modules/nixos/linux/gc.nix)
  ];
  users.users.${flake.config.me.username}.linger = true;
  home-manager.sharedModules = [
    "${homeMod}/cli/git.nix"
  ];
}
""",
    "configurations/nixos/lab/configuration.nix": """{
  boot.loader.grub.device = "nodev";
  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  nixpkgs.hostPlatform = "x86_64-linux";
  system.stateVersion = "24.05";
}
""",
    "configurations/darwin/studio/default.nix": """{ flake, ... }:
let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [ self.darwinModules.default ];
  nixpkgs.hostPlatform = "aarch64-darwin";
  system.primaryUser = flake.config.me.username;
  system.stateVersion = 5;
}
""",
    "configurations/home/ada@lab.nix": """{ flake, pkgs, ... }:
let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [ self.homeModules.default ];
  home.username = "ada";
  home.packages = [ pkgs.jq ];
  home.stateVersion = "24.05";
}
""",
    "modules/nixos/default.nix": """# every Linux machine
{ flake, lib, ... }:

let
  inherit (flake) config inputs;
  inherit (inputs) self;
in
{
  imports = [
    {
      users.users.${config.me.username}.isNormalUser = lib.mkDefault true;
      home-manager.users.${config.me.username} = { };
      home-manager.sharedModules = [ self.homeModules.default ];
    }
    self.nixosModules.common
    inputs.agenix.nixosModules.default
    ./linux/gc.nix
  ];
  boot.loader.grub.configurationLimit = 5;
}
""",
    "modules/nixos/common.nix": """{ flake, pkgs, ... }:
{
  nix.settings.trusted-users = [ "root" flake.config.me.username ];
  environment.systemPackages = [ pkgs.git ];
}
""",
    "modules/nixos/linux/gc.nix": """{
  nix.gc.automatic = true;
}
""",
    "modules/darwin/default.nix": """# every Mac
{ flake, ... }:
let
  inherit (flake) config inputs;
  inherit (inputs) self;
in
{
  imports = [
    {
      users.users.${flake.config.me.username}.home = "/Users/${flake.config.me.username}";
      home-manager.users.${config.me.username} = { };
    }
    self.nixosModules.common
    inputs.agenix.darwinModules.default
    ./all/fonts.nix
  ];
}
""",
    "modules/darwin/all/fonts.nix": """{ pkgs, ... }:
{
  fonts.packages = [ pkgs.inter ];
}
""",
    "modules/home/default.nix": """{
  home.stateVersion = "24.05";
  imports = [
    ./cli/git.nix
  ];
}
""",
    "modules/home/cli/git.nix": """{ flake, ... }:
{
  programs.git.enable = true;
  programs.git.userEmail = flake.config.me.email;
}
""",
    "overlays/default.nix": """{ flake, ... }:

let
  inherit (flake) inputs;
  inherit (inputs) self;
  packages = self + /packages;
in
self: super:
let
  entries = builtins.readDir packages;
  make = name: _: { name = builtins.replaceStrings [ ".nix" ] [ "" ] name; value = self.callPackage (packages + "/${name}") { }; };
in
builtins.listToAttrs (builtins.attrValues (builtins.mapAttrs make entries))
""",
    "packages/hello-ada.nix": """{ writeShellScriptBin }: writeShellScriptBin "hello-ada" "echo hello"
""",
}

TEMPLATE = {
    "flake.nix": """{
  description = "a nixos-unified template";
  inputs = {
    nixpkgs.url = "github:nixos/nixpkgs/nixos-unstable";
    nix-darwin.url = "github:LnL7/nix-darwin";
    home-manager.url = "github:nix-community/home-manager";
    flake-parts.url = "github:hercules-ci/flake-parts";
    nixos-unified.url = "github:srid/nixos-unified";
    nix-index-database.url = "github:nix-community/nix-index-database";
  };
  outputs = inputs:
    inputs.nixos-unified.lib.mkFlake
      { inherit inputs; root = ./.; };
}
""",
    "modules/flake/toplevel.nix": """# glue
{ inputs, ... }:
{
  imports = [
    inputs.nixos-unified.flakeModules.default
    inputs.nixos-unified.flakeModules.autoWire
  ];
  perSystem = { self', pkgs, ... }: {
    formatter = pkgs.nixpkgs-fmt;
    packages.default = self'.packages.activate;
  };
}
""",
    "modules/flake/devshell.nix": """{
  perSystem = { pkgs, ... }: {
    devShells.default = pkgs.mkShell { packages = [ pkgs.just ]; };
  };
}
""",
    "modules/flake/template.nix": """# `nix flake init` from this repository
{ inputs, ... }:
{
  flake.templates.default = {
    description = "a starting point";
    path = builtins.path { path = inputs.self; };
  };
}
""",
    "configurations/darwin/example.nix": """# the Mac
{ flake, lib, ... }:

let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [
    self.darwinModules.default
  ];
  nixpkgs.hostPlatform = "aarch64-darwin";
  networking.hostName = "example";
  system.primaryUser = "runner";
  home-manager.backupFileExtension = "before-template";
  system.stateVersion = 4;
}
""",
    "configurations/nixos/example/default.nix": """# the Linux machine
{ flake, ... }:

let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [
    self.nixosModules.default
    self.nixosModules.gui
    ./configuration.nix
  ];
}
""",
    "configurations/nixos/example/configuration.nix": """{
  boot.loader.grub.device = "nodev";
  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "btrfs"; };
  nixpkgs.hostPlatform = "x86_64-linux";
  networking.hostName = "example";
  system.stateVersion = "24.11";
}
""",
    "configurations/home/runner.nix": """{ flake, ... }:
let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [
    self.homeModules.default
  ];
  me = { username = "runner"; fullname = "Run Ner"; email = "runner@example.org"; };
  home.stateVersion = "24.11";
}
""",
    "modules/nixos/default.nix": """# the nixos configuration
{ flake, ... }:
{
  imports = [
    flake.inputs.self.nixosModules.common
  ];
  services.openssh.enable = true;
}
""",
    "modules/nixos/common/default.nix": """{
  imports = [
    ./myusers.nix
  ];
}
""",
    "modules/nixos/common/myusers.nix": """{ flake, lib, ... }:
{
  users.users.runner = { isNormalUser = lib.mkDefault true; extraGroups = [ "wheel" ]; };
  nix.settings.trusted-users = [ "root" "runner" ];
}
""",
    "modules/nixos/gui/default.nix": """{
  services.xserver.enable = true;
}
""",
    "modules/darwin/default.nix": """{
  security.pam.services.sudo_local.touchIdAuth = true;
  system.defaults.dock.autohide = true;
}
""",
    "modules/home/default.nix": """# every file beside this one
{
  imports =
    with builtins;
    map
      (fn: ./${fn})
      (filter (fn: fn != "default.nix") (attrNames (readDir ./.)));
}
""",
    "modules/home/me.nix": """{ config, lib, ... }:
{
  options.me = {
    username = lib.mkOption { type = lib.types.str; };
    fullname = lib.mkOption { type = lib.types.str; };
    email = lib.mkOption { type = lib.types.str; };
  };
  config.home.username = config.me.username;
}
""",
    "modules/home/nix-index.nix": """{ flake, ... }:
{
  imports = [
    flake.inputs.nix-index-database.homeModules.nix-index
  ];
  programs.nix-index.enable = true;
}
""",
}

OVERLAYS = {
    "flake.nix": """{
  inputs.nixpkgs.url = "github:nixos/nixpkgs/nixos-unstable";
  inputs.nixpkgs-stable.url = "github:nixos/nixpkgs/nixos-25.05";
  inputs.flake-parts.url = "github:hercules-ci/flake-parts";
  inputs.nixos-unified.url = "github:srid/nixos-unified";
  inputs.home-manager.url = "github:nix-community/home-manager";
  outputs = inputs@{ self, ... }:
    inputs.flake-parts.lib.mkFlake { inherit inputs; } {
      systems = [ "aarch64-linux" ];
      imports = with builtins; map (fn: ./modules/flake-parts/${fn}) (attrNames (readDir ./modules/flake-parts));
    };
}
""",
    "modules/flake-parts/nixos-flake.nix": """{ inputs, ... }:
{
  imports = [ inputs.nixos-unified.flakeModules.default inputs.nixos-unified.flakeModules.autoWire ];
}
""",
    "modules/flake-parts/vm-check.nix": """# a second name for the base module, for a VM test
{ self, lib, ... }:
{
  flake.lib.vmModules = [ self.nixosModules.default ];
}
""",
    "overlays/stable.nix": """# packages that are broken on unstable come from the stable channel
{ flake, ... }: final: prev:
let
  stable = import flake.inputs.nixpkgs-stable { inherit (prev.stdenv.hostPlatform) system; };
in
{
  inherit (stable) awscli2;
}
""",
    "overlays/default.nix": """{ flake, ... }:
final: prev: {
  myLib = flake.inputs.self.lib or { };
}
""",
    "configurations/nixos/orb/default.nix": """{ flake, pkgs, lib, modulesPath, ... }:
let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [
    self.nixosModules.default
    "${modulesPath}/virtualisation/lxc-container.nix"
    (import ./tools.nix { inherit flake; })
  ];
  nixpkgs.hostPlatform = "aarch64-linux";
  nixpkgs.overlays = [ self.overlays.stable ];
  system.stateVersion = "21.05";
}
""",
    "configurations/nixos/orb/tools.nix": """{ flake }:
{ pkgs, ... }:
{
  environment.systemPackages = [ pkgs.awscli2 ];
  environment.etc."fleet-owner".text = flake.config.owner or "nobody";
}
""",
    "modules/nixos/default.nix": """{ flake, ... }:
let
  flakeInputs = flake.inputs;
in
{
  imports = [ ./shared/nix.nix ];
  nix.registry.nixpkgs.flake = flakeInputs.nixpkgs;
}
""",
    "modules/nixos/shared/nix.nix": """{
  nix.settings.experimental-features = [ "nix-command" "flakes" ];
}
""",
}

SHAPES = {"srid-nixos-config": SRID, "nixos-unified-template": TEMPLATE, "overlays": OVERLAYS}


def write_shape(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
