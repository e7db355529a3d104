"""Where a repository's Nix files define a NixOS option, and which machine each definition is for.

Read statically, without evaluating: every Nix file the flake sees, and everything below
`machines/<m>/`. A definition below `machines/<m>/`, inside `machines.<m>` of an attribute set
(`clan.machines.<m> = …`), or inside a host module `modules.<class>."hosts/<m>"` (dendrite init's
layout, `flake.modules.nixos."hosts/cinnabar"`) is that machine's; any other is every machine's.

Shared by the readers of single options: `clan.core.sops.defaultGroups` (`dendrite.secrets.defaults`)
and `clan.core.deployment.requireExplicitUpdate` (`dendrite.deploy.selection`). Each interprets the
value nodes itself; `unwrap` reads through `lib.mkDefault`/`lib.mkForce` and the like.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.nixlang import syntax as S
from dendrite.nixlang.source import ParsedFile, parse_bytes
from dendrite.nixlang.strings import attr_static_name
from dendrite.nixlang.syntax import Node
from dendrite.repofs import RepoFS

_MAX_NIX_BYTES = 4 * 1024 * 1024
# priority of each wrapper, as lib.mkOverride gives it: the lowest number wins a merge
WRAPPERS = {"mkDefault": 1000, "mkForce": 50, "mkBefore": 100, "mkAfter": 100, "mkOptionDefault": 1500}
PLAIN = 100  # a definition without a wrapper


@dataclass(frozen=True)
class Definition:
    machine: str | None  # None: every machine's
    parsed: ParsedFile
    value: Node

    def where(self) -> str:
        first = self.value.first_token()
        return self.parsed.location(first.start if first is not None else 0)


def definitions(root: Path, options: Sequence[tuple[str, ...]], needle: bytes) -> Iterator[Definition]:
    """Every binding in the repository's Nix files whose attribute path ends in one of `options`.

    Only files containing `needle` (the option's last name) are parsed; unreadable files are skipped
    (the inventory and lint readers report them).
    """
    from dendrite.inventory.sources import machine_dirs, nix_files  # the inventory imports the secrets layer

    fs = RepoFS(root)
    files: dict[Path, str | None] = {p.resolve(): None for p in nix_files(root)}
    try:
        machines = machine_dirs(root)
    except DendriteError:
        machines = []
    for m in machines:
        for p in _nix_below(fs, Path("machines") / m):
            files[(root / p).resolve()] = m
    top = root.resolve()
    for p in list(files):
        rel = p.relative_to(top).parts if p.is_relative_to(top) else ()
        if len(rel) > 2 and rel[0] == "machines" and rel[1] in machines:
            files[p] = rel[1]
    for path, machine in files.items():
        try:
            data = fs.read_bytes(path, limit=_MAX_NIX_BYTES)
        except (OSError, DendriteError):
            continue
        if needle not in data:
            continue
        parsed = parse_bytes(data, str(path))
        for scope, value in _bindings(parsed, options):
            yield Definition(scope or machine, parsed, value)


def unwrap(node: Node) -> tuple[Node, int]:
    """`lib.mkDefault (…)` and the like: the value inside, and the priority the wrappers give it."""
    priority = PLAIN
    while True:
        while node.kind == S.PAREN and node.nodes():
            node = node.nodes()[0]
        if node.kind != S.APPLY or len(node.nodes()) != 2:
            return node, priority
        fn, arg = node.nodes()
        last = [t.text for t in fn.tokens() if t.kind == "ID"]
        if not last or last[-1] not in WRAPPERS:
            return node, priority
        if priority == PLAIN:  # the outermost wrapper decides
            priority = WRAPPERS[last[-1]]
        node = arg


def _nix_below(fs: RepoFS, rel: Path) -> Iterator[Path]:
    stack = [rel]
    while stack:
        d = stack.pop()
        try:
            entries = fs.entries(d)
        except (OSError, DendriteError):
            continue
        for e in entries:
            if e.kind == "dir":
                stack.append(d / e.name)
            elif e.kind == "file" and e.name.endswith(".nix"):
                yield d / e.name


def _bindings(parsed: ParsedFile, options: Sequence[tuple[str, ...]]) -> Iterator[tuple[str | None, Node]]:
    """(machine scope or None, value node) of every binding whose path ends in one of `options`."""
    root = parsed.result.root
    stack: list[tuple[Node, tuple[str | None, ...]]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        if node.kind in (S.ATTR_SET, S.LET_IN):
            for child in node.nodes():
                if child.kind == S.BINDING:
                    parts = child.nodes()
                    if len(parts) >= 2 and parts[0].kind == S.ATTRPATH:
                        path = (*prefix, *(attr_static_name(a) for a in parts[0].nodes() if a.kind == S.ATTR))
                        option = next((o for o in options if path[-len(o) :] == o), None)
                        if option is not None:
                            yield _scope(path[: -len(option)]), parts[1]
                        else:
                            stack.append((parts[1], path))
                        continue
                stack.append((child, prefix))
            continue
        stack.extend((c, prefix) for c in node.nodes())


def _scope(prefix: tuple[str | None, ...]) -> str | None:
    """The machine a definition belongs to: the innermost `machines.<m>` or `modules.<class>."hosts/<m>"`."""
    for i in range(len(prefix) - 1, -1, -1):
        name = prefix[i]
        if i >= 1 and prefix[i - 1] == "machines" and name is not None:
            return name
        if i >= 2 and prefix[i - 2] == "modules" and name is not None and name.startswith("hosts/"):
            return name.removeprefix("hosts/") or None
    return None
