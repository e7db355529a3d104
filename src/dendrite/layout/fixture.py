"""A small nixos-unified repository for the sample fleet: the demo converts it, the tests use it."""

from __future__ import annotations

from pathlib import Path

from dendrite.repofs import FILE_MODE, RepoFS

FILES = {
    "flake.nix": """{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-parts.url = "github:hercules-ci/flake-parts";
    nixos-unified.url = "github:srid/nixos-unified";
  };
  outputs = inputs@{ self, ... }:
    inputs.flake-parts.lib.mkFlake { inherit inputs; } {
      systems = [ "x86_64-linux" "aarch64-darwin" ];
      imports = with builtins; map (fn: ./modules/flake-parts/${fn}) (attrNames (readDir ./modules/flake-parts));
    };
}
""",
    "config.nix": """{
  me = { username = "crs58"; fullname = "Cameron Smith"; email = "crs58@example.org"; };
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
  config.me = (import ../../config.nix).me;
}
""",
    "configurations/nixos/cinnabar.nix": """# the Hetzner VPS
{ flake, modulesPath, ... }:
let
  inherit (flake) inputs;
  inherit (inputs) self;
in
{
  imports = [
    self.nixosModules.default
    (modulesPath + "/profiles/qemu-guest.nix")
  ];
  nixpkgs.hostPlatform = "x86_64-linux";
  networking.hostName = "cinnabar";
  users.users.${flake.config.me.username}.isNormalUser = true;
  system.stateVersion = "25.05";
}
""",
    "configurations/darwin/stibnite.nix": """# the primary workstation, migrated last
{ flake, ... }:
{
  imports = [ flake.inputs.self.darwinModules.default ];
  nixpkgs.hostPlatform = "aarch64-darwin";
  system.primaryUser = flake.config.me.username;
  system.stateVersion = 5;
}
""",
    "configurations/darwin/blackphos.nix": """{ flake, ... }:
{
  imports = [ flake.inputs.self.darwinModules.default ];
  nixpkgs.hostPlatform = "aarch64-darwin";
  networking.hostName = "blackphos";
  system.stateVersion = 5;
}
""",
    "configurations/home/crs58@stibnite.nix": """{ flake, ... }:
{
  imports = [ flake.inputs.self.homeModules.default ];
  home.username = flake.config.me.username;
  home.stateVersion = "25.05";
}
""",
    "modules/nixos/default.nix": """{ flake, pkgs, ... }:
{
  imports = [ ./ssh.nix ];
  environment.systemPackages = [ pkgs.git ];
  nix.settings.trusted-users = [ "root" flake.config.me.username ];
}
""",
    "modules/nixos/ssh.nix": """{
  services.openssh.enable = true;
  services.openssh.settings.PasswordAuthentication = false;
}
""",
    "modules/darwin/default.nix": """{ pkgs, ... }:
{
  homebrew.enable = true;
  homebrew.casks = [ "zerotier-one" ];
  environment.systemPackages = [ pkgs.git ];
}
""",
    "modules/home/default.nix": """{ flake, pkgs, ... }:
{
  imports = [ flake.inputs.self.homeModules.shell ];
  home.packages = [ pkgs.ripgrep ];
  programs.git.userEmail = flake.config.me.email;
}
""",
    "modules/home/shell.nix": """{ ... }:
{
  programs.fish.enable = true;
  programs.starship.enable = true;
}
""",
    "overlays/default.nix": """{ flake, ... }:
final: prev: {
  hello-wrapped = prev.hello;
}
""",
}


def write_unified_repo(root: Path) -> list[Path]:
    """The fixture's files below `root` (made if missing), through RepoFS: atomic, 0644/0755 whatever the umask."""
    root.mkdir(parents=True, exist_ok=True)
    fs = RepoFS(root)
    for rel, text in FILES.items():
        fs.write_text(rel, text, FILE_MODE)
    return [root / rel for rel in FILES]
