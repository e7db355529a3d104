"""The texts of a Phase 0 test-clan: flake.nix and the modules/ tree in the seed's flat categories.

Every `.nix` file under modules/ is a flake-parts module (import-tree imports them all); lower-level
settings live only inside `flake.modules.<class>.<name>` values. Data (the inventory, names, systems)
goes through dendrite.nixlang's printer, so quoting is never done by hand.
"""

from __future__ import annotations

from typing import Any

from dendrite.nixlang.printer import key, string, to_nix

# Pinned by the user's `nix flake lock`; the URLs are the projects' own.
INPUTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nixpkgs", "github:NixOS/nixpkgs/nixos-unstable", ()),
    ("flake-parts", "github:hercules-ci/flake-parts", ()),
    ("import-tree", "github:vic/import-tree", ()),
    ("clan-core", "https://git.clan.lol/clan/clan-core/archive/main.tar.gz", ("nixpkgs", "flake-parts")),
    ("nix-darwin", "github:nix-darwin/nix-darwin/master", ("nixpkgs",)),
    ("home-manager", "github:nix-community/home-manager", ("nixpkgs",)),
    ("terranix", "github:terranix/terranix", ("nixpkgs",)),
)


def flake_nix(description: str) -> str:
    """flake.nix as a manifest: inputs, and `mkFlake` over `import-tree ./modules` (spec §2.2 rule 5)."""
    lines = ["{", f"  description = {string(description)};", "", "  inputs = {"]
    for name, url, follows in INPUTS:
        lines.append(f"    {key(name)}.url = {string(url)};")
        if name == "flake-parts":
            lines.append(f"    {key(name)}.inputs.nixpkgs-lib.follows = {string('nixpkgs')};")
        for f in follows:
            lines.append(f"    {key(name)}.inputs.{key(f)}.follows = {string(f)};")
    lines += [
        "  };",
        "",
        "  outputs =",
        "    inputs@{ flake-parts, ... }:",
        "    flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules);",
        "}",
    ]
    return "\n".join(lines) + "\n"


def flake_parts_module(name: str, systems: list[str], admin: str) -> str:
    """The flake.modules namespace (flakeModules.modules) and a declared flake.meta (spec §2.1, §2.5)."""
    return (
        "# The flake-level frame: flake.modules.<class>.<name> merges across files only because\n"
        "# flakeModules.modules declares it; flake.meta is declared here for the same reason.\n"
        "{ inputs, lib, ... }:\n"
        "{\n"
        "  imports = [ inputs.flake-parts.flakeModules.modules ];\n"
        "\n"
        "  options.flake.meta = lib.mkOption {\n"
        "    type = lib.types.lazyAttrsOf lib.types.anything;\n"
        "    default = { };\n"
        '    description = "Values every module can read as config.flake.meta.";\n'
        "  };\n"
        "\n"
        "  config = {\n"
        f"    systems = {to_nix(systems, indent=2)};\n"
        f"    flake.meta.name = {string(name)};\n"
        f"    flake.meta.admin = {string(admin)};\n"
        "  };\n"
        "}\n"
    )


def clan_module(meta: dict[str, Any], machines: dict[str, Any], instances: dict[str, Any]) -> str:
    """The clan inventory (spec §4.9): the flake module of clan-core, meta, machines and instances.

    Host modules register themselves through `clan.machines.<name>` in modules/hosts/.
    """
    return (
        "# The clan: inventory machines and service instances. clan-core makes nixosConfigurations\n"
        "# and darwinConfigurations from these and from clan.machines (modules/hosts/).\n"
        "{ inputs, ... }:\n"
        "{\n"
        "  imports = [ inputs.clan-core.flakeModules.default ];\n"
        "\n"
        "  clan = {\n"
        f"    meta = {to_nix(meta, indent=2)};\n"
        f"    inventory.machines = {to_nix(machines, indent=2)};\n"
        f"    inventory.instances = {to_nix(instances, indent=2)};\n"
        "  };\n"
        "}\n"
    )


BASE_NIX = """# base: nix settings every machine and every home shares.
let
  settings = {
    experimental-features = [
      "nix-command"
      "flakes"
    ];
    trusted-users = [
      "root"
      "@wheel"
      "@admin"
    ];
  };
in
{
  flake.modules.nixos.base = {
    nix.settings = settings;
  };
  flake.modules.darwin.base = {
    nix.settings = settings;
  };
  flake.modules.homeManager.base = {
    programs.home-manager.enable = true;
  };
}
"""

NIXOS_NIX = """# nixos: what every NixOS machine of the clan has.
{
  flake.modules.nixos.base =
    { lib, ... }:
    {
      time.timeZone = lib.mkDefault "UTC";
      i18n.defaultLocale = lib.mkDefault "en_US.UTF-8";
      services.openssh.settings.PasswordAuthentication = false;
    };
}
"""

DARWIN_NIX = """# darwin: what every nix-darwin machine of the clan has.
{
  flake.modules.darwin.base = {
    programs.zsh.enable = true;
    security.pam.services.sudo_local.touchIdAuth = true;
  };
}
"""

SHELL_NIX = """# shell: fish and starship, for the system and for the home.
{
  flake.modules.nixos.shell = {
    programs.fish.enable = true;
  };
  flake.modules.darwin.shell = {
    programs.fish.enable = true;
  };
  flake.modules.homeManager.shell = {
    programs.fish.enable = true;
    programs.starship.enable = true;
  };
}
"""

DEV_NIX = """# dev: git and direnv in the home.
{
  flake.modules.homeManager.dev = {
    programs.git.enable = true;
    programs.direnv.enable = true;
    programs.direnv.nix-direnv.enable = true;
  };
}
"""

TERRANIX_BASE_NIX = """# terranix: shared OpenTofu settings; `dendrite infra hetzner` adds modules/terranix/hetzner.nix.
{
  flake.modules.terranix.base = {
    terraform.required_providers.hcloud.source = "hetznercloud/hcloud";
  };
}
"""

TERRANIX_FLAKE_NIX = """# terranix: `nix run .#terraform` applies every flake.modules.terranix.* module (workdir terraform/).
{ inputs, config, ... }:
{
  imports = [ inputs.terranix.flakeModule ];

  perSystem =
    { pkgs, ... }:
    {
      terranix.terranixConfigurations.terraform = {
        workdir = "terraform";
        modules = builtins.attrValues config.flake.modules.terranix;
        terraformWrapper.package = pkgs.opentofu.withPlugins (p: [ p.hetznercloud_hcloud ]);
      };
    };
}
"""


def user_module(user: str, email: str) -> str:
    """The admin: metadata in flake.meta, a home, and the home wired into every machine (`users`)."""
    u = string(user)
    return (
        f"# {user}: the clan's admin. Metadata in flake.meta, read by the modules below.\n"
        "{ config, inputs, ... }:\n"
        "let\n"
        f"  meta = config.flake.meta.users.{key(user)};\n"
        "  home = config.flake.modules.homeManager;\n"
        "  homeModules = [\n"
        "    home.base\n"
        "    home.shell\n"
        "    home.dev\n"
        f'    home."users/{user}"\n'
        "  ];\n"
        "in\n"
        "{\n"
        f"  flake.meta.users.{key(user)} = {{\n"
        f"    username = {u};\n"
        f"    email = {string(email)};\n"
        "    sshKeys = [ ];\n"
        "  };\n"
        "\n"
        f'  flake.modules.homeManager."users/{user}" = {{\n'
        "    home.username = meta.username;\n"
        '    home.stateVersion = "25.05";\n'
        "    programs.git.settings.user.email = meta.email;\n"
        "  };\n"
        "\n"
        "  flake.modules.nixos.users = {\n"
        "    imports = [ inputs.home-manager.nixosModules.home-manager ];\n"
        "    home-manager.useGlobalPkgs = true;\n"
        "    home-manager.users.${meta.username}.imports = homeModules;\n"
        "  };\n"
        "\n"
        "  flake.modules.darwin.users = {\n"
        "    imports = [ inputs.home-manager.darwinModules.home-manager ];\n"
        "    system.primaryUser = meta.username;\n"
        '    users.users.${meta.username}.home = "/Users/${meta.username}";\n'
        "    home-manager.useGlobalPkgs = true;\n"
        "    home-manager.users.${meta.username}.imports = homeModules;\n"
        "  };\n"
        "}\n"
    )


GITIGNORE = """# nix
result
result-*
# dendrite's lock, scratch and journal
.dendrite/
# OpenTofu / terranix (the seed's list): state and keys never go to git
terraform/.terraform/
terraform/*.tfstate
terraform/*.tfstate.*
terraform/config.tf.json
.terraform/
*.tfvars.sops.json
.terraform-deploy-key
*nixos-vars.json
# plaintext exports
/plain/
"""

DENDRITE_TOML = """# dendrite's settings for this clan (see the dendrite README).
[secrets]
default_groups = ["admins"]          # like clan.core.sops.defaultGroups: admins can read every var
"""


def readme(name: str, admin: str, machines: list[str], first_nixos: str | None) -> str:
    vps = first_nixos or (machines[0] if machines else "MACHINE")
    return f"""# {name}

A Phase 0 test-clan: dendritic flake-parts (every file under `modules/` is a flake-parts module,
imported by import-tree) with clan-core making the machines. Made by `dendrite init`.

- `flake.nix`: inputs and `mkFlake` over `import-tree ./modules`; nothing else.
- `modules/flake-parts/`: the `flake.modules` namespace and `flake.meta`, the clan inventory
  (`clan.nix`: machines {", ".join(machines)}; zerotier, sshd and emergency-access instances), terranix.
- `modules/{{base,nixos,darwin,shell,dev}}/`: features, each as `flake.modules.<class>.<name>`.
- `modules/hosts/<machine>/default.nix`: each machine's composition, registered with `clan.machines`.
- `modules/users/{admin}.nix`: the admin's metadata (`flake.meta.users.{admin}`) and home.
- `modules/terranix/`: OpenTofu modules for the Hetzner server.
- `sops/`: the admin `{admin}` (your age key) in the group `admins`.

## What to run next

    git add -A && git commit -m "test-clan: initial layout"
    dendrite layout modules              # flake.modules.<class>.<name>, which files define each
    dendrite layout lint                 # the dendritic rules; zero errors expected
    dendrite inventory validate          # machines, tags, instances, roles
    dendrite vars generate               # ssh host keys, zerotier identity and network, passwords
    dendrite vars check
    nix flake lock && nix eval .#modules.nixos --apply builtins.attrNames

Phase 1 ({vps}, the VPS):

    dendrite infra hetzner               # terranix / OpenTofu for the server, firewall, cost per month
    dendrite infra disko {vps} --luks
    dendrite machines update {vps} --dry-run
"""
