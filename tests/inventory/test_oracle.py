"""Real Nix as oracle: inventories printed as Nix evaluate to exactly the JSON of dendrite's model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite.inventory import inventory_from_plain, inventory_to_plain, load
from dendrite.nixlang.printer import to_nix
from tests.nixlang.oracle import needs_nix, nix_eval_json

names = st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z0-9]", fullmatch=True)
tags = st.lists(
    st.sampled_from(["vps", "workstation", "primary", "lab", "all", "nixos"]), max_size=3, unique=True
)
settings_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-1000, 1000), st.text(alphabet="abc-:. ", max_size=6)),
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c"]), kids, max_size=2)
    ),
    max_leaves=6,
)
machine = st.fixed_dictionaries(
    {"machineClass": st.sampled_from(["nixos", "darwin"]), "tags": tags},
    optional={
        "description": st.text(alphabet="abc ", max_size=8),
        "deploy": st.fixed_dictionaries({"targetHost": st.just("root@h")}),
    },
)
member = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {"settings": st.dictionaries(st.sampled_from(["x", "y"]), settings_values, max_size=2)}
    ),
)
role = st.fixed_dictionaries(
    {},
    optional={
        "machines": st.dictionaries(names, member, max_size=2),
        "tags": st.one_of(
            st.lists(st.sampled_from(["vps", "lab"]), unique=True, max_size=2),
            st.dictionaries(st.sampled_from(["vps", "lab"]), member, max_size=2),
        ),
        "settings": st.dictionaries(st.sampled_from(["x", "z"]), settings_values, max_size=2),
    },
)
instance = st.fixed_dictionaries(
    {
        "module": st.fixed_dictionaries(
            {"name": st.sampled_from(["zerotier", "sshd", "users"])}, optional={"input": st.just("clan-core")}
        ),
        "roles": st.dictionaries(st.sampled_from(["default", "peer", "server"]), role, max_size=2),
    }
)
inventories = st.fixed_dictionaries(
    {
        "meta": st.fixed_dictionaries({"name": names}),
        "machines": st.dictionaries(names, machine, max_size=5),
        "instances": st.dictionaries(names, instance, max_size=3),
    }
)


@needs_nix
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(inventories, min_size=10, max_size=10))
def test_printed_inventories_evaluate_to_the_model(
    tmp_path_factory: Any, batch: list[dict[str, Any]]
) -> None:
    tmp = tmp_path_factory.mktemp("inv")
    f: Path = tmp / "all.nix"
    f.write_text("[\n" + "\n".join(f"  ({to_nix(inv, indent=1)})" for inv in batch) + "\n]\n")
    ok, out = nix_eval_json(f)
    assert ok, out
    for plain, evaluated in zip(batch, json.loads(out), strict=True):
        assert inventory_to_plain(inventory_from_plain(evaluated)) == inventory_to_plain(
            inventory_from_plain(plain)
        )
        # and the same file read statically gives the same model
        repo = tmp / "repo"
        (repo / "modules").mkdir(parents=True, exist_ok=True)
        (repo / "modules" / "inv.nix").write_text(
            "{ ... }:\n{\n  clan.inventory = " + to_nix(plain, indent=1) + ";\n}\n"
        )
        static = load(repo).merged.value
        assert inventory_to_plain(inventory_from_plain(static)) == inventory_to_plain(
            inventory_from_plain(plain)
        )
