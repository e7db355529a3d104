"""Benchmark: `layout lint` and `layout modules` over 5,000 dendritic module files, against one
`nix-instantiate --parse` per file (parse only: the anchor), both measured in the same run.
Run: make bench   (or: .venv/bin/python bench/layout.py [--files N] [--sample M])
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dendrite.layout.lint import analyse_files, lint
from nixparse import dendritic_module, host

HEADER = "{ inputs, ... }: { imports = [ inputs.flake-parts.flakeModules.modules ]; }\n"
META = (
    "{ lib, ... }: { options.flake.meta = lib.mkOption { type = lib.types.lazyAttrsOf lib.types.anything; }; "
    'config.flake.meta.users.crs58 = { name = "crs58"; }; }\n'
)


def build(root: Path, n: int) -> list[Path]:
    r = random.Random(11)
    mods = root / "modules"
    (mods / "flake-parts").mkdir(parents=True)
    (mods / "flake-parts" / "modules.nix").write_text(HEADER)
    (mods / "flake-parts" / "meta.nix").write_text(META)
    out = []
    for i in range(n):
        d = mods / f"feature{i % 50:02d}"
        d.mkdir(exist_ok=True)
        p = d / f"m{i:05d}.nix"
        text = host(r) if i % 10 == 0 else dendritic_module(r)
        p.write_text(text.replace('"machines/nixos/', f'"machines/nixos/{i}-', 1))
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--sample", type=int, default=100)
    args = ap.parse_args()
    nix = shutil.which("nix-instantiate")
    if nix is None:
        sys.exit("nix-instantiate is needed as the anchor (Debian nix-bin)")
    env = {**os.environ, "NIX_CONFIG": "build-users-group =", "HOME": tempfile.gettempdir()}
    base = Path(os.environ.get("BENCH_TMP", Path(__file__).resolve().parent.parent / ".bench-tmp"))
    base.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp)
        paths = build(root, args.files)
        size = sum(p.stat().st_size for p in paths)
        t0 = time.perf_counter()
        findings = lint(root, root / "modules", use_git=False)
        t_lint = time.perf_counter() - t0
        t0 = time.perf_counter()
        defs = sum(len(f.definitions) for _, f in analyse_files(paths, root / "modules") if f is not None)
        t_mod = time.perf_counter() - t0
        sample = paths[:: max(1, len(paths) // args.sample)][: args.sample]
        t0 = time.perf_counter()
        for p in sample:
            subprocess.run([nix, "--parse", str(p)], env=env, capture_output=True, check=True)
        t_nix = (time.perf_counter() - t0) * len(paths) / len(sample)
    n = len(paths)
    print(
        f"{n} module files, {size / 1e6:.1f} MB; lint findings: {len(findings)}; module definitions: {defs}"
    )
    print(f"layout lint      {t_lint:7.2f} s  {n / t_lint:7.0f} files/s")
    print(f"layout modules   {t_mod:7.2f} s  {n / t_mod:7.0f} files/s")
    print(
        f"nix-instantiate --parse per file  {t_nix:7.2f} s  {n / t_nix:7.0f} files/s  ({len(sample)} run, scaled)"
    )
    print(f"ratio: lint {t_nix / t_lint:.1f}x, modules {t_nix / t_mod:.1f}x (both cores)")


if __name__ == "__main__":
    main()
