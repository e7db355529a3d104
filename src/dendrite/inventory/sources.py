"""Where an inventory comes from, merged as clan merges it.

1. `inventory.json` (clan's CLI writes it; Nix imports it as a module);
2. every directory under `machines/` (each registers a machine);
3. the `clan.inventory` (or `clan = { inventory = …; }`) sets in flake.nix and the files import-tree
   imports (`dendrite.layout.discovery`, the same set `dendrite layout files` lists), read statically
   with the literal evaluator: in a dendritic repository many import-tree files each add a piece.
   What is not literal, and a file git does not track, is reported with the hint what to do;
or, with `--nix`, what `nix eval --json <flake>#<attr>` says.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite import boundedjson, names
from dendrite.errors import DendriteError, InputError
from dendrite.inventory.merge import Definition, Location, Merged, merge
from dendrite.layout.discovery import Discovery, discover, import_root, inside_repo
from dendrite.nix import eval_flake_json
from dendrite.nixlang import NotLiteral, ParsedFile, evaluate, parse_bytes
from dendrite.nixlang.query import bindings, flat_bindings, module_body
from dendrite.nixlang.source import MAX_FILE_BYTES
from dendrite.nixlang.syntax import Node
from dendrite.repo import INVENTORY_JSON, MACHINES_DIR, Repo
from dendrite.repofs import RepoFS


@dataclass(frozen=True)
class Note:
    """Something the loader could not use, with where and what to do."""

    severity: str  # "error", "warning", "info"
    message: str
    where: Location | None = None
    hint: str | None = None


@dataclass
class Loaded:
    merged: Merged
    notes: list[Note] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


MAX_INVENTORY_BYTES = 16 * 1024 * 1024  # thousands of machines fit in a few MB


def read_inventory_text(root: Path) -> str | None:
    """inventory.json's text, or None when there is none.

    Read through RepoFS: a symlink (to a file outside), a FIFO (which would block every command) or
    a huge file where inventory.json belongs is refused, never followed or waited on.
    """
    fs = RepoFS(root)
    if fs.kind(INVENTORY_JSON) is None:
        return None
    return fs.read_bytes(INVENTORY_JSON, limit=MAX_INVENTORY_BYTES).decode("utf-8", errors="replace")


def parse_inventory_json(root: Path, text: str) -> dict[str, Any]:
    path = Repo(root).inventory_json
    try:
        data = boundedjson.loads(text, str(path))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}",
            hint="fix the file; dendrite did not change it",
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: the top level must be an object")
    return data


def read_inventory_json(root: Path) -> dict[str, Any] | None:
    text = read_inventory_text(root)
    return None if text is None else parse_inventory_json(root, text)


_JSON_KEY = re.compile(r'^[ \t]*("(?:[^"\\\n]|\\.)*")[ \t]*:', re.MULTILINE)


def _json_locations(path: Path, text: str, data: dict[str, Any]) -> dict[tuple[str, ...], Location]:
    """Lines of `machines.<m>` and `instances.<i>` keys in inventory.json: the first after the section key."""
    wanted: dict[str, list[tuple[str, str]]] = {}
    for section in ("machines", "instances", "meta", "tags"):
        wanted.setdefault(json.dumps(section, ensure_ascii=False), []).append(("", section))
        entries = data.get(section)
        for name in entries if isinstance(entries, dict) else {}:
            wanted.setdefault(json.dumps(name, ensure_ascii=False), []).append((section, name))
    found: dict[tuple[str, str], int] = {}
    section_at: dict[str, int] = {}
    for m in _JSON_KEY.finditer(text):
        for section, name in wanted.get(m.group(1), ()):
            offset = m.start(1)
            if section == "":
                section_at.setdefault(name, offset)
            elif (section, name) not in found and section_at.get(section, 1 << 62) < offset:
                found[(section, name)] = offset
    out: dict[tuple[str, ...], Location] = {}
    line, pos = 1, 0
    items = [*(((s,), o) for s, o in section_at.items()), *(((s, n), o) for (s, n), o in found.items())]
    for key, offset in sorted(items, key=lambda kv: kv[1]):  # one pass counting newlines
        line += text.count("\n", pos, offset)
        pos = offset
        out[key] = Location(str(path), line)
    return out


def json_definition(root: Path) -> Definition | None:
    text = read_inventory_text(root)  # read once: the locations come from the same bytes
    if text is None:
        return None
    data = parse_inventory_json(root, text)
    path = Repo(root).inventory_json
    return Definition(data, Location(str(path)), locate=lambda: _json_locations(path, text, data))


def machine_dirs(root: Path, notes: list[Note] | None = None) -> list[str]:
    """The machines `machines/<name>/` registers: real directories with valid machine names.

    A symlink there is not followed (it is noted and left out); a name clan would reject is refused,
    since a machine's name becomes a path under machines/, vars/ and sops/.
    """
    base = Repo(root).machines_dir
    found = []
    for e in RepoFS(root).entries(MACHINES_DIR):
        if e.name.startswith("."):
            continue
        if e.kind == "link" and notes is not None:
            notes.append(
                Note(
                    "warning",
                    f"{base / e.name} is a symbolic link; dendrite does not follow it, so it is not a machine",
                    Location(str(base / e.name)),
                    "make it a real directory, or remove it",
                )
            )
        if e.kind == "dir":
            found.append(names.check("machine", e.name, str(base)))
    return found


def machines_dir_definition(root: Path, notes: list[Note] | None = None) -> Definition | None:
    base = Repo(root).machines_dir
    found = machine_dirs(root, notes)
    if not found:
        return None
    return Definition(
        {"machines": {n: {} for n in found}},
        Location(str(base)),
        {("machines", n): Location(str(base / n) + "/") for n in found},
    )


def nix_sources(root: Path) -> tuple[list[Path], Discovery]:
    """flake.nix and the files `dendrite layout files` lists (import-tree's rule under the import root).

    One rule for "the repository's Nix files", so the inventory never names a machine from a file the
    flake does not see. Files git does not track come back in the Discovery for the caller to report.
    """
    top = import_root(root)
    if not inside_repo(top, root):  # `import-tree ../..` or a linked modules/: never walked, never read
        found = Discovery(
            top,
            (),
            (f"the import root {top} is outside the repository {root}; no Nix file there was read",),
        )
    else:
        found = discover(top)
    flake = (root / "flake.nix").resolve()
    head = [flake] if flake.is_file() and flake not in found.files else []
    return [*head, *found.files], found


def nix_files(root: Path) -> list[Path]:
    """The Nix files whose clan.inventory the static reader takes; see `nix_sources`."""
    return nix_sources(root)[0]


def _strip_markers(value: Any, path: tuple[str, ...], found: list[tuple[tuple[str, ...], NotLiteral]]) -> Any:
    if isinstance(value, NotLiteral):
        found.append((path, value))
        return None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            stripped = _strip_markers(v, (*path, k), found)
            if not isinstance(v, NotLiteral):
                out[k] = stripped
        return out
    if isinstance(value, list):
        items = []
        for v in value:
            if isinstance(v, NotLiteral):
                found.append((path, v))
            else:
                items.append(_strip_markers(v, path, found))
        return items
    return value


def _read_nix(fs: RepoFS, f: Path, notes: list[Note]) -> bytes | None:
    """A Nix file's bytes, or None with a note: a symlink or FIFO is skipped, never followed or waited on."""
    try:
        return fs.read_bytes(f, limit=MAX_FILE_BYTES)
    except DendriteError as exc:
        notes.append(Note("warning", f"{exc.message}; its inventory is not read", Location(str(f)), exc.hint))
    except OSError as exc:
        notes.append(Note("warning", f"cannot read {f}: {exc.strerror}"))
    return None


def _mentions_inventory(fs: RepoFS, path: Path) -> bool:
    try:
        return b"inventory" in fs.read_bytes(path, limit=MAX_FILE_BYTES)
    except (OSError, DendriteError):
        return False


def nix_definitions(root: Path, notes: list[Note]) -> list[Definition]:
    """Every literal piece of `clan.inventory` in the repository's Nix files."""
    fs = RepoFS(root)
    files, tree = nix_sources(root)
    for f in tree.untracked:
        if _mentions_inventory(fs, f):
            notes.append(
                Note(
                    "warning",
                    "git does not track this file, so the flake does not see it and its inventory was not read",
                    Location(str(f)),
                    "`git add` it (or move it under a `_` directory if it is not meant to be imported)",
                )
            )
    notes += [Note("info", n) for n in tree.notes]
    defs = [_file_definition(fs, f, notes) for f in files]
    return [d for d in defs if d is not None]


def _file_definition(fs: RepoFS, f: Path, notes: list[Note]) -> Definition | None:
    """The literal `clan.inventory` of one file, or None (what could not be read is noted)."""
    text = _read_nix(fs, f, notes)
    if text is None or b"inventory" not in text:
        return None
    parsed = parse_bytes(text, str(f))
    if not parsed.ok:
        d = parsed.diagnostics[0]
        notes.append(
            Note(
                "error",
                f"{d}: the file does not parse, so its inventory is not read",
                Location(str(f), d.position.line),
            )
        )
        return None
    body = module_body(parsed.result.root)
    if body is None:
        return None
    bindings = [b for b in flat_bindings(body) if b.path[:1] == ("clan",)]
    if not any(b.path[:2] == ("clan", "inventory") or b.path == ("clan",) for b in bindings):
        return None
    value = evaluate(parsed.result.root, where=parsed.location)
    clan = value.get("clan") if isinstance(value, dict) else value
    inv = clan.get("inventory") if isinstance(clan, dict) else clan
    if inv is None:
        return None
    if isinstance(inv, NotLiteral):
        p = parsed.position(inv.offset)
        notes.append(
            Note(
                "warning",
                f"clan.inventory is not literal here: {inv.reason}",
                Location(str(f), p.line),
                "read it with --nix, which evaluates the flake",
            )
        )
        return None
    if not isinstance(inv, dict):
        notes.append(Note("error", "clan.inventory is not an attribute set", Location(str(f))))
        return None
    meta = clan.get("meta") if isinstance(clan, dict) else None
    if isinstance(meta, dict) and "meta" not in inv:  # clan-core: `inventory.meta = config.meta`
        inv = {**inv, "meta": meta}  # (modules/clan/module.nix), so `clan.meta.name` names the clan
    found: list[tuple[tuple[str, ...], NotLiteral]] = []
    clean = _strip_markers(inv, (), found)
    for path, marker in found:
        p = parsed.position(marker.offset)
        notes.append(
            Note(
                "warning",
                f"inventory.{'.'.join(path)} is not literal: {marker.reason}; it was left out",
                Location(str(f), p.line),
                "read it with --nix, which evaluates the flake",
            )
        )
    return Definition(clean, Location(str(f)), _inventory_locations(body, parsed, f))


def _inventory_locations(body: Node, parsed: ParsedFile, f: Path) -> dict[tuple[str, ...], Location]:
    """The line of each `clan.inventory` binding, keyed by its path below the inventory."""
    locations: dict[tuple[str, ...], Location] = {}
    for path, offset in _binding_offsets(body, ()):
        if path[:2] == ("clan", "inventory"):
            tail = path[2:]
            loc = Location(str(f), parsed.position(offset).line)
            for n in range(1, len(tail)):  # a set written as a path (`a.b.c = …`) is placed there too
                locations.setdefault(tail[:n], loc)
            locations.setdefault(tail, loc)
    return locations


def _binding_offsets(attrset: Node, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], int]]:
    """Every binding's full path (through nested literal sets) and where it is written."""
    # an explicit stack, not recursion: sets may nest as deep as the parser allows
    stack = [(prefix, b) for b in reversed(bindings(attrset))]
    while stack:
        outer, b = stack.pop()
        if None in b.path:
            continue
        path = outer + tuple(p for p in b.path if p is not None)
        yield path, b.node.start
        value = b.value
        while value.kind == "PAREN" and value.nodes():
            value = value.nodes()[0]
        if value.kind == "ATTR_SET" and value.token("rec") is None:
            stack.extend((path, c) for c in reversed(bindings(value)))


def nix_eval_definition(root: Path, attr: str) -> Definition:
    data = eval_flake_json(root, attr, timeout=300)
    if not isinstance(data, dict):
        raise InputError(f"{attr} is not an attribute set")
    return Definition(data, Location(f"nix eval {attr}"))


def load(root: Path, *, use_nix: bool = False, attr: str = "clan.inventory") -> Loaded:
    notes: list[Note] = []
    if use_nix:
        d = nix_eval_definition(root, attr)
        return Loaded(merge([d]), notes, [str(d.origin)])
    defs = [d for d in (json_definition(root), machines_dir_definition(root, notes)) if d is not None]
    defs += nix_definitions(root, notes)
    return Loaded(merge(defs), notes, [str(d.origin) for d in defs])
