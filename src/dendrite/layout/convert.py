"""nixos-unified to dendritic, source to source, beside the old tree (which stays the rollback path).

Each nixos/darwin/home module becomes a flake-parts module that defines flake.modules.<class>.<name>
with the original expression inlined (comments kept): `flake.inputs.X` becomes the outer `inputs.X`,
`flake.config.X` the outer `config.X`, `self.nixosModules.n` `config.flake.modules.nixos.n` (all
through `topLevel`, so that a module's own `config` argument does not shadow them), and relative paths
are rewritten to still reach the files they meant. nixos-unified's implicit modules become an explicit
`nixos-unified-compat` module that every host imports, which also keeps `flake` available as a module
argument for any use not rewritten. What cannot be converted safely goes under `_unconverted/` with a
report line.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import InputError
from dendrite.layout.unified import Entry, Scan, scan
from dendrite.nixlang import parse_file
from dendrite.nixlang import syntax as S
from dendrite.nixlang.edit import Edit, apply
from dendrite.nixlang.printer import key

COMPAT = """# nixos-unified added these to every configuration implicitly; dendrite made them explicit.
{ inputs, config, self, ... }:
let
  flake = { inherit self inputs config; };
  common = { lib, ... }: {
    nix.settings.max-jobs = lib.mkDefault "auto";
    nix.settings.experimental-features = lib.mkDefault "nix-command flakes";
    _module.args.flake = flake;
  };
in
{
  flake.modules.nixos.nixos-unified-compat = {
    imports = [ common ];
    home-manager.useGlobalPkgs = true;
    home-manager.useUserPackages = true;
    home-manager.extraSpecialArgs = { inherit flake; }; # dendrite: ignore D010 (the compatibility bridge)
    home-manager.sharedModules = [ config.flake.modules.homeManager.nixos-unified-compat ];
  };
  flake.modules.darwin.nixos-unified-compat = {
    imports = [ common ];
    home-manager.useGlobalPkgs = true;
    home-manager.useUserPackages = true;
    home-manager.extraSpecialArgs = { inherit flake; }; # dendrite: ignore D010 (the compatibility bridge)
    home-manager.sharedModules = [ config.flake.modules.homeManager.nixos-unified-compat ];
  };
  flake.modules.homeManager.nixos-unified-compat =
    { lib, pkgs, config, ... }:
    {
      _module.args.flake = flake;
      home.homeDirectory = lib.mkDefault "/${if pkgs.stdenv.isDarwin then "Users" else "home"}/${config.home.username}";
    };
}
"""

META = """# flake.meta is not a flake-parts option: declared once so that every module may write to it.
{ lib, inputs, ... }:
{
  imports = [ inputs.flake-parts.flakeModules.modules ];
  options.flake.meta = lib.mkOption {
    type = lib.types.lazyAttrsOf lib.types.anything;
    default = { };
  };
}
"""

HOSTS = """# Hosts: every flake.modules.<class>."hosts/<name>" becomes a system configuration.
{ inputs, lib, config, ... }:
let
  prefix = "hosts/";
  hostsOf = cls: lib.filterAttrs (name: _: lib.hasPrefix prefix name) config.flake.modules.${cls};
in
{
  flake.nixosConfigurations = lib.mapAttrs' (name: module: {
    name = lib.removePrefix prefix name;
    value = inputs.nixpkgs.lib.nixosSystem { modules = [ module ]; };
  }) (hostsOf "nixos");
  flake.darwinConfigurations = lib.mapAttrs' (name: module: {
    name = lib.removePrefix prefix name;
    value = inputs.nix-darwin.lib.darwinSystem { modules = [ module ]; };
  }) (hostsOf "darwin");
}
"""

FLAKE = """{{
  description = "converted to the dendritic pattern by dendrite";
  inputs = {{
{inputs}  }};
  outputs = inputs: inputs.flake-parts.lib.mkFlake {{ inherit inputs; }} (inputs.import-tree ./{out});
}}
"""


@dataclass
class Plan:
    out: Path
    files: dict[Path, str] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)
    scan: Scan | None = None

    def diff(self) -> str:
        chunks: list[str] = []
        for path, text in sorted(self.files.items()):
            old = path.read_text().splitlines(keepends=True) if path.exists() else []
            chunks += difflib.unified_diff(
                old, text.splitlines(keepends=True), str(path) if old else "/dev/null", str(path)
            )
        return "".join(chunks)


def _rel(from_dir: Path, target: Path) -> str:
    r = os.path.relpath(target, from_dir)
    return r if r.startswith("../") else "./" + r


def rewrite(source_file: Path, target_file: Path) -> str:
    """The module expression with nixos-unified's `flake` uses and relative paths rewritten."""
    parsed = parse_file(source_file)
    if not parsed.ok:
        raise InputError(f"{parsed.diagnostics[0]}")
    result = parsed.result
    edits: list[Edit] = []
    to_class = {"nixosModules": "nixos", "darwinModules": "darwin", "homeModules": "homeManager"}
    for n in result.root.walk():
        if n.kind == S.SELECT:
            base = n.nodes()[0]
            path = n.nodes()[1] if len(n.nodes()) > 1 else None
            if base.kind != S.IDENT or path is None:
                continue
            attrs = [a.text() for a in path.nodes() if a.kind == S.ATTR]
            name = base.text()
            if (
                name == "flake"
                and attrs[:2] == ["inputs", "self"]
                and len(attrs) >= 4
                and attrs[2] in to_class
            ):
                # flake.inputs.self.darwinModules.x: the module is now in the namespace
                end = path.nodes()[6].end if len(path.nodes()) > 6 else path.end
                edits.append(
                    Edit(base.start, end, f"topLevel.config.flake.modules.{to_class[attrs[2]]}.{attrs[3]}")
                )
            elif name == "flake" and attrs[:1] in (["inputs"], ["config"]):
                edits.append(Edit(base.start, base.end, "topLevel"))
            elif name == "self" and attrs[:1] and attrs[0] in to_class and len(attrs) >= 2:
                start = base.start
                end = path.nodes()[2].end if len(path.nodes()) > 2 else path.end  # `self.nixosModules.x`
                edits.append(
                    Edit(start, end, f"topLevel.config.flake.modules.{to_class[attrs[0]]}.{attrs[1]}")
                )
        elif n.kind == S.PATH and not any(isinstance(c, S.Node) for c in n.children):
            text = n.text()
            if text.startswith(("./", "../")):
                edits.append(
                    Edit(n.start, n.end, _rel(target_file.parent, (source_file.parent / text).resolve()))
                )
    return apply(result.source, edits)


def _indent(text: str, by: str) -> str:
    return "\n".join((by + line) if line.strip() else line for line in text.rstrip("\n").split("\n"))


def wrap(entry: Entry, target: Path, name: str, extra_imports: list[str]) -> str:
    src_file = entry.source / "default.nix" if entry.source.is_dir() else entry.source
    body = rewrite(src_file, target)
    header = f"# converted by dendrite from {entry.source}\n"
    if extra_imports:
        imports = " ".join(extra_imports)
        inner = f"{{\n    imports = [\n      {imports}\n      (\n{_indent(body, '        ')}\n      )\n    ];\n  }}"
    else:
        inner = "\n" + _indent(body, "    ") if "\n" in body.strip() else body.strip()
    return (
        f"{header}topLevel@{{ inputs, config, ... }}:\n{{\n  flake.modules.{entry.cls}.{key(name)} ={' ' if not inner.startswith(chr(10)) else ''}"
        f"{inner};\n}}\n"
    )


def plan(root: Path, out: Path | None = None, with_flake: bool = False) -> Plan:
    root = root.resolve()
    s = scan(root)
    if not s.is_unified:
        raise InputError(
            f"{root} has no nixos-unified layout (configurations/ or modules/{{nixos,darwin,home}})",
            hint="run 'dendrite migrate scan' to see what was looked for",
        )
    if out is None:
        modules = root / "modules"
        unified = [e for e in s.entries if e.source.is_relative_to(modules)]
        if unified:
            raise InputError(
                "modules/ holds nixos-unified files, which import-tree would import as flake-parts modules",
                hint="choose another directory: dendrite migrate convert --out dendritic",
            )
        out = modules
    out = (root / out).resolve() if not out.is_absolute() else out
    p = Plan(out, scan=s)
    p.files[out / "flake-parts" / "nixos-unified-compat.nix"] = COMPAT
    p.files[out / "flake-parts" / "meta.nix"] = META
    p.files[out / "flake-parts" / "hosts.nix"] = HOSTS
    for e in s.entries:
        try:
            if e.kind == "module":
                sub = {"homeManager": "home"}.get(e.cls, e.cls)
                target = out / sub / f"{e.name}.nix"
                p.files[target] = wrap(e, target, e.name, [])
            elif e.kind.startswith("host"):
                target = out / "hosts" / f"{e.name}.nix"
                p.files[target] = wrap(
                    e, target, f"hosts/{e.name}", [f"config.flake.modules.{e.cls}.nixos-unified-compat"]
                )
            elif e.kind == "home":
                target = out / "home" / f"users-{e.name}.nix"
                p.files[target] = wrap(
                    e, target, f"users/{e.name}", ["config.flake.modules.homeManager.nixos-unified-compat"]
                )
            elif e.kind == "overlay":
                target = out / "overlays" / f"{e.name}.nix"
                src_file = e.source / "default.nix" if e.source.is_dir() else e.source
                body = rewrite(src_file, target)
                p.files[target] = (
                    f"# converted by dendrite from {e.source}\n{{ self, inputs, config, ... }}:\n{{\n"
                    f"  flake.overlays.{key(e.name)} = (\n{_indent(body, '    ')}\n  ) {{\n"
                    "    flake = { inherit self inputs config; };\n  };\n}\n"
                )
            else:
                if (
                    e.source.name in ("nixos-flake.nix",)
                    or not e.source.name.endswith(".nix")
                    or e.source.is_dir()
                ):
                    target = out / "_unconverted" / e.source.name
                    if e.source.is_file():
                        p.files[target] = e.source.read_text()
                    p.report.append(
                        f"{e.source}: kept under {target} (the autowire import or not a single file: "
                        "review by hand)"
                    )
                    continue
                target = out / "flake-parts" / e.source.name
                p.files[target] = rewrite(e.source, target)
        except InputError as exc:
            p.report.append(f"{e.source}: not converted ({exc.message}); left in place")
    if with_flake:
        names = ["nixpkgs", "flake-parts", "import-tree", "nix-darwin", "home-manager"]
        inputs = "".join(
            f'    {n}.url = "github:{u}";\n'
            for n, u in zip(
                names,
                [
                    "NixOS/nixpkgs/nixos-unstable",
                    "hercules-ci/flake-parts",
                    "vic/import-tree",
                    "nix-darwin/nix-darwin",
                    "nix-community/home-manager",
                ],
                strict=True,
            )
        )
        p.files[root / "flake.dendritic.nix"] = FLAKE.format(
            inputs=inputs, out=out.relative_to(root).as_posix()
        )
        p.report.append("wrote flake.dendritic.nix; rename it to flake.nix when the switch is due")
    return p


def write(p: Plan) -> list[Path]:
    written = []
    for path, text in sorted(p.files.items()):
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
