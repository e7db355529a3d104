"""Nix files of real-world shape and size (1-20 KB), for bench/nixparse.py --real.

Modelled on public dendritic flake-parts repositories (one feature per file under modules/, nixfmt's
one-item-per-line style, `perSystem` checks made of `runCommand` with long indented shell scripts,
clan inventories, home-manager modules with long `settings` sets) and nixos-unified ones (hosts under
configurations/, modules/{nixos,darwin,home}, `{ flake, pkgs, ... }:` with `flake.inputs`), plus
NixOS service modules with many documented options. Every file is a function whose free variables
are bound, so `nix-instantiate --parse` accepts it; sizes are drawn log-uniformly from 1 to 20 KB.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path

WORDS = [
    "git",
    "ssh",
    "zerotier",
    "fish",
    "zsh",
    "nix",
    "boot",
    "users",
    "fonts",
    "desktop",
    "backup",
    "dns",
    "cachix",
    "direnv",
    "tmux",
    "neovim",
    "starship",
    "docker",
    "k3s",
    "restic",
    "tailscale",
    "home",
    "atuin",
    "bat",
    "btop",
    "eza",
    "fzf",
    "gpg",
    "jq",
    "ripgrep",
    "yazi",
    "zoxide",
    "lazygit",
    "helix",
    "syncthing",
    "caddy",
    "grafana",
    "loki",
    "prometheus",
    "postgres",
    "redis",
    "nginx",
    "sops",
    "age",
    "wireguard",
]
HOSTS = ("cinnabar", "electrum", "blackphos", "stibnite", "rosegold", "argentum", "galena", "orb")
USERS = ("crs58", "cameron", "raquel", "janettesmith", "christophersmith")


def _w(r: random.Random) -> str:
    return r.choice(WORDS)


def _comment(r: random.Random, indent: str) -> str:
    lines = [
        "keep in sync with the upstream module",
        "TODO: drop once the fix lands in nixpkgs",
        "see https://github.com/NixOS/nixpkgs/issues/" + str(r.randint(100000, 399999)),
        "the controller must come up before its peers",
        f"{_w(r)} reads this at start-up; a rebuild is enough",
        "values below mirror the defaults; changing them needs a reboot",
    ]
    return "".join(f"{indent}# {r.choice(lines)}\n" for _ in range(r.randint(1, 3)))


def _list(r: random.Random, indent: str, items: list[str]) -> str:
    if len(items) <= 1:
        return f"[ {' '.join(items)} ]"
    inner = "".join(f"{indent}  {i}\n" for i in items)
    return f"[\n{inner}{indent}]"


def _shell(r: random.Random, indent: str, name: str) -> str:
    """An indented string of shell, with interpolations, as in runCommand checks and activation scripts."""
    out = [f'{indent}echo "Validating {name}..."\n', "\n"]
    for _ in range(r.randint(4, 14)):
        w = _w(r)
        kind = r.randrange(5)
        if kind == 0:
            out.append(f"{indent}# Check that {w} is configured\n")
            out.append(f'{indent}if [ ! -f "${{config.{w}.configFile}}" ]; then\n')
            out.append(f'{indent}  echo "ERROR: {w} config not found" >&2\n{indent}  exit 1\n{indent}fi\n')
        elif kind == 1:
            out.append(
                f'{indent}${{\n{indent}  if builtins.hasAttr "{w}" config.flake.modules.homeManager then\n'
            )
            out.append(f"{indent}    ''echo \"OK: {w} module found\"''\n{indent}  else\n")
            out.append(f"{indent}    ''echo \"ERROR: {w} module missing\" >&2 && exit 1''\n{indent}}}\n")
        elif kind == 2:
            out.append(f"{indent}COUNT=$(${{pkgs.jq}}/bin/jq '.{w} | length' \"$out/{w}.json\")\n")
            out.append(f'{indent}echo "Found $COUNT {w} entries"\n')
        elif kind == 3:
            out.append(f"{indent}for host in {' '.join(r.sample(HOSTS, 3))}; do\n")
            out.append(
                f'{indent}  echo "checking $host: ${{lib.concatStringsSep "," cfg.{w}}}"\n{indent}done\n'
            )
        else:
            out.append(f'{indent}install -Dm644 ${{./files/{w}.conf}} "$out/etc/{w}.conf"\n')
        out.append("\n")
    out.append(f"{indent}touch $out\n")
    return "".join(out)


def _value(r: random.Random, indent: str, depth: int) -> str:
    kind = r.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return f'"{_w(r)}-{r.randint(0, 99)}"'
    if kind == 1:
        return r.choice(["true", "false"])
    if kind == 2:
        return str(r.randint(0, 65535))
    if kind == 3:
        return _list(r, indent, [f'"{_w(r)}"' for _ in range(r.randint(1, 6))])
    if kind == 4:
        return f'"${{config.home.homeDirectory}}/.config/{_w(r)}"'
    if kind == 5:
        return f"lib.mkDefault {r.randint(1, 9)}.{r.randint(0, 9)}"
    return _attrs(r, indent, depth + 1, r.randint(2, 7))


def _fresh(r: random.Random, seen: set[str]) -> str:
    """A name not used yet in one attribute set (Nix rejects an attribute defined twice)."""
    name = _w(r)
    while name in seen:
        name = f"{_w(r)}-{r.randint(0, 999)}"
    seen.add(name)
    return name


def _attrs(r: random.Random, indent: str, depth: int, n: int) -> str:
    inner = indent + "  "
    body = []
    seen: set[str] = set()
    for _ in range(n):
        if r.random() < 0.15:
            body.append(_comment(r, inner))
        key = _fresh(r, seen)
        key = f'"{key}"' if "-" in key and r.random() < 0.5 else key
        body.append(f"{inner}{key} = {_value(r, inner, depth)};\n")
    return "{\n" + "".join(body) + indent + "}"


# ------------------------------------------------------------------------------ shapes, each to a size


def dendritic_checks(r: random.Random, size: int) -> str:
    head = (
        "{ self, config, ... }:\n{\n  perSystem =\n    {\n      pkgs,\n      lib,\n      system,\n"
        "      ...\n    }:\n    let\n      cfg = config.flake.meta;\n    in\n    {\n      checks = {\n"
    )
    parts = [head]
    i = 0
    while sum(map(len, parts)) < size:
        name = f"{_w(r)}-{_w(r)}-{i}"
        i += 1
        parts.append(_comment(r, "        "))
        parts.append(
            f'        {name} =\n          pkgs.runCommand "{name}"\n            {{\n'
            f"              nativeBuildInputs = {_list(r, '              ', [f'pkgs.{_w(r)}' for _ in range(r.randint(1, 3))])};\n"
            f'              passthru.meta.description = "Validate {name} across the fleet";\n'
            f"            }}\n            ''\n{_shell(r, '              ', name)}            '';\n\n"
        )
    parts.append("      };\n    };\n}\n")
    return "".join(parts)


def clan_inventory(r: random.Random, size: int) -> str:
    parts = ["{ config, lib, ... }:\n{\n  clan.inventory = {\n    machines = {\n"]
    i = 0
    while sum(map(len, parts)) < size * 0.7:
        host = f"{r.choice(HOSTS)}{i or ''}"
        i += 1
        tags = _list(
            r, "      ", [f'"{t}"' for t in r.sample(["nixos", "darwin", "cloud", "laptop", "fleet"], 3)]
        )
        parts.append(
            f"    {host} = {{\n      tags = {tags};\n"
            f'      machineClass = "{r.choice(["nixos", "darwin"])}";\n'
            f'      description = "{r.choice(USERS)}\'s {_w(r)} machine, {_w(r)} controller";\n    }};\n\n'
        )
    parts.append("    };\n    instances = {\n")
    while sum(map(len, parts)) < size:
        w = _w(r)
        parts.append(
            f"      {w}-{i} = {{\n        module = {{\n"
            f'          name = "{w}";\n          input = "clan-core";\n        }};\n'
            f'        roles.default.tags."{r.choice(["nixos", "fleet"])}" = {{ }};\n'
            f"        roles.default.settings = {_attrs(r, '        ', 2, r.randint(2, 5))};\n      }};\n"
        )
        i += 1
    parts.append("    };\n  };\n}\n")
    return "".join(parts)


def home_module(r: random.Random, size: int) -> str:
    feature = _w(r)
    parts = [
        f"# modules/home/{feature}.nix: {feature} for every user, darwin and nixos alike\n"
        f"{{ config, lib, ... }}:\n{{\n  flake.modules.homeManager.{feature} =\n"
        "    {\n      pkgs,\n      lib,\n      config,\n      ...\n    }:\n    {\n"
        f"      home.packages = with pkgs; {_list(r, '      ', r.sample(WORDS, 8))};\n"
    ]
    seen: set[str] = set()
    while sum(map(len, parts)) < size:
        w = _fresh(r, seen)
        parts.append(_comment(r, "      "))
        parts.append(f"      programs.{w} = {{\n        enable = true;\n")
        parts.append(f"        settings = {_attrs(r, '        ', 1, r.randint(4, 12))};\n")
        if r.random() < 0.4:
            parts.append(
                f"        extraConfig = ''\n          # {w} managed by home-manager\n"
                f'          set -g {w}_home "${{config.home.homeDirectory}}/.{w}"\n'
                f"          alias {w}='{w} --color=auto'\n        '';\n"
            )
        parts.append("      };\n")
    parts.append("    };\n}\n")
    return "".join(parts)


def unified_host(r: random.Random, size: int) -> str:
    host, user = r.choice(HOSTS), r.choice(USERS)
    keys = [f'"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{"x" * 43} {user}@{h}"' for h in r.sample(HOSTS, 3)]
    groups = _list(r, "    ", ['"wheel"', '"networkmanager"', '"docker"'])
    parts = [
        f"# configurations/nixos/{host}/default.nix (nixos-unified)\n"
        "{ flake, config, pkgs, lib, ... }:\nlet\n  inherit (flake) inputs;\n  inherit (inputs) self;\nin\n{\n"
        "  imports = [\n    self.nixosModules.default\n    ./configuration.nix\n"
        '    inputs.disko.nixosModules.disko\n    (inputs.nixpkgs + "/nixos/modules/profiles/qemu-guest.nix")\n  ];\n\n'
        '  nixpkgs.hostPlatform = "x86_64-linux";\n'
        f'  networking.hostName = "{host}";\n  system.stateVersion = "25.05";\n\n'
        f"  users.users.{user} = {{\n    isNormalUser = true;\n"
        f"    extraGroups = {groups};\n"
        f"    openssh.authorizedKeys.keys = {_list(r, '    ', keys)};\n  }};\n\n"
    ]
    seen: set[str] = {"openssh"}
    while sum(map(len, parts)) < size:
        w = _fresh(r, seen)
        parts.append(_comment(r, "  "))
        parts.append(f"  services.{w} = {_attrs(r, '  ', 1, r.randint(3, 9))};\n\n")
        if r.random() < 0.3:
            parts.append(
                f'  systemd.services.{w}-sync = {{\n    wantedBy = [ "multi-user.target" ];\n'
                f'    serviceConfig.ExecStart = "${{lib.getExe pkgs.{w}}} --sync";\n'
                f"    script = ''\n      set -euo pipefail\n"
                f"      ${{pkgs.coreutils}}/bin/mkdir -p /var/lib/{w}\n      exec {w} --state /var/lib/{w}\n    '';\n  }};\n\n"
            )
    parts.append("}\n")
    return "".join(parts)


def nixos_service(r: random.Random, size: int) -> str:
    name = _w(r)
    parts = [
        f"{{ config, lib, pkgs, ... }}:\nlet\n  cfg = config.services.{name};\n"
        "  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;\n"
        f"  settingsFormat = pkgs.formats.toml {{ }};\nin\n{{\n  options.services.{name} = {{\n"
        f'    enable = mkEnableOption "the {name} service";\n\n'
    ]
    seen: set[str] = {"enable"}
    while sum(map(len, parts)) < size * 0.85:
        w = _fresh(r, seen)
        ty = r.choice(["types.str", "types.bool", "types.port", "types.path", "(types.listOf types.str)"])
        default = r.choice(['"localhost"', "false", "8080", "/var/lib/" + name, '[ "a" "b" ]'])
        parts.append(
            f"    {w} = mkOption {{\n      type = {ty};\n      default = {default};\n"
            f'      example = literalExpression "{default.replace(chr(34), chr(92) + chr(34))}";\n'
            f"      description = ''\n        The {w} of {name}. Changing it restarts the service;\n"
            f"        see the upstream documentation of {name} for the accepted values.\n      '';\n    }};\n\n"
        )
    parts.append(
        "  };\n\n  config = mkIf cfg.enable {\n"
        f'    environment.etc."{name}/config.toml".source = settingsFormat.generate "{name}.toml" cfg.settings;\n'
        f"    systemd.services.{name} = {{\n"
        f'      description = "{name} daemon";\n      wantedBy = [ "multi-user.target" ];\n'
        f'      serviceConfig = {{\n        ExecStart = "${{pkgs.{name}}}/bin/{name} --config /etc/{name}/config.toml";\n'
        '        DynamicUser = true;\n        Restart = "on-failure";\n      };\n    };\n  };\n}\n'
    )
    return "".join(parts)


SHAPES: list[tuple[Callable[[random.Random, int], str], int, str]] = [
    (dendritic_checks, 3, "modules/checks"),
    (home_module, 4, "modules/home"),
    (clan_inventory, 1, "modules/clan"),
    (unified_host, 3, "configurations/nixos"),
    (nixos_service, 3, "modules/nixos"),
]


def build(root: Path, n: int, seed: int = 11, low: int = 1_000, high: int = 20_000) -> list[Path]:
    """`n` files under `root` in a repository's folders, sizes log-uniform in [low, high] bytes."""
    r = random.Random(seed)
    weighted = [(make, folder) for make, weight, folder in SHAPES for _ in range(weight)]
    paths = []
    for i in range(n):
        make, folder = r.choice(weighted)
        # the last part added overshoots the drawn size by up to ~3 KB: draw below `high` by that much
        size = int(math.exp(r.uniform(math.log(low), math.log(high - 3_000))))
        path = root / folder / f"{make.__name__.replace('_', '-')}-{i:04d}.nix"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make(r, size))
        paths.append(path)
    return paths
