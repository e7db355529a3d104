"""Benchmark: parse a generated corpus of realistic Nix files, dendrite versus nix-instantiate --parse.

The corpus (>= 2,000 files, a few MB): dendritic flake-parts modules, NixOS modules with options,
host configurations, package expressions, overlays and flake.nix files, with comments, strings,
indented strings and interpolated paths. dendrite parses every file on both cores; the anchor runs one
`nix-instantiate --parse` process per file (a sample, scaled), as a linter calling Nix would.
With --real: files of real-world shape and size (bench/nixcorpus.py: 1-20 KB dendritic checks and
home modules, clan inventories, nixos-unified hosts, NixOS service modules; long attribute sets,
strings, comments), checked as a user checks them, one `dendrite nix check-syntax DIR` process,
against the same `nix-instantiate --parse` loop. Target (issue 11): >= 20x.
Run: make bench   (or: .venv/bin/python bench/nixparse.py [--files N] [--sample M] [--profile] [--real])
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import nixcorpus
from dendrite.nixlang import parse_file

WORDS = [
    "shell",
    "git",
    "ssh",
    "zerotier",
    "fish",
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
]


def _w(r: random.Random) -> str:
    return r.choice(WORDS)


def dendritic_module(r: random.Random) -> str:
    name = _w(r)
    pkgs = " ".join(r.sample(WORDS, r.randint(2, 6)))
    return f"""# modules/{name}.nix: one feature across classes
{{ inputs, config, lib, ... }}:
let
  cfg = config.flake.meta.{name};
  owner = config.flake.meta.users.crs58;
in
{{
  flake.modules = {{
    nixos.{name} =
      {{ pkgs, lib, ... }}:
      {{
        environment.systemPackages = with pkgs; [ {pkgs} ];
        services.{name}.enable = lib.mkDefault true;
        users.users.${{owner.name}}.extraGroups = [ "{name}" ];
      }};
    darwin.{name} =
      {{ pkgs, ... }}:
      {{
        homebrew.casks = [ "{name}" ];
        environment.systemPackages = [ pkgs.{_w(r)} ];
      }};
    homeManager.{name} =
      {{ pkgs, config, ... }}:
      {{
        programs.{name} = {{
          enable = true;
          settings = {{
            theme = "{_w(r)}";
            path = "${{config.home.homeDirectory}}/.config/{name}";
            retries = {r.randint(1, 9)};
            ratio = {r.random():.3f};
          }};
        }};
        home.file.".{name}rc".text = ''
          # generated
          export {name.upper()}_HOME="${{config.home.homeDirectory}}"
          alias {name}='{name} --verbose'
        '';
      }};
  }};
  perSystem = {{ pkgs, ... }}: {{
    checks.{name} = pkgs.runCommand "check-{name}" {{ }} "touch $out";
  }};
}}
"""


def nixos_module(r: random.Random) -> str:
    name = _w(r)
    opts = "\n".join(
        f"""    {w} = mkOption {{
      type = types.{r.choice(["str", "bool", "int", "port", "path"])};
      default = {r.choice(['"x"', "true", "42", "null", "./default.conf"])};
      description = "The {w} of {name}.";
    }};"""
        for w in r.sample(WORDS, r.randint(3, 8))
    )
    return f"""{{ config, lib, pkgs, ... }}:
with lib;
let
  cfg = config.services.{name};
  configFile = pkgs.writeText "{name}.conf" (builtins.toJSON cfg.settings);
in
{{
  options.services.{name} = {{
    enable = mkEnableOption "{name}";
{opts}
    settings = mkOption {{ type = types.attrsOf types.anything; default = {{ }}; }};
  }};

  config = mkIf cfg.enable {{
    systemd.services.{name} = {{
      description = "{name} daemon";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      serviceConfig = {{
        ExecStart = "${{pkgs.{name}}}/bin/{name} --config ${{configFile}}";
        Restart = "on-failure";
        DynamicUser = true;
      }};
    }};
    networking.firewall.allowedTCPPorts = optional (cfg ? port) {r.randint(1000, 9999)};
    assertions = [ {{ assertion = cfg.enable -> true; message = "{name} needs itself"; }} ];
  }};
}}
"""


def host(r: random.Random) -> str:
    name = r.choice(["cinnabar", "blackphos", "rosegold", "argentum", "stibnite"])
    mods = " ".join(r.sample(WORDS, r.randint(3, 8)))
    return f"""{{ config, ... }}:
let
  flakeModules = config.flake.modules.nixos;
in
{{
  flake.modules.nixos."machines/nixos/{name}" =
    {{ lib, pkgs, modulesPath, ... }}:
    {{
      imports = with flakeModules; [ {mods} ] ++ [ (modulesPath + "/profiles/qemu-guest.nix") ];
      networking.hostName = "{name}";
      boot.loader.grub = {{ enable = true; device = "/dev/sda"; }};
      fileSystems."/" = {{ device = "/dev/disk/by-label/nixos"; fsType = "ext4"; }};
      system.stateVersion = "25.05";
      nix.settings = {{
        experimental-features = [ "nix-command" "flakes" ];
        trusted-users = [ "root" "@wheel" ];
      }};
    }};
}}
"""


def package(r: random.Random) -> str:
    name = _w(r)
    return f"""{{ lib, stdenv, fetchFromGitHub, rustPlatform, pkg-config, openssl, darwin }}:

rustPlatform.buildRustPackage rec {{
  pname = "{name}";
  version = "{r.randint(0, 3)}.{r.randint(0, 20)}.{r.randint(0, 9)}";

  src = fetchFromGitHub {{
    owner = "example";
    repo = pname;
    rev = "v${{version}}";
    hash = "sha256-{"A" * 43}=";
  }};

  cargoHash = "sha256-{"B" * 43}=";
  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ openssl ] ++ lib.optionals stdenv.isDarwin [ darwin.apple_sdk.frameworks.Security ];
  doCheck = !stdenv.isDarwin;
  postInstall = ''
    install -Dm644 ${{./completions}}/{name}.fish $out/share/fish/vendor_completions.d/{name}.fish
  '';

  meta = with lib; {{
    description = "A {name} tool";
    homepage = "https://github.com/example/{name}";
    license = licenses.mit;
    maintainers = with maintainers; [ ];
    mainProgram = "{name}";
  }};
}}
"""


def overlay(r: random.Random) -> str:
    a, b = _w(r), _w(r)
    return f"""final: prev: {{
  {a} = prev.{a}.overrideAttrs (old: {{
    patches = (old.patches or [ ]) ++ [ ./patches/{a}.patch ];
    doCheck = false;
  }});
  {b}-wrapped = final.symlinkJoin {{
    name = "{b}-wrapped";
    paths = [ final.{b} ];
    postBuild = "wrapProgram $out/bin/{b} --set {b.upper()}_CONFIG ${{./config}}/{b}.toml";
  }};
}}
"""


def flake(r: random.Random) -> str:
    return """{
  description = "nix-config";
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-parts.url = "github:hercules-ci/flake-parts";
    import-tree.url = "github:vic/import-tree";
    clan-core = {
      url = "https://git.clan.lol/clan/clan-core/archive/main.tar.gz";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };
  outputs = inputs@{ flake-parts, ... }: flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules);
}
"""


SHAPES = [(dendritic_module, 5), (nixos_module, 4), (host, 2), (package, 3), (overlay, 1), (flake, 1)]


def build_corpus(root: Path, n: int, seed: int = 7) -> list[Path]:
    r = random.Random(seed)
    makers = [m for m, weight in SHAPES for _ in range(weight)]
    paths = []
    for i in range(n):
        p = root / f"f{i:05d}.nix"
        p.write_text(r.choice(makers)(r))
        paths.append(p)
    return paths


def _parse_chunk(paths: list[str]) -> int:
    bad = 0
    for p in paths:
        bad += not parse_file(Path(p)).ok
    return bad


def dendrite_all(paths: list[Path], jobs: int) -> int:
    names = [str(p) for p in paths]
    if jobs == 1:
        return _parse_chunk(names)
    chunks = [names[i :: jobs * 4] for i in range(jobs * 4)]
    with get_context("fork").Pool(jobs) as pool:
        return sum(pool.map(_parse_chunk, chunks))


def nix_loop(nix: str, files: list[Path], env: dict[str, str]) -> tuple[float, int]:
    """One `nix-instantiate --parse` process per file: seconds, and how many files it rejected."""
    t0 = time.perf_counter()
    bad = sum(
        subprocess.run([nix, "--parse", str(p)], env=env, capture_output=True, check=False).returncode != 0
        for p in files
    )
    return time.perf_counter() - t0, bad


def real_main(nix: str, env: dict[str, str], base: Path, n: int, sample_size: int) -> None:
    """Real-world-sized files through `dendrite nix check-syntax DIR`, one process, start-up included."""
    dendrite = Path(sys.executable).parent / "dendrite"
    if not dendrite.exists():
        sys.exit("the dendrite console script is needed beside this Python: make .venv/bin/dendrite")
    run_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}  # a user's Python caches
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp) / "repo"
        paths = nixcorpus.build(root, n)
        sizes = sorted(p.stat().st_size for p in paths)
        warm = Path(tmp) / "warm.nix"  # unmeasured: bytecode cached, as after any earlier command
        warm.write_text("{ }\n")
        subprocess.run(
            [dendrite, "nix", "check-syntax", str(warm)], env=run_env, capture_output=True, check=False
        )
        t0 = time.perf_counter()
        res = subprocess.run(
            [dendrite, "nix", "check-syntax", str(root)],
            env=run_env,
            capture_output=True,
            text=True,
            check=False,
        )
        t_dendrite = time.perf_counter() - t0
        if res.returncode != 0:
            sys.exit(f"dendrite rejected the corpus ({res.returncode}): {(res.stdout + res.stderr)[:500]}")
        sample = paths[:: max(1, len(paths) // sample_size)][:sample_size]
        t_sample, nix_bad = nix_loop(nix, sample, env)
        t_nix = t_sample * len(paths) / len(sample)
    mb = sum(sizes) / 1e6
    print(
        f"corpus: {len(paths)} files, {mb:.2f} MB, {sizes[0] / 1e3:.1f} to {sizes[-1] / 1e3:.1f} KB "
        f"(median {sizes[len(sizes) // 2] / 1e3:.1f} KB); nix rejected {nix_bad} of {len(sample)} sampled"
    )
    print(
        f"dendrite nix check-syntax DIR (a process)  {t_dendrite:7.2f} s  {len(paths) / t_dendrite:7.0f} files/s"
        f"  {mb / t_dendrite:6.2f} MB/s"
    )
    print(
        f"nix-instantiate --parse per file           {t_nix:7.2f} s  {len(paths) / t_nix:7.0f} files/s"
        f"  {mb / t_nix:6.2f} MB/s  ({len(sample)} run, scaled)"
    )
    print(f"ratio: {t_nix / t_dendrite:.1f}x   (target >= 20x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, help="files in the corpus (default 2,000; 400 with --real)")
    ap.add_argument(
        "--sample", type=int, help="files run through nix-instantiate (default 100; 50 with --real)"
    )
    ap.add_argument("--profile", action="store_true", help="also print where dendrite's time goes")
    ap.add_argument("--real", action="store_true", help="1-20 KB files through `dendrite nix check-syntax`")
    args = ap.parse_args()
    nix = shutil.which("nix-instantiate")
    if nix is None:
        sys.exit("nix-instantiate is needed as the anchor (Debian nix-bin)")
    env = {**os.environ, "NIX_CONFIG": "build-users-group =", "HOME": tempfile.gettempdir()}
    base = Path(os.environ.get("BENCH_TMP", Path(__file__).resolve().parent.parent / ".bench-tmp"))
    base.mkdir(exist_ok=True)
    if args.real:
        real_main(nix, env, base, args.files or 400, args.sample or 50)
        return
    args.files, args.sample = args.files or 2000, args.sample or 100
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        paths = build_corpus(Path(tmp), args.files)
        size = sum(p.stat().st_size for p in paths)
        jobs = os.cpu_count() or 1
        t0 = time.perf_counter()
        bad = dendrite_all(paths, 1)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        bad_par = dendrite_all(paths, jobs)
        t_par = time.perf_counter() - t0
        assert bad == bad_par
        sample = paths[:: max(1, len(paths) // args.sample)][: args.sample]
        t0 = time.perf_counter()
        nix_bad = 0
        for p in sample:
            nix_bad += (
                subprocess.run([nix, "--parse", str(p)], env=env, capture_output=True, check=False).returncode
                != 0
            )
        t_nix = (time.perf_counter() - t0) * len(paths) / len(sample)
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            _parse_chunk([str(p) for p in paths[:300]])
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
            print(buf.getvalue())
    mb = size / 1e6
    print(
        f"corpus: {len(paths)} files, {mb:.2f} MB; files rejected: dendrite {bad}, nix {nix_bad} of {len(sample)} sampled"
    )
    print(f"dendrite, 1 core       {t_one:7.2f} s  {len(paths) / t_one:8.0f} files/s  {mb / t_one:6.2f} MB/s")
    print(
        f"dendrite, {jobs} cores      {t_par:7.2f} s  {len(paths) / t_par:8.0f} files/s  {mb / t_par:6.2f} MB/s"
    )
    print(
        f"nix-instantiate/file   {t_nix:7.2f} s  {len(paths) / t_nix:8.0f} files/s  {mb / t_nix:6.2f} MB/s"
        f"  ({len(sample)} run, scaled)"
    )
    print(f"ratio: {t_nix / t_par:.1f}x ({t_nix / t_one:.1f}x on one core)")


if __name__ == "__main__":
    main()
