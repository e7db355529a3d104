"""Benchmark: dendrite's derivation diff of two 5,000-derivation graphs that differ deep down, against
the real Nix only reading both graphs (`nix show-derivation --recursive` on each root), in the same run.
The graphs are instantiated by the real nix-instantiate here (the default store, written as root).
Target: the whole diff faster than Nix's reading alone.
Run: make bench   (or: .venv/bin/python bench/drvdiff.py [--layers L] [--width W])
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dendrite.drv.diff import Differ
from dendrite.drv.store import DrvReader

# L layers of W derivations; each depends on two of the layer below; the root on the top layer.
# `bump` changes one derivation of the first layer: every derivation above it that reaches it differs.
GRAPH = r"""
{ layers, width, bump }:
let
  mk = name: attrs: builtins.derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${name} > $out" ];
    description = "derivation ${name} of the benchmark graph, with a value long enough to be realistic";
  } // attrs);
  layer = l:
    if l == 0 then
      builtins.genList (i: mk "n0-${toString i}" { seed = if i == 0 then bump else "0"; }) width
    else
      let below = layer (l - 1); in
      builtins.genList (i: mk "n${toString l}-${toString i}" {
        deps = [ (builtins.elemAt below i) (builtins.elemAt below (builtins.bitAnd (i * 7 + 3) (width - 1))) ];
      }) width;
  top = layer (layers - 1);
in
mk "root" { deps = top; }
"""


def instantiate(expr: Path, layers: int, width: int, bump: str, env: dict[str, str]) -> str:
    args = ["--arg", "layers", str(layers), "--arg", "width", str(width), "--argstr", "bump", bump]
    out = subprocess.run(
        ["nix-instantiate", str(expr), *args], capture_output=True, check=True, env=env, timeout=1800
    )
    return out.stdout.decode().strip()


def timed(f: object) -> float:
    assert callable(f)
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=50)
    ap.add_argument("--width", type=int, default=100)  # 50 x 100 = 5,000 derivations per graph
    args = ap.parse_args()
    if shutil.which("nix-instantiate") is None or shutil.which("nix") is None:
        sys.exit("nix-instantiate and nix are needed (Debian nix-bin)")
    env = {**os.environ, "NIX_CONFIG": "build-users-group =", "HOME": tempfile.gettempdir()}
    with tempfile.TemporaryDirectory() as tmp:
        expr = Path(tmp) / "graph.nix"
        expr.write_text(GRAPH)
        started = time.perf_counter()
        old = instantiate(expr, args.layers, args.width, "old", env)
        new = instantiate(expr, args.layers, args.width, "new", env)
        made = time.perf_counter() - started
    n = args.layers * args.width + 1
    print(f"two graphs of {n} derivations each, instantiated by nix-instantiate in {made:.1f} s")

    def nix_reads() -> None:
        for root in (old, new):
            subprocess.run(
                [
                    "nix",
                    "--extra-experimental-features",
                    "nix-command",
                    "show-derivation",
                    "--recursive",
                    root,
                ],
                capture_output=True,
                check=True,
                env=env,
                timeout=600,
            )

    result = []

    def dendrite_diff() -> None:  # a cold reader each time; the JSON report included
        comparison = Differ(DrvReader()).compare(old, new)
        json.dumps(comparison.to_json())
        result.append(comparison)

    nix_s = min(timed(nix_reads) for _ in range(3))
    ours = min(timed(dendrite_diff) for _ in range(3))
    comparison = result[-1]
    (change,) = comparison.differences
    assert change.name == "n0-0" and [e.key for e in change.env] == ["seed"], change
    differing = sum(1 for _ in comparison.root.walk()) if comparison.root else 0
    print(f"nix show-derivation --recursive, both roots (reading only): {nix_s * 1000:8.1f} ms")
    print(
        f"dendrite diff, whole (read, compare, report):            {ours * 1000:8.1f} ms"
        f"  ({differing} differing pairs walked; the change: {' > '.join(change.path[-3:])} env seed)"
    )
    print(
        f"ratio nix / dendrite: {nix_s / ours:.1f}x {'(target met)' if ours < nix_s else '(target MISSED)'}"
    )


if __name__ == "__main__":
    main()
