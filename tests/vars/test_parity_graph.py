"""Which generators a run takes, compared with clan-core's own graph code.

clan_lib/vars/graph.py (all_missing_closure, requested_closure) is loaded from the clan-core source
tree and run beside `dendrite.vars.graph.select` on random generator graphs. The only change made to
clan's file is mechanical: its PEP 695 type parameters (`def f[T: Comparable](...)`), which Python 3.11
cannot parse, are removed; the annotations are strings (`from __future__ import annotations`), so no
behaviour changes.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dendrite.generators import FileSpec, Generator, PerMachine
from dendrite.vars import graph as G

CLAN_GRAPH = Path("/work/clan-core/pkgs/clan-cli/clan_lib/vars/graph.py")


def _load_clan_graph() -> types.ModuleType:
    if not CLAN_GRAPH.is_file():
        pytest.skip("clan-core's source is not unpacked at /work/clan-core")
    source = re.sub(r"\[T: Comparable(?:, N: GeneratorGraphNode)?\]", "", CLAN_GRAPH.read_text())
    errors = types.ModuleType("clan_lib.errors")

    class ClanError(Exception):
        pass

    errors.ClanError = ClanError  # type: ignore[attr-defined]
    sys.modules.setdefault("clan_lib", types.ModuleType("clan_lib"))
    sys.modules.setdefault("clan_lib.errors", errors)
    spec = importlib.util.spec_from_loader("clan_graph_under_test", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, str(CLAN_GRAPH), "exec"), module.__dict__)
    return module


@dataclass(frozen=True)
class _Id:
    name: str

    def key(self) -> Any:
        return ("m", self.name)


@dataclass
class _Node:
    key: _Id
    dependencies: list[_Id]
    exists: bool


# a random DAG over up to 7 generators of one machine: edges only from later to earlier ones
graphs = st.integers(min_value=1, max_value=7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.integers(0, n - 1),
    )
)


def _both(n: int, edges: list[tuple[int, int]], exists: list[bool]) -> tuple[G.Graph, dict[_Id, _Node]]:
    deps: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in edges:
        if a > b:
            deps[a].add(b)
    names = [f"g{i}" for i in range(n)]
    per_machine = {
        "m": {
            names[i]: Generator(
                names[i], (FileSpec("f"),), dependencies=tuple(names[d] for d in sorted(deps[i]))
            )
            for i in range(n)
        }
    }
    clan_nodes = {
        _Id(names[i]): _Node(_Id(names[i]), [_Id(names[d]) for d in sorted(deps[i])], exists[i])
        for i in range(n)
    }
    return G.build(per_machine), clan_nodes


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_all_missing_closure_is_clans(case: tuple[int, list[tuple[int, int]], list[bool], int]) -> None:
    """clan_lib/vars/graph.py all_missing_closure: the missing generators and all their dependents."""
    clan = _load_clan_graph()
    n, edges, exists, _ = case
    graph, nodes = _both(n, edges, exists)
    want = {g.key.name for g in clan.all_missing_closure(list(nodes), nodes)}
    got = G.select(graph, ["m"], lambda k: exists[int(k.name[1:])])
    assert {k.name for k in got} == want


@settings(max_examples=300, deadline=None)
@given(graphs)
def test_requested_closure_is_clans(case: tuple[int, list[tuple[int, int]], list[bool], int]) -> None:
    """clan_lib/vars/graph.py requested_closure (what `-g NAME` runs, clan_lib/vars/generate.py
    run_generators: `full_closure=... if not generators else True`): the generator even when it
    exists, its missing dependencies, and every dependent of those.

    dendrite runs one thing more, deliberately: a dependent's own missing dependency (clan would stop
    at the missing input). When clan's closure has every input it needs, the two are equal."""
    clan = _load_clan_graph()
    n, edges, exists, root = case
    graph, nodes = _both(n, edges, exists)
    want = {g.key.name for g in clan.requested_closure([_Id(f"g{root}")], nodes)}
    got_keys = G.select(graph, ["m"], lambda k: exists[int(k.name[1:])], generator=f"g{root}")
    got = {k.name for k in got_keys}
    assert want <= got
    extra = got - want
    assert all(not exists[int(x[1:])] for x in extra)  # only missing inputs are added
    complete = all(d.name in want or nodes[d].exists for x in want for d in nodes[_Id(x)].dependencies)
    assert not complete or got == want
    order = [k.name for k in got_keys]  # and in an order that runs every input first
    for k in got_keys:
        for d in graph.deps[k]:
            if d.name in got:
                assert order.index(d.name) < order.index(k.name)


def test_a_named_generator_runs_even_when_it_exists() -> None:
    """clan_lib/vars/generate.py run_generators: a named generator takes requested_closure, so an
    existing generator and its dependents run again (not "up to date")."""
    per_machine = {
        "m": {
            "ca": Generator("ca", (FileSpec("key"),)),
            "cert": Generator("cert", (FileSpec("crt"),), dependencies=("ca",)),
            "other": Generator("other", (FileSpec("x"),)),
        }
    }
    graph = G.build(per_machine)
    everything = lambda _k: True  # noqa: E731
    assert G.select(graph, ["m"], everything) == []
    assert [k.name for k in G.select(graph, ["m"], everything, generator="ca")] == ["ca", "cert"]
    assert [k.name for k in G.select(graph, ["m"], everything, generator="cert")] == ["cert"]
    assert G.select(graph, ["m"], everything, generator="ca")[0].placement == PerMachine("m")
