"""The dendritic namespace: every flake.modules.<class>.<name>, who defines it, and which hosts compose what."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import DendriteError, InputError
from dendrite.nixlang import ParsedFile, parse_bytes
from dendrite.nixlang import syntax as S
from dendrite.nixlang.query import flat_bindings, module_body
from dendrite.nixlang.source import MAX_FILE_BYTES
from dendrite.nixlang.strings import plain_string
from dendrite.nixlang.syntax import Node
from dendrite.repofs import RepoFS


@dataclass(frozen=True)
class Definition:
    cls: str
    name: str
    file: Path
    line: int
    value: Node
    parsed: ParsedFile


def definitions(parsed: ParsedFile, path: Path) -> list[Definition]:
    body = module_body(parsed.result.root)
    if body is None:
        return []
    out = []
    for b in flat_bindings(body, max_depth=4):
        if len(b.path) == 4 and b.path[:2] == ("flake", "modules") and None not in b.path:
            cls, name = b.path[2], b.path[3]
            assert cls is not None and name is not None
            out.append(Definition(cls, name, path, parsed.position(b.node.start).line, b.value, parsed))
    return out


def namespace(files: Iterable[tuple[Path, ParsedFile]]) -> dict[str, dict[str, list[Definition]]]:
    ns: dict[str, dict[str, list[Definition]]] = {}
    for path, parsed in files:
        for d in definitions(parsed, path):
            ns.setdefault(d.cls, {}).setdefault(d.name, []).append(d)
    return {c: dict(sorted(names.items())) for c, names in sorted(ns.items())}


@dataclass
class Host:
    name: str
    cls: str
    via: str  # "flake.modules name", "clan.machines", "nixosSystem", "hosts/ generator"
    modules: list[str] = field(default_factory=list)
    where: str = ""


# `config.flake.modules.<c>.<n>`, also through an `@`-alias of the top-level arguments
# (`topLevel.config.flake.modules…`, as `migrate convert` writes it inside a host's inner module)
_MODULE_REF = re.compile(
    r"(?:[A-Za-z_][\w'-]*\.)?config\.flake\.modules\.(nixos|darwin|homeManager)\.(\"[^\"]+\"|[A-Za-z_][\w'-]*)"
)


def _composed(value: Node) -> list[str]:
    """Module names a value composes: `imports = with config.flake.modules.<c>; [ a b ]`, `[ config.flake.modules.<c>.a ]`."""
    names: list[str] = []
    for n in value.walk():
        if n.kind == S.WITH and "flake.modules." in n.nodes()[0].text():
            body = n.nodes()[-1]
            lst = body if body.kind == S.LIST else None
            if lst is None and body.kind == S.BIN_OP:
                lst = next((c for c in body.nodes() if c.kind == S.LIST), None)
            for item in lst.nodes() if lst is not None else []:
                if item.kind == S.IDENT:
                    names.append(item.text())
                elif item.kind in (S.STRING,):
                    names.append(plain_string(item) or item.text())
        elif n.kind == S.SELECT:
            m = _MODULE_REF.fullmatch(n.text())
            if m:
                names.append(m.group(2).strip('"'))
    return list(dict.fromkeys(names))


_CLASS_REF = re.compile(r"flake\.modules\.(nixos|darwin)\b")


def _class_composed(value: Node) -> str:
    """The class of a `clan.machines.<m>` entry: the one class of the flake.modules it composes
    (`config.flake.modules.darwin."hosts/m"`), else nixos, clan's default machineClass. The entry
    itself carries no class; every host was reported as nixos, darwin laptops too."""
    found = set(_CLASS_REF.findall(value.text()))
    return found.pop() if len(found) == 1 else "nixos"


_SYSTEM_FNS = (("nixos", "nixosSystem"), ("darwin", "darwinSystem"))


def hosts(files: list[tuple[Path, ParsedFile]], ns: dict[str, dict[str, list[Definition]]]) -> list[Host]:
    # by name and class: a nixos and a darwin host may share a name (juspay/nixos-unified-template)
    out: dict[tuple[str, str], Host] = {}
    prefixes: list[tuple[str, str]] = []
    for path, parsed in files:
        text = parsed.text
        body = module_body(parsed.result.root)
        if body is None:
            continue
        for b in flat_bindings(body, max_depth=3):
            if b.path[:2] == ("clan", "machines") and len(b.path) >= 3 and b.path[2]:
                cls = _class_composed(b.value)
                h = out.setdefault((b.path[2], cls), Host(b.path[2], cls, "clan.machines"))
                h.modules += _composed(b.value)
                h.where = f"{path}:{parsed.position(b.node.start).line}"
            if (
                b.path[:1] == ("flake",)
                and len(b.path) >= 3
                and b.path[1] in ("nixosConfigurations", "darwinConfigurations")
                and b.path[2]
            ):
                cls = "nixos" if b.path[1] == "nixosConfigurations" else "darwin"
                h = out.setdefault(
                    (b.path[2], cls), Host(b.path[2], cls, f"{b.path[1]} (nixosSystem/darwinSystem)")
                )
                h.modules += _composed(b.value)
                h.where = f"{path}:{parsed.position(b.node.start).line}"
        for m in re.finditer(r'prefix\s*=\s*"([^"]+)"', text):
            if "hasPrefix" in text:  # one generator file may make both classes (`migrate convert`'s does)
                prefixes += [(m.group(1), c) for c, fn in _SYSTEM_FNS if fn in text]
    for prefix, cls in prefixes:
        for name, defs in ns.get(cls, {}).items():
            if name.startswith(prefix):
                host = name[len(prefix) :]
                h = out.setdefault((host, cls), Host(host, cls, f"'{prefix}' generator"))
                for d in defs:
                    h.modules += _composed(d.value)
                h.where = f"{defs[0].file}:{defs[0].line}"
    for h in out.values():
        h.modules = list(dict.fromkeys(h.modules))
    return sorted(out.values(), key=lambda h: (h.name, h.cls))


def door(path: Path, root: Path | None) -> RepoFS:
    """The RepoFS to read `path` through: `root` when the path lies below it, else its own directory.

    Either way the file itself is opened with O_NOFOLLOW and checked to be a regular file; below `root`
    every directory on the way is as well.
    """
    return RepoFS(root) if root is not None and path.is_relative_to(root) else RepoFS(path.parent)


def read_parsed(path: Path, root: Path | None = None) -> ParsedFile:
    """A Nix file of the repository, parsed. Why not parse_file: it follows a symlink to a file outside
    and blocks on a FIFO; here both are refused (UnsafePathError, an InputError) without waiting."""
    try:
        data = door(path, root).read_bytes(path, limit=MAX_FILE_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return parse_bytes(data, str(path))


def parse_all(
    paths: Iterable[Path], root: Path | None = None, skipped: list[str] | None = None
) -> list[tuple[Path, ParsedFile]]:
    """Every file parsed. A file that cannot be read safely raises, or, given `skipped`, is left out there."""
    out = []
    for p in paths:
        try:
            out.append((p, read_parsed(p, root)))
        except DendriteError as exc:
            if skipped is None:
                raise
            skipped.append(exc.message)
    return out
