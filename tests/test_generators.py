"""The one generator model: Placement's directories, and the catalogue's generators equal to the same
definitions read from dendrite.toml."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrite import names
from dendrite.errors import InputError, NameError_
from dendrite.generators import SHARED, FileSpec, Generator, PerMachine, Shared
from dendrite.inventory import inventory_from_plain, machine_view
from dendrite.vars.model import from_plain
from dendrite.vars.recipes import RECIPES, check_recipe

# ---- Placement -------------------------------------------------------------------------------------


def test_shared_and_per_machine_directories() -> None:
    assert Shared() == SHARED
    assert SHARED.rel_dir("openssh-ca") == "shared/openssh-ca"
    assert SHARED.machine is None
    assert PerMachine("cinnabar").rel_dir("openssh") == "per-machine/cinnabar/openssh"
    assert PerMachine("cinnabar").machine == "cinnabar"


def test_a_generator_knows_its_placement() -> None:
    own = Generator("openssh", (FileSpec("ssh.id_ed25519"),))
    shared = Generator("openssh-ca", (FileSpec("id_ed25519"),), share=True)
    assert own.placement("orb") == PerMachine("orb")
    assert own.rel_dir("orb") == "per-machine/orb/openssh"
    assert shared.placement("orb") == SHARED == shared.placement("cinnabar")
    assert shared.rel_dir("orb") == "shared/openssh-ca"


@pytest.mark.parametrize("machine", ["..", "../x", "a/b", "", "-x", ".hidden", "x\x00y", "x-"])
def test_per_machine_refuses_bad_machine_names(machine: str) -> None:
    with pytest.raises(NameError_):
        PerMachine(machine)


@pytest.mark.parametrize("generator", ["..", "../../etc", "a/b", "", "-x", ".git"])
def test_rel_dir_refuses_bad_generator_names(generator: str) -> None:
    with pytest.raises(NameError_):
        SHARED.rel_dir(generator)
    with pytest.raises(NameError_):
        PerMachine("orb").rel_dir(generator)
    with pytest.raises(NameError_):
        Generator(generator, (FileSpec("f"),)).rel_dir("orb")


_MACHINE = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_GENERATOR = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,30}", fullmatch=True).filter(
    lambda n: names.is_valid("generator", n)
)


@given(_MACHINE, _GENERATOR)
def test_rel_dir_round_trips(machine: str, generator: str) -> None:
    assert PerMachine(machine).rel_dir(generator).split("/") == ["per-machine", machine, generator]
    assert SHARED.rel_dir(generator).split("/") == ["shared", generator]


# ---- one generator model ---------------------------------------------------------------------------

# what the sshd server role and the users service contribute, written as dendrite.toml tables
EQUIVALENT_TOML = """
[generators.openssh]
recipe = "ssh-keygen-ed25519"
files."ssh.id_ed25519" = {}
files."ssh.id_ed25519.pub" = { secret = false }

[generators.user-password-alice]
recipe = "user-password"
files.user-password = { deploy = false }
files.user-password-hash = { neededFor = "users" }
prompts.user-password = { type = "hidden", description = "Leave empty to generate automatically", persist = true }
"""


def _catalogue_generators() -> dict[str, Generator]:
    inv = inventory_from_plain(
        {
            "machines": {"cinnabar": {"machineClass": "nixos"}},
            "instances": {
                "sshd": {"module": {"name": "sshd"}, "roles": {"server": {"machines": {"cinnabar": {}}}}},
                "alice": {"module": {"name": "users"}, "roles": {"default": {"machines": {"cinnabar": {}}}}},
            },
        }
    )
    return {g.name: g for g in machine_view(inv, "cinnabar").generators}


def test_the_catalogue_yields_the_generators_dendrite_toml_declares() -> None:
    catalogue = _catalogue_generators()
    tables: dict[str, Any] = tomllib.loads(EQUIVALENT_TOML)["generators"]
    for name, raw in tables.items():
        from_toml = from_plain(name, raw, "dendrite.toml")
        assert catalogue[name] == from_toml
        assert catalogue[name].definition() == from_toml.definition()
    assert catalogue["openssh"].source == "service sshd"  # where it came from, kept for messages


def test_every_recipe_the_catalogue_names_is_a_built_in() -> None:
    for gen in _catalogue_generators().values():
        assert gen.recipe in RECIPES


def test_an_unknown_recipe_is_refused_in_one_sentence() -> None:
    with pytest.raises(InputError, match="recipe 'nope' is not a built-in") as info:
        from_plain("x", {"recipe": "nope", "files": {"f": {}}}, "dendrite.toml")
    assert info.value.hint is not None and "user-password" in info.value.hint
    assert check_recipe("user-password", "here") is RECIPES["user-password"]
