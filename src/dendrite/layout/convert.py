"""nixos-unified to dendritic, source to source, beside the old tree (which stays the rollback path).

Each nixos/darwin/home module becomes a flake-parts module that defines flake.modules.<class>.<name>
with the original expression inlined (comments kept): `flake.inputs.X` becomes the outer `inputs.X`,
`flake.config.X` the outer `config.X`, `self.nixosModules.n` `config.flake.modules.nixos.n` (all
through `topLevel`, so that a module's own `config` argument does not shadow them), and relative paths
are rewritten to still reach the files they meant. nixos-unified's implicit modules become an explicit
`nixos-unified-compat` module that every host imports, which also keeps `flake` available as a module
argument for any use not rewritten. What cannot be converted safely goes under `_unconverted/` with a
report line.

Every file is read and written through RepoFS: a source that is a symlink or a FIFO is reported and
left out (never followed, never waited on), and the output tree must lie inside the repository with no
symbolic link on the way or at a file; every output path is checked before the first file is written,
and each file is replaced atomically.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import InputError, UnsafePathError
from dendrite.layout.unified import Entry, Scan, scan
from dendrite.nixlang import parse_bytes
from dendrite.nixlang import syntax as S
from dendrite.nixlang.edit import Edit, apply
from dendrite.nixlang.printer import key
from dendrite.nixlang.source import MAX_FILE_BYTES
from dendrite.repofs import FILE_MODE, RepoFS

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
    unconverted: list[str] = field(default_factory=list)  # "<source>: <why>" for what the plan leaves out
    scan: Scan | None = None
    root: Path | None = None  # the repository: every file read or written lies below it

    @property
    def fs(self) -> RepoFS:
        return RepoFS(self.root if self.root is not None else self.out)

    def diff(self) -> str:
        check_outputs(self)
        chunks: list[str] = []
        for path, text in sorted(self.files.items()):
            old = _existing(self.fs, path).splitlines(keepends=True)
            chunks += difflib.unified_diff(
                old, text.splitlines(keepends=True), str(path) if old else "/dev/null", str(path)
            )
        return "".join(chunks)


def _rel(from_dir: Path, target: Path) -> str:
    r = os.path.relpath(target, from_dir)
    return r if r.startswith("../") else "./" + r


def _read(fs: RepoFS, path: Path) -> bytes:
    """A source file's bytes; a symlink, FIFO or oversized file is refused (an InputError: reported)."""
    try:
        return fs.read_bytes(path, limit=MAX_FILE_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def rewrite(source_file: Path, target_file: Path, fs: RepoFS | None = None) -> str:
    """The module expression with nixos-unified's `flake` uses and relative paths rewritten."""
    parsed = parse_bytes(_read(fs or RepoFS(source_file.parent), source_file), str(source_file))
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


def _source_file(fs: RepoFS, entry: Entry) -> Path:
    """The file an entry stands for (`<dir>/default.nix` for a directory), judged without following links."""
    return entry.source / "default.nix" if fs.kind(entry.source) == "dir" else entry.source


def wrap(entry: Entry, target: Path, name: str, extra_imports: list[str], fs: RepoFS | None = None) -> str:
    fs = fs or RepoFS(entry.source.parent)
    body = rewrite(_source_file(fs, entry), target, fs)
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
    out = _output_dir(root, _default_out(root, s) if out is None else out)
    fs = RepoFS(root)
    p = Plan(out, scan=s, root=root)
    p.files[out / "flake-parts" / "nixos-unified-compat.nix"] = COMPAT
    p.files[out / "flake-parts" / "meta.nix"] = META
    p.files[out / "flake-parts" / "hosts.nix"] = HOSTS
    for e in s.entries:
        try:
            _convert_entry(p, e, fs)
        except InputError as exc:
            p.report.append(f"{e.source}: not converted ({exc.message}); left in place")
            said = exc.message if exc.message.startswith(str(e.source)) else f"{e.source}: {exc.message}"
            p.unconverted.append(said)
    if with_flake:
        p.files[root / "flake.dendritic.nix"] = _flake(root, out)
        p.report.append("flake.dendritic.nix is the new flake; rename it to flake.nix when the switch is due")
    return p


def _default_out(root: Path, s: Scan) -> Path:
    """modules/, unless nixos-unified files are there (import-tree would import them)."""
    modules = root / "modules"
    if any(e.source.is_relative_to(modules) for e in s.entries):
        raise InputError(
            "modules/ holds nixos-unified files, which import-tree would import as flake-parts modules",
            hint="choose another directory: dendrite migrate convert --out dendritic",
        )
    return modules


def _convert_entry(p: Plan, e: Entry, fs: RepoFS) -> None:
    """The dendritic file (or the kept copy, and a report line) for one entry of the scan."""
    out = p.out
    if e.kind == "module":
        sub = {"homeManager": "home"}.get(e.cls, e.cls)
        target = out / sub / f"{e.name}.nix"
        p.files[target] = wrap(e, target, e.name, [], fs)
    elif e.kind.startswith("host"):
        target = out / "hosts" / f"{e.name}.nix"
        compat = [f"config.flake.modules.{e.cls}.nixos-unified-compat"]
        p.files[target] = wrap(e, target, f"hosts/{e.name}", compat, fs)
    elif e.kind == "home":
        target = out / "home" / f"users-{e.name}.nix"
        compat = ["config.flake.modules.homeManager.nixos-unified-compat"]
        p.files[target] = wrap(e, target, f"users/{e.name}", compat, fs)
    elif e.kind == "overlay":
        target = out / "overlays" / f"{e.name}.nix"
        body = rewrite(_source_file(fs, e), target, fs)
        p.files[target] = (
            f"# converted by dendrite from {e.source}\n{{ self, inputs, config, ... }}:\n{{\n"
            f"  flake.overlays.{key(e.name)} = (\n{_indent(body, '    ')}\n  ) {{\n"
            "    flake = { inherit self inputs config; };\n  };\n}\n"
        )
    else:
        _convert_other(p, e, fs)


def _convert_other(p: Plan, e: Entry, fs: RepoFS) -> None:
    """A flake-parts file is rewritten; the autowire import, a directory or a non-Nix file is kept aside."""
    kind = fs.kind(e.source)
    if e.source.name in ("nixos-flake.nix",) or not e.source.name.endswith(".nix") or kind == "dir":
        target = p.out / "_unconverted" / e.source.name
        if kind != "dir":
            p.files[target] = _read(fs, e.source).decode(errors="replace")
        p.report.append(
            f"{e.source}: kept under {target} (the autowire import or not a single file: review by hand)"
        )
        return
    target = p.out / "flake-parts" / e.source.name
    p.files[target] = rewrite(e.source, target, fs)


_FLAKE_INPUTS = {
    "nixpkgs": "NixOS/nixpkgs/nixos-unstable",
    "flake-parts": "hercules-ci/flake-parts",
    "import-tree": "vic/import-tree",
    "nix-darwin": "nix-darwin/nix-darwin",
    "home-manager": "nix-community/home-manager",
}


def _flake(root: Path, out: Path) -> str:
    """flake.dendritic.nix: the inputs the dendritic tree needs, importing `out` with import-tree."""
    inputs = "".join(f'    {n}.url = "github:{u}";\n' for n, u in _FLAKE_INPUTS.items())
    return FLAKE.format(inputs=inputs, out=out.relative_to(root).as_posix())


def _output_dir(root: Path, out: Path) -> Path:
    """The output directory, inside the repository, spelled without following any link.

    Why not resolve(): a symlinked `--out` would resolve to wherever it points; the link itself must be
    seen (and refused) when the files are written.
    """
    full = Path(os.path.normpath(root / out))
    if not full.is_relative_to(root):
        raise UnsafePathError(
            f"the output directory {out} is not a directory inside the repository {root}",
            hint="choose a new directory inside the repository: dendrite migrate convert --out dendritic",
        )
    return full


def _existing(fs: RepoFS, path: Path) -> str:
    """An output file's current text ('' when it does not exist yet)."""
    if fs.kind(path) is None:
        return ""
    return fs.read_bytes(path).decode(errors="replace")


def check_outputs(p: Plan) -> None:
    """Refuse the whole plan, before anything is written, if any output path is unsafe.

    Unsafe: outside the repository, a symbolic link (or a file) where a directory belongs on the way,
    or anything but a regular file at the file itself. Why all first: a half-written tree would be worse
    than none, and a link at a file would be replaced, not written through, but still means the tree is
    not what dendrite expects.
    """
    fs = p.fs
    for path in sorted(p.files):
        try:
            kind = fs.kind(path)
        except UnsafePathError as exc:
            raise UnsafePathError(f"{exc.message}; nothing was written", hint=exc.hint) from None
        if kind not in (None, "file"):
            what = {"dir": "directory", "link": "symbolic link"}.get(kind or "", "special file")
            raise UnsafePathError(
                f"{fs.rel(path)} in {fs.root} is a {what} where a converted file belongs; nothing was written",
                hint="remove it, or choose another directory with --out",
            )


def write(p: Plan) -> list[Path]:
    """Write the plan (only what changed), each file atomically with mode 0644, after checking every path."""
    check_outputs(p)
    fs = p.fs
    written = []
    for path, text in sorted(p.files.items()):
        if fs.kind(path) == "file" and _existing(fs, path) == text:
            continue
        fs.write_bytes(path, text.encode(), FILE_MODE)
        written.append(path)
    return written
