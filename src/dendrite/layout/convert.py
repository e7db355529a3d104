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

from dendrite.errors import DendriteError, InputError, UnsafePathError
from dendrite.layout.unified import Entry, Scan, scan, target_of
from dendrite.nixlang import parse_bytes
from dendrite.nixlang import syntax as S
from dendrite.nixlang.edit import Edit, apply
from dendrite.nixlang.printer import key
from dendrite.nixlang.query import bindings, formals, module_body
from dendrite.nixlang.scope import free_variables
from dendrite.nixlang.source import MAX_FILE_BYTES
from dendrite.nixlang.strings import attr_static_name
from dendrite.repofs import FILE_MODE, RepoFS

COMPAT = """# nixos-unified added these to every configuration implicitly; dendrite made them explicit.
# Every option set here comes from a module imported here (home-manager's, nixos-unified's own).
{ inputs, config, self, ... }:
let
  flake = { inherit self inputs config; };
  common = { lib, ... }: {
    nix.settings.max-jobs = lib.mkDefault "auto";
    nix.settings.experimental-features = lib.mkDefault "nix-command flakes";
    _module.args.flake = flake;
  };
  # nixos-unified.sshTarget and friends, which nixos-unified's system builders imported
  unifiedOptions = inputs.nixos-unified + "/nix/modules/configurations";
in
{
  flake.modules.nixos.nixos-unified-compat = {
    imports = [ common unifiedOptions inputs.home-manager.nixosModules.home-manager ];
    home-manager.useGlobalPkgs = true;
    home-manager.useUserPackages = true;
    home-manager.extraSpecialArgs = { inherit flake; }; # dendrite: ignore D010 (the compatibility bridge)
    home-manager.sharedModules = [ config.flake.modules.homeManager.nixos-unified-compat ];
  };
  flake.modules.darwin.nixos-unified-compat = {
    imports = [ common unifiedOptions inputs.home-manager.darwinModules.home-manager ];
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
      home.sessionPath = lib.mkIf pkgs.stdenv.isDarwin [
        "/etc/profiles/per-user/$USER/bin"
        "/nix/var/nix/profiles/system/sw/bin"
        "/usr/local/bin"
      ];
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
{ inputs, lib, config, self, ... }:
let
  prefix = "hosts/";
  hostsOf = cls: lib.filterAttrs (name: _: lib.hasPrefix prefix name) config.flake.modules.${cls};
  # nixos-unified passed `flake` as a special argument, and files the converted modules import by path
  # may use it in `imports`, where a module argument (_module.args) would recurse forever
  specialArgs = { flake = { inherit self inputs config; }; }; # dendrite: ignore D010 (the compatibility bridge)
in
{
  flake.nixosConfigurations = lib.mapAttrs' (name: module: {
    name = lib.removePrefix prefix name;
    value = inputs.nixpkgs.lib.nixosSystem { inherit specialArgs; modules = [ module ]; };
  }) (hostsOf "nixos");
  flake.darwinConfigurations = lib.mapAttrs' (name: module: {
    name = lib.removePrefix prefix name;
    value = inputs.nix-darwin.lib.darwinSystem { inherit specialArgs; modules = [ module ]; };
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
    darwin_needs: frozenset[str] = frozenset()  # nixos modules that darwin entries import

    @property
    def fs(self) -> RepoFS:
        return RepoFS(self.root if self.root is not None else self.out)

    def changed(self) -> list[Path]:
        """The files a write would create or change (none, right after the same conversion)."""
        check_outputs(self)
        return [path for path, text in sorted(self.files.items()) if _existing(self.fs, path) != text]

    def diff(self) -> str:
        chunks: list[str] = []
        for path in self.changed():
            text = self.files[path]
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


_TO_CLASS = {"nixosModules": "nixos", "darwinModules": "darwin", "homeModules": "homeManager"}
ALIAS = "topLevel"  # the flake-parts module's arguments, bound by every converted file that refers to them


def _top_function(root: S.Node) -> S.Node | None:
    """The file's outermost function (through parentheses), if it is one."""
    node = root.nodes()[0] if root.kind == S.ROOT and root.nodes() else root
    while node.kind == S.PAREN and node.nodes():
        node = node.nodes()[0]
    return node if node.kind == S.LAMBDA else None


def _flake_uses(fn: S.Node | None) -> set[int]:
    """Offsets of the uses of the module's `flake` argument: free in the function's body, so not shadowed.

    Why scoped: a `let flake = …;` or an inner `{ flake, … }:` names something else, and `flake.inputs`
    there must stay as it is.
    """
    fm = formals(fn) if fn is not None else None
    if fn is None or fm is None or not any(f.name == "flake" for f in fm.names):
        return set()
    return {use.token.start for use in free_variables(fn.nodes()[-1]) if use.name == "flake"}


def _namespace_ref(attrs: list[str | None]) -> tuple[int, str, str] | None:
    """`[inputs,] self.<cls>Modules.<n>`: how many attributes it spans, and the class and name it means."""
    for skip in (["inputs", "self"], ["self"]):
        rest = attrs[len(skip) :]
        if attrs[: len(skip)] == skip and len(rest) >= 2 and rest[0] in _TO_CLASS and rest[1] is not None:
            return len(skip) + 2, _TO_CLASS[rest[0]], rest[1]
    return None


@dataclass(frozen=True)
class Rewritten:
    """A rewritten module: its text, and the namespace entries it now refers to (class, name)."""

    text: str
    refs: frozenset[tuple[str, str]] = frozenset()
    takes: frozenset[str] = frozenset()  # the names of the file's own argument pattern


def rewrite(
    source_file: Path,
    target_file: Path,
    fs: RepoFS | None = None,
    bind: bool = False,
    cls: str = "",
    cross: frozenset[str] = frozenset(),
) -> Rewritten:
    """The module expression with nixos-unified's `flake` uses and relative paths rewritten.

    Every use of the `flake` argument becomes `topLevel` (the flake-parts module's arguments, which
    hold `inputs`, `config` and `self` as nixos-unified's `flake` did), `…self.<cls>Modules.<n>` the
    namespace entry, and a relative path one that still reaches its file. The caller binds `topLevel`
    around the result, or, with `bind`, the file's own function is given it (`topLevel@{ … }:`, or its
    existing `@` name), as a flake-parts module that is rewritten in place needs.

    `cls` is the class the module is evaluated in: nixos-unified lets a darwin configuration import
    `self.nixosModules.common`, but a dendritic class is checked, so such a reference to a name in
    `cross` becomes `flake.modules.darwin.common` (the plan defines that module for darwin too).
    `refs` holds what the module referred to, by the class it was written with.
    """
    parsed = parse_bytes(_read(fs or RepoFS(source_file.parent), source_file), str(source_file))
    if not parsed.ok:
        raise InputError(f"{parsed.diagnostics[0]}")
    result = parsed.result
    fn = _top_function(result.root)
    alias = ALIAS
    fm = formals(fn) if fn is not None else None
    if bind and fm is not None and (fm.bind or fm.simple):
        alias = fm.bind or fm.simple or ALIAS
    flake_at = _flake_uses(fn)
    edits: list[Edit] = []
    covered: set[int] = set()
    refs: set[tuple[str, str]] = set()
    for n in result.root.walk():
        if n.kind == S.SELECT:
            base, path = n.nodes()[0], (n.nodes()[1] if len(n.nodes()) > 1 else None)
            if base.kind != S.IDENT or path is None or path.kind != S.ATTRPATH:
                continue
            attr_nodes = [a for a in path.nodes() if a.kind == S.ATTR]
            attrs = [attr_static_name(a) for a in attr_nodes]
            name = base.text()
            ref = None
            if name == "flake" and base.start in flake_at and attrs[:2] == ["inputs", "self"]:
                ref = _namespace_ref(attrs)  # flake.inputs.self.<cls>Modules.<n>: spans from `inputs`
            elif name in ("self", "inputs"):
                found = _namespace_ref([name, *attrs])
                ref = (found[0] - 1, found[1], found[2]) if found is not None else None
            if ref is not None:
                span, ref_cls, ref_name = ref
                refs.add((ref_cls, ref_name))
                if cls == "darwin" and ref_cls == "nixos" and ref_name in cross:
                    ref_cls = cls
                target = f"{alias}.config.flake.modules.{ref_cls}.{key(ref_name)}"
                edits.append(Edit(base.start, attr_nodes[span - 1].end, target))
                covered.add(base.start)
        elif n.kind == S.INHERIT and n.child(S.INHERIT_FROM) is None:
            names = [a for a in n.nodes() if a.kind == S.ATTR]
            passed = [a for a in names if a.start in flake_at]  # `inherit flake;` passes it on
            if passed and len(passed) == len(names):
                edits.append(Edit(n.start, n.end, f"flake = {alias};"))
            elif passed:
                edits += [Edit(a.start, a.end, "") for a in passed]
                edits.append(Edit(n.end, n.end, f" flake = {alias};"))
            covered.update(a.start for a in passed)
        elif n.kind == S.PATH:
            edit = _moved_path(n, source_file, target_file)
            if edit is not None:
                edits.append(edit)
    edits += [Edit(at, at + len("flake"), alias) for at in sorted(flake_at - covered)]
    site = _alias_site(fn)
    if bind and alias == ALIAS and any(alias in e.text for e in edits):
        if site is None:  # nowhere to bind it (a `with`-scoped `self`): the file is kept as written
            edits = [e for e in edits if alias not in e.text]
        else:
            edits.append(Edit(site, site, f"{ALIAS}@"))
    takes = frozenset(f.name for f in fm.names) if fm is not None else frozenset()
    return Rewritten(apply(result.source, edits), frozenset(refs), takes)


def _moved_path(n: S.Node, source_file: Path, target_file: Path) -> Edit | None:
    """A relative path literal, respelled from the target's directory to reach what it reached.

    `./x.nix` as a whole; `./dir/${name}` by its literal head (`./dir/`), which is all that is relative.
    Spelled with normpath, not resolve(): a symlink on the way stays a link for Nix to read, and the
    text never names a place outside the repository that the link happens to point at.
    """
    head = n.first_token()
    if head is None or not head.text.startswith(("./", "../")):
        return None
    interpolated = any(isinstance(c, S.Node) for c in n.children)
    if interpolated and not head.text.endswith("/"):
        return None  # `./a${x}`: the name itself is built, nothing to respell safely
    moved = _rel(target_file.parent, Path(os.path.normpath(source_file.parent / head.text)))
    if interpolated:
        return Edit(head.start, head.end, moved.rstrip("/") + "/")
    return Edit(n.start, n.end, moved)


def _alias_site(fn: S.Node | None) -> int | None:
    """Where `topLevel@` goes to bind the arguments of a flake-parts file: before its pattern. None for a
    file that is not a function with a pattern (an attribute set cannot name `self` or `inputs`)."""
    param = fn.child(S.PARAM) if fn is not None else None
    pattern = param.child(S.PATTERN) if param is not None else None
    return pattern.start if pattern is not None else None


def _indent(text: str, by: str) -> str:
    return "\n".join((by + line) if line.strip() else line for line in text.rstrip("\n").split("\n"))


def _source_file(fs: RepoFS, entry: Entry) -> Path:
    """The file an entry stands for (`<dir>/default.nix` for a directory), judged without following links."""
    return entry.source / "default.nix" if fs.kind(entry.source) == "dir" else entry.source


def wrap(
    entry: Entry,
    target: Path,
    name: str,
    extra_imports: list[str],
    fs: RepoFS | None = None,
    root: Path | None = None,
    also: tuple[str, ...] = (),
    cross: frozenset[str] = frozenset(),
) -> str:
    """The flake-parts file that defines `flake.modules.<class>.<name>` as the entry's module (and the
    same module under the classes in `also`: a nixos module that darwin configurations import)."""
    fs = fs or RepoFS(entry.source.parent)
    body = rewrite(_source_file(fs, entry), target, fs, cls=entry.cls, cross=cross).text
    header = f"# converted by dendrite from {_shown(entry.source, root)}\n"
    if extra_imports:
        imports = " ".join(extra_imports)
        inner = f"{{\n    imports = [\n      {imports}\n      (\n{_indent(body, '        ')}\n      )\n    ];\n  }}"
    else:
        inner = "\n" + _indent(body, "    ") if "\n" in body.strip() else body.strip()
    space = "" if inner.startswith("\n") else " "
    if not also:
        return f"{header}{ALIAS}@{{ inputs, config, ... }}:\n{{\n  flake.modules.{entry.cls}.{key(name)} ={space}{inner};\n}}\n"
    defs = "".join(f"  flake.modules.{c}.{key(name)} = module;\n" for c in (entry.cls, *also))
    return f"{header}{ALIAS}@{{ inputs, config, ... }}:\nlet\n  module ={space}{inner};\nin\n{{\n{defs}}}\n"


def _shown(source: Path, root: Path | None) -> str:
    """A source path as the header names it: relative to the repository, so the text does not depend on
    where the checkout lies (a second run from another clone writes the same bytes)."""
    return (
        source.relative_to(root).as_posix()
        if root is not None and source.is_relative_to(root)
        else str(source)
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
    p.darwin_needs = _nixos_modules_darwin_needs(s, fs)
    for e in s.entries:
        try:
            _convert_entry(p, e, fs)
        except InputError as exc:
            p.report.append(f"{e.source}: not converted ({exc.message}); left in place")
            said = exc.message if exc.message.startswith(str(e.source)) else f"{e.source}: {exc.message}"
            p.unconverted.append(said)
    if with_flake:
        p.files[root / "flake.dendritic.nix"] = _flake(root, out, fs)
        p.report.append("flake.dendritic.nix is the new flake; rename it to flake.nix when the switch is due")
    return p


def _nixos_modules_darwin_needs(s: Scan, fs: RepoFS) -> frozenset[str]:
    """The nixos modules a darwin host or module imports (nixos-unified allows it: `nixosModules.common`).

    A nixos module of that name is then defined for darwin as well, unless modules/darwin has its own
    module of the name, whose place it must not take (the reference then stays nixos: lint says D005).
    """
    darwin_own = {e.name for e in s.entries if e.kind == "module" and e.cls == "darwin"}
    nixos_own = {e.name for e in s.entries if e.kind == "module" and e.cls == "nixos"}
    needs: set[str] = set()
    for e in s.entries:
        if e.cls != "darwin" or e.kind not in ("module", "host-darwin"):
            continue
        try:
            refs = rewrite(_source_file(fs, e), e.source, fs, cls="darwin").refs
        except InputError:
            continue  # reported when the entry itself is converted
        needs |= {n for c, n in refs if c == "nixos" and n not in darwin_own and n in nixos_own}
    return frozenset(needs)


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
    """The dendritic file (or the kept copy, and a report line) for one entry of the scan.

    Where it goes and what it is called come from `target_of`, the function `migrate scan` prints its
    map with, so the scan and the conversion cannot name different files.
    """
    rel, _ = target_of(e, fs)
    target = p.out / rel
    root = p.root
    if target in p.files:  # e.g. modules/flake-parts/hosts.nix against the generated hosts.nix
        raise InputError(f"its target {target} is taken by another converted file")
    if e.kind == "module":
        also = ("darwin",) if e.cls == "nixos" and e.name in p.darwin_needs else ()
        p.files[target] = wrap(e, target, e.name, [], fs, root, also, p.darwin_needs)
    elif e.kind.startswith("host"):
        compat = [f"config.flake.modules.{e.cls}.nixos-unified-compat"]
        p.files[target] = wrap(e, target, f"hosts/{e.name}", compat, fs, root, (), p.darwin_needs)
    elif e.kind == "home":
        compat = ["config.flake.modules.homeManager.nixos-unified-compat"]
        p.files[target] = wrap(e, target, f"users/{e.name}", compat, fs, root)
    elif e.kind == "overlay":
        body = rewrite(_source_file(fs, e), target, fs).text
        p.files[target] = (
            f"# converted by dendrite from {_shown(e.source, root)}\n{ALIAS}@{{ self, inputs, config, ... }}:\n{{\n"
            f"  flake.overlays.{key(e.name)} = (\n{_indent(body, '    ')}\n  ) {{\n"
            "    flake = { inherit self inputs config; };\n  };\n}\n"
        )
    elif rel.startswith("_unconverted/"):
        if fs.kind(e.source) != "dir":
            p.files[target] = _read(fs, e.source).decode(errors="replace")
        p.report.append(
            f"{e.source}: kept under {target} (the autowire import or not a single file: review by hand)"
        )
    else:
        done = rewrite(e.source, target, fs, bind=True)
        p.files[target] = done.text
        if "root" in done.takes:
            p.report.append(
                f"{e.source}: takes `root`, which nixos-unified's lib.mkFlake passed and a plain mkFlake "
                "does not: set `_module.args.root = ./.;` in flake.nix, or use `self`"
            )


_FLAKE_INPUTS = {
    "nixpkgs": "NixOS/nixpkgs/nixos-unstable",
    "flake-parts": "hercules-ci/flake-parts",
    "import-tree": "vic/import-tree",
    "nix-darwin": "nix-darwin/nix-darwin",
    "home-manager": "nix-community/home-manager",
}


def _flake(root: Path, out: Path, fs: RepoFS) -> str:
    """flake.dendritic.nix: the repository's own inputs, kept as written (converted modules still name
    them), and those the dendritic tree needs that it lacks; `out` imported with import-tree."""
    kept, names = _own_inputs(fs)
    added = "".join(f'    {n}.url = "github:{u}";\n' for n, u in _FLAKE_INPUTS.items() if n not in names)
    return FLAKE.format(inputs=kept + added, out=out.relative_to(root).as_posix())


def _own_inputs(fs: RepoFS) -> tuple[str, set[str]]:
    """The bindings of flake.nix's inputs (`inputs = { … };` and `inputs.x… = …;`), one per line as
    written, and the input names they define; nothing when flake.nix is missing, unreadable or broken."""
    try:
        parsed = parse_bytes(fs.read_bytes("flake.nix", limit=MAX_FILE_BYTES), "flake.nix")
    except (DendriteError, OSError):
        return "", set()
    body = module_body(parsed.result.root) if parsed.ok else None
    lines: list[str] = []
    names: set[str] = set()
    for b in bindings(body) if body is not None else []:
        if b.path[:1] != ("inputs",):
            continue
        if len(b.path) == 1 and b.value.kind == S.ATTR_SET:
            for inner in bindings(b.value):
                names.add(str(inner.path[0]))
                lines.append(inner.node.text())
        elif len(b.path) > 1 and b.path[1] is not None:
            names.add(b.path[1])
            attrpath = b.node.nodes()[0]
            lines.append(b.node.text()[attrpath.nodes()[1].start - b.node.start :].lstrip("."))
    return "".join(f"    {line}\n" for line in lines), names


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
    fs = p.fs
    written = p.changed()  # every path checked first
    for path in written:
        fs.write_bytes(path, p.files[path].encode(), FILE_MODE)
    return written
