"""The generator graph across machines, and clan's rules for which generators run."""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dendrite.errors import InputError
from dendrite.generators import SHARED, Generator, Placement, sort_key
from dendrite.text import did_you_mean


class Key(NamedTuple):
    """One node: a generator where it is stored (shared, or for one machine)."""

    placement: Placement
    name: str


def _sorted(keys: Iterable[Key]) -> list[Key]:
    """Shared generators first, then by machine, then by name."""
    return sorted(keys, key=lambda k: (sort_key(k.placement), k.name))


@dataclass
class Graph:
    nodes: dict[Key, Generator]
    declared_by: dict[Key, list[str]]  # the machines that declare each generator
    deps: dict[Key, list[Key]]

    def dependents(self) -> dict[Key, list[Key]]:
        out: dict[Key, list[Key]] = {k: [] for k in self.nodes}
        for k, ds in self.deps.items():
            for d in ds:
                out[d].append(k)
        return out

    def machine_of(self, key: Key) -> str:
        """The machine a generator runs for: its own, or the first that declares a shared one."""
        return key.placement.machine or self.declared_by[key][0]


def _missing_dependency(
    per_machine: dict[str, dict[str, Generator]], name: str, machine: str, dep: str
) -> InputError:
    """A dependency this machine lacks: say which machines do declare it, if any (as in clan, a
    dependency is a generator of the same machine, or a shared one)."""
    others = sorted(m for m, gens in per_machine.items() if dep in gens)
    if not others:
        return InputError(f"generator '{name}' of {machine} depends on '{dep}', which no machine declares")
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return InputError(
        f"generator '{name}' of {machine} depends on '{dep}', which {machine} does not declare "
        f"(only {shown} {'does' if len(others) == 1 else 'do'})",
        hint=f"declare '{name}' and '{dep}' for the same machines (`machines` or `tags` in dendrite.toml), "
        f"or make '{dep}' shared",
    )


def build(per_machine: dict[str, dict[str, Generator]]) -> Graph:
    nodes: dict[Key, Generator] = {}
    declared: dict[Key, list[str]] = {}
    for machine, gens in sorted(per_machine.items()):
        for name, gen in sorted(gens.items()):
            key = Key(gen.placement(machine), name)
            if key in nodes and gen.share and nodes[key].definition() != gen.definition():
                first = declared[key][0]
                raise InputError(
                    f"machines {first} and {machine} have different definitions for shared generator '{name}'",
                    hint="a shared generator must be declared identically wherever it is used",
                )
            nodes.setdefault(key, gen)
            declared.setdefault(key, []).append(machine)
    deps: dict[Key, list[Key]] = {}
    for key, gen in nodes.items():
        machine = declared[key][0]
        out = []
        for d in gen.dependencies:
            own = per_machine[machine].get(d)
            if own is not None and not own.share:
                if gen.share:
                    raise InputError(
                        f"shared generator '{gen.name}' depends on '{d}', which is per-machine",
                        hint="shared generators may only depend on shared generators",
                    )
                out.append(Key(key.placement, d))
            elif Key(SHARED, d) in nodes:
                out.append(Key(SHARED, d))  # a shared generator, possibly declared on another machine
            else:
                raise _missing_dependency(per_machine, gen.name, machine, d)
        deps[key] = out
    graph = Graph(nodes, declared, deps)
    _check_cycles(graph)
    return graph


def _check_cycles(graph: Graph) -> None:
    state: dict[Key, int] = {}
    stack: list[Key] = []

    def visit(k: Key) -> None:
        state[k] = 1
        stack.append(k)
        for d in graph.deps[k]:
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                raise InputError(
                    "the generators form a cycle: " + " -> ".join(k.name for k in cycle),
                    hint="remove one of the dependencies",
                )
            if d not in state:
                visit(d)
        stack.pop()
        state[k] = 2

    for k in _sorted(graph.nodes):
        if k not in state:
            visit(k)


def _closure(start: set[Key], edges: Callable[[Key], list[Key]]) -> set[Key]:
    seen = set(start)
    todo = list(start)
    while todo:
        for n in edges(todo.pop()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def select(
    graph: Graph,
    machines: list[str],
    exists: Callable[[Key], bool],
    generator: str | None = None,
    regenerate: bool = False,
) -> list[Key]:
    """What runs, topologically sorted: clan's all_missing_closure / requested_closure (graph.py).

    As clan's run_generators chooses: a named generator (`-g`) or `--regenerate` takes the requested
    closure (the roots whether they exist or not, their missing dependencies, and every dependent of
    all that); otherwise the missing roots and their dependents.
    """
    mine = {
        k
        for k in graph.nodes
        if k.placement.machine in machines
        or (k.placement == SHARED and set(graph.declared_by[k]) & set(machines))
    }
    if generator is not None:
        roots = {k for k in mine if k.name == generator}
        if not roots:
            declaring: dict[str, list[str]] = {}
            for k, ms in graph.declared_by.items():
                declaring.setdefault(k.name, []).extend(ms)
            raise no_generator(generator, machines, declaring)
    else:
        roots = set(mine)
    dependents = graph.dependents()

    def missing_deps(k: Key) -> list[Key]:
        return [d for d in graph.deps[k] if not exists(d)]

    if generator is not None or regenerate:  # clan: full_closure if not generators else True
        chosen = _closure(_closure(roots, missing_deps), lambda k: dependents[k])
    else:
        chosen = _closure({k for k in roots if not exists(k)}, lambda k: dependents[k])
    # dendrite also runs the missing dependencies of a dependent on another machine (of a shared
    # generator) first, where clan's run would stop at the missing input
    chosen |= _closure(chosen, missing_deps)
    sorter: graphlib.TopologicalSorter[Key] = graphlib.TopologicalSorter()
    for k in _sorted(chosen):
        sorter.add(k, *[d for d in graph.deps[k] if d in chosen])
    return list(sorter.static_order())


def no_generator(
    generator: str, machines: Sequence[str], declaring: Mapping[str, Sequence[str]]
) -> InputError:
    """The error for `-g NAME` when none of `machines` declares NAME (`declaring`: name -> machines)."""
    others = sorted(set(declaring.get(generator, ())))
    if not others:
        return InputError(
            f"no machine declares a generator '{generator}'", hint=did_you_mean(generator, tuple(declaring))
        )
    who = f"{machines[0]} does not" if len(machines) == 1 else f"none of {', '.join(machines)}"
    return InputError(
        f"{who} declare{'' if len(machines) == 1 else 's'} the generator '{generator}'",
        hint=f"{', '.join(others)} {'does' if len(others) == 1 else 'do'}: "
        f"dendrite vars generate -g {generator} {' '.join(others)}",
    )


def levels(graph: Graph, order: list[Key]) -> list[list[Key]]:
    """`order` split into levels whose members do not depend on each other (they may run in parallel)."""
    depth: dict[Key, int] = {}
    for k in order:
        depth[k] = 1 + max((depth[d] for d in graph.deps[k] if d in depth), default=-1)
    out: list[list[Key]] = []
    for k in order:
        while len(out) <= depth[k]:
            out.append([])
        out[depth[k]].append(k)
    return out
