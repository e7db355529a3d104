"""`clan.core.sops.defaultGroups`: the groups every new secret of a machine is also encrypted to.

clan evaluates the option per machine (`clan_lib/nix_selectors.py`, `vars_sops_default_groups`) and
adds the groups to a machine's `<machine>-age.key` (`clan_lib/vars/secret_modules/sops.py`,
`ensure_machine_key`) and to the vars secrets of generators whose first machine it is (`_set`).

dendrite reads it three ways, and takes the union (a `listOf str` option concatenates its definitions):
- `dendrite.toml`'s `[secrets] default_groups`, for every machine;
- statically, every literal definition in the repository's Nix files (the files the flake sees, and
  everything below `machines/<m>/`): a definition below `machines/<m>/`, or inside `machines.<m>` of an
  attribute set (`clan.machines.<m> = …`), is that machine's; any other is every machine's. A
  definition that is not a literal list of strings (`lib.mkDefault` and `lib.mkForce` around a
  literal list are read through) is reported, never guessed;
- with `--nix`, by evaluating the machine's option, as clan does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dendrite import names
from dendrite.errors import DendriteError, InputError
from dendrite.nixlang import syntax as S
from dendrite.nixlang.evaluate import NotLiteral, evaluate, has_markers
from dendrite.nixlang.source import ParsedFile, parse_bytes
from dendrite.nixlang.strings import attr_static_name
from dendrite.nixlang.syntax import Node
from dendrite.repofs import RepoFS

OPTION = ("clan", "core", "sops", "defaultGroups")
_NEEDLE = b"defaultGroups"
_MAX_NIX_BYTES = 4 * 1024 * 1024
_WRAPPERS = ("mkDefault", "mkForce", "mkBefore", "mkAfter")


@dataclass(frozen=True)
class DefaultGroups:
    everywhere: tuple[str, ...] = ()
    by_machine: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()  # `file:line:col: why` of each definition that is not literal

    def for_machine(self, machine: str | None) -> list[str]:
        extra = self.by_machine.get(machine, ()) if machine is not None else ()
        return list(dict.fromkeys((*self.everywhere, *extra)))


def static_default_groups(root: Path) -> DefaultGroups:
    """Every literal `clan.core.sops.defaultGroups` definition in the repository's Nix files."""
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
    everywhere: list[str] = []
    by_machine: dict[str, list[str]] = {}
    unknown: list[str] = []
    for path, machine in files.items():
        try:
            data = fs.read_bytes(path, limit=_MAX_NIX_BYTES)
        except (OSError, DendriteError):
            continue  # the inventory and lint readers report unreadable files; nothing to add here
        if _NEEDLE not in data:
            continue
        parsed = parse_bytes(data, str(path))
        for scope, value in _definitions(parsed):
            groups = _literal_groups(parsed, value, unknown)
            owner = scope or machine
            target = by_machine.setdefault(owner, []) if owner else everywhere
            target.extend(g for g in groups if g not in target)
    return DefaultGroups(tuple(everywhere), {m: tuple(g) for m, g in by_machine.items()}, tuple(unknown))


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


def _definitions(parsed: ParsedFile) -> Iterator[tuple[str | None, Node]]:
    """(machine scope or None, value node) of every binding whose path ends in the option's path."""
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
                        if path[-len(OPTION) :] == OPTION:
                            yield _scope(path[: -len(OPTION)]), parts[1]
                        else:
                            stack.append((parts[1], path))
                        continue
                stack.append((child, prefix))
            continue
        stack.extend((c, prefix) for c in node.nodes())


def _scope(prefix: tuple[str | None, ...]) -> str | None:
    """The machine a definition belongs to when it sits inside `machines.<m>` (the innermost one)."""
    for i in range(len(prefix) - 2, -1, -1):
        if prefix[i] == "machines" and prefix[i + 1] is not None:
            return prefix[i + 1]
    return None


def _literal_groups(parsed: ParsedFile, value: Node, unknown: list[str]) -> list[str]:
    node = _unwrap(value)
    first = node.first_token()
    where = parsed.location(first.start if first is not None else 0)
    got = evaluate(node, call_functions_with_empty=False, where=parsed.location)
    if isinstance(got, NotLiteral) or not isinstance(got, list) or has_markers(got):
        unknown.append(
            f"{where}: clan.core.sops.defaultGroups is not a literal list; use --nix to evaluate it"
        )
        return []
    if not all(isinstance(g, str) for g in got):
        raise InputError(f"{where}: clan.core.sops.defaultGroups must be a list of strings (group names)")
    return [names.check("group", g, where) for g in got]


def _unwrap(node: Node) -> Node:
    """`lib.mkDefault [ … ]` and the like: the list inside (priority does not change a list's items)."""
    while True:
        while node.kind == S.PAREN and node.nodes():
            node = node.nodes()[0]
        if node.kind != S.APPLY or len(node.nodes()) != 2:
            return node
        fn, arg = node.nodes()
        last = [t.text for t in fn.tokens() if t.kind == "ID"]
        if not last or last[-1] not in _WRAPPERS:
            return node
        node = arg


def nix_default_groups(root: Path, machine: str, system: str | None = None) -> list[str]:
    """`--nix`: the machine's evaluated `clan.core.sops.defaultGroups`, with clan's selector."""
    import platform

    from dendrite.nix import eval_flake_json

    system = system or f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"
    attr = f"clanInternals.machines.{system}.{machine}.config.clan.core.sops.defaultGroups"
    got = eval_flake_json(root, attr)
    if not isinstance(got, list) or not all(isinstance(g, str) for g in got):
        raise InputError(f"{attr} is not a list of strings")
    return [names.check("group", g, attr) for g in got]


def default_groups_for(root: Path, machine: str | None, *, use_nix: bool = False) -> list[str]:
    """A machine's default groups: dendrite.toml's, and Nix's (statically, or evaluated with `use_nix`)."""
    from dendrite.vars.sources import default_groups, read_config  # vars imports the secrets layer

    toml = default_groups(dict(read_config(root)))  # a plain copy: the TOML's groups alone
    if use_nix and machine is not None:
        nix = nix_default_groups(root, machine)
    else:
        nix = static_default_groups(root).for_machine(machine)
    return list(dict.fromkeys((*toml, *nix)))
