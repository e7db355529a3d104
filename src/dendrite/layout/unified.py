"""nixos-unified repositories: what autowiring produces (spec §3.2), the `flake` special argument's uses,
the implicit modules a migration must recreate (§3.3), and the migration map (§3.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import DendriteError, UnsafePathError
from dendrite.layout.namespace import read_parsed
from dendrite.nixlang import syntax as S
from dendrite.nixlang.query import formals, selects
from dendrite.nixlang.source import MAX_FILE_BYTES
from dendrite.repofs import RepoFS

CLASSES = {"nixos": "nixos", "darwin": "darwin", "home": "homeManager"}
CLASS_DIRS = {"homeManager": "home"}  # the output directory of a class's modules
IMPLICIT = [
    'nixosModules.common: nix.settings.max-jobs = mkDefault "auto"; experimental-features = mkDefault "nix-command flakes"',
    "home-manager integration: useGlobalPkgs = true; useUserPackages = true; extraSpecialArgs.flake; sharedModules = [ homeModules.common ]",
    "homeModules.common: home.homeDirectory = mkDefault /Users|/home/<username>; on darwin home.sessionPath additions",
    "specialArgs: flake = { self, inputs, config } (and rosettaPkgs on darwin)",
    "options nixos-unified.sshTarget / overrideInputs (used by `nix run .#activate`)",
]


@dataclass(frozen=True)
class Entry:
    """One autowired entry: a file, or a directory with default.nix."""

    kind: str  # host-nixos, host-darwin, home, module, overlay, flake-parts
    name: str
    source: Path
    cls: str = ""


@dataclass(frozen=True)
class FlakeUse:
    file: Path
    line: int
    text: str
    kind: str  # inputs, config, self-module, self-path, flake-arg


@dataclass
class Scan:
    root: Path
    entries: list[Entry] = field(default_factory=list)
    uses: list[FlakeUse] = field(default_factory=list)
    implicit: list[str] = field(default_factory=list)
    mapping: list[tuple[str, str, str]] = field(default_factory=list)  # source, target file, namespace name
    notes: list[str] = field(default_factory=list)

    @property
    def is_unified(self) -> bool:
        return bool(self.entries)


def autowired(d: Path, fs: RepoFS | None = None) -> list[tuple[str, Path]]:
    """forAllNixFiles: top-level *.nix files (name without .nix) and directories with default.nix.

    Listed without following links: a symlinked `.nix` file is listed, so that reading it (which
    refuses the link) reports it; a symlinked directory is not descended into.
    """
    fs = fs or RepoFS(d.parent)
    out = []
    for e in sorted(fs.entries(d), key=lambda e: e.name.encode()):
        p = d / e.name
        if e.kind in ("file", "link") and e.name.endswith(".nix"):
            out.append((e.name[:-4], p))  # a link is listed (and reported when read), never followed
        elif e.kind == "dir" and fs.kind(p / "default.nix") is not None:
            out.append((e.name, p))
    return out


def _nix_files_below(fs: RepoFS, source: Path) -> list[Path]:
    """Every regular .nix file at or below `source`, no link followed (rglob would follow them)."""
    if fs.kind(source) != "dir":
        return [source]
    out: list[Path] = []
    todo = [source]
    while todo:
        d = todo.pop()
        for e in fs.entries(d):
            if e.kind == "dir":
                todo.append(d / e.name)
            elif e.kind == "file" and e.name.endswith(".nix"):
                out.append(d / e.name)
    return sorted(out)


def scan(root: Path) -> Scan:
    root = root.resolve()
    s = Scan(root)
    try:
        _collect(root, s)
    except UnsafePathError as exc:
        raise UnsafePathError(f"cannot scan {root}: {exc.message}", hint=exc.hint) from None
    return s


def _collect(root: Path, s: Scan) -> None:
    fs = RepoFS(root)
    for sub, kind in (
        ("configurations/nixos", "host-nixos"),
        ("configurations/darwin", "host-darwin"),
        ("configurations/home", "home"),
    ):
        for name, p in autowired(root / sub, fs):
            s.entries.append(Entry(kind, name, p, "homeManager" if kind == "home" else kind[5:]))
    for sub, cls in CLASSES.items():
        for name, p in autowired(root / "modules" / sub, fs):
            s.entries.append(Entry("module", name, p, cls))
    for name, p in autowired(root / "overlays", fs):
        s.entries.append(Entry("overlay", name, p))
    for sub in ("modules/flake-parts", "modules/flake", "nix/modules/flake-parts", "nix/modules/flake"):
        d = root / sub
        for ent in fs.entries(d):
            s.entries.append(Entry("flake-parts", Path(ent.name).stem, d / ent.name))
    if not s.entries:
        return
    s.implicit = list(IMPLICIT)
    for e in s.entries:
        for f in _nix_files_below(fs, e.source):
            s.uses += flake_uses(f, root)
        target, name = target_of(e, fs)
        s.mapping.append((str(e.source.relative_to(root)), target, name))
        if e.kind.startswith("host"):
            s.notes.append(
                f'host {e.name}: becomes flake.modules.{e.cls}."hosts/{e.name}"; it imports '
                "nixos-unified-compat to keep what nixos-unified added implicitly"
            )


def target_of(e: Entry, fs: RepoFS | None = None) -> tuple[str, str]:
    """Where `migrate convert` writes an entry (relative to its output directory) and what it defines.

    The one source of these names: `migrate scan` prints them and `migrate convert` writes them.
    """
    if e.kind.startswith("host"):
        # by class: a nixos and a darwin host may share a name (juspay/nixos-unified-template's `example`)
        return f"hosts/{e.cls}/{e.name}.nix", f'flake.modules.{e.cls}."hosts/{e.name}"'
    if e.kind == "home":
        return f"home/users-{e.name}.nix", f'flake.modules.homeManager."users/{e.name}"'
    if e.kind == "module":
        return f"{CLASS_DIRS.get(e.cls, e.cls)}/{e.name}.nix", f"flake.modules.{e.cls}.{e.name}"
    if e.kind == "overlay":
        return f"overlays/{e.name}.nix", f"flake.overlays.{e.name}"
    fs = fs or RepoFS(e.source.parent)
    kind = fs.kind(e.source)
    if kind != "file" or not e.source.name.endswith(".nix") or _imports_autowire(fs, e.source):
        return f"_unconverted/{e.source.name}", "(kept aside for review: not imported)"
    return f"flake-parts/{e.source.name}", "(a flake-parts module, kept)"


def _imports_autowire(fs: RepoFS, path: Path) -> bool:
    """Whether a flake-parts file imports nixos-unified's flake modules (srid/nixos-config calls it
    nixos-flake.nix, juspay/nixos-unified-template toplevel.nix): the dendritic tree must not."""
    try:
        return b"nixos-unified.flakeModule" in fs.read_bytes(path, limit=MAX_FILE_BYTES)
    except (DendriteError, OSError):
        return False


def flake_uses(f: Path, repo: Path | None = None) -> list[FlakeUse]:
    try:
        parsed = read_parsed(f, repo)  # a symlink or a FIFO is refused, never followed or waited on
    except DendriteError:
        return []
    if not parsed.ok:
        return []
    out = []
    root = parsed.result.root
    fn = root.nodes()[0] if root.nodes() else root
    fm = formals(fn)
    if fm is not None and fm.has("flake"):
        out.append(FlakeUse(f, 1, "{ flake, … }:", "flake-arg"))
    for sel in selects(root):
        if sel.dotted is None:
            continue
        line = parsed.position(sel.node.start).line
        if sel.dotted.startswith("flake.inputs."):
            out.append(FlakeUse(f, line, sel.dotted, "inputs"))
        elif sel.dotted.startswith("flake.config."):
            out.append(FlakeUse(f, line, sel.dotted, "config"))
        elif sel.dotted.startswith(("self.nixosModules.", "self.darwinModules.", "self.homeModules.")):
            out.append(FlakeUse(f, line, sel.dotted, "self-module"))
    for n in root.walk():
        if (
            n.kind == S.BIN_OP
            and n.nodes()
            and n.nodes()[0].text() == "self"
            and len(n.nodes()) == 2
            and n.nodes()[1].kind == S.PATH
        ):
            out.append(FlakeUse(f, parsed.position(n.start).line, n.text(), "self-path"))
    return out
