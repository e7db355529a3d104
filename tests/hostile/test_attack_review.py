"""Attacks found in a review of the hostile-repository defences, one test per finding.

- flake.nix's `import-tree` argument (or a flake.nix linked out of the repository) steered the
  inventory's walk outside the repository: it listed files there and named them in its warnings, and
  `import-tree ../../../..` walked the whole filesystem.
- A link in the import root to a directory the user cannot stat (`/proc/1/root`) stopped every
  inventory and vars command: the walk stat()ed through the link.
- An integer of more than 4,300 digits (Python's cap on int parsing) in inventory.json, key.json,
  dendrite.toml or a Nix file was an internal error (exit 70), not one sentence.
- A lone surrogate (`"\\ud800"`) in a --prompt-values file was an internal error (exit 70).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.hostile.conftest import (
    PRIVATE_MARK,
    Fleet,
    Sentinel,
    assert_refused,
    dendrite,
    tree_bytes,
)

BIG = "1" * 5000  # over Python's 4,300-digit cap on int(str)


def run(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[bytes]:
    return dendrite(["--repo", str(fleet.root), *args], fleet.env)


def ok(res: subprocess.CompletedProcess[bytes]) -> str:
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode(errors="replace")


def no_bug(res: subprocess.CompletedProcess[bytes]) -> str:
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (0, 1, 2), f"exit {res.returncode}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    return err


def _flake(fleet: Fleet, import_tree_arg: str) -> None:
    (fleet.root / "flake.nix").write_text(
        "{\n  outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; }\n"
        f"    (inputs.import-tree {import_tree_arg});\n}}\n"
    )


# ----------------------------------------------------------------------------- the import root's walk


@pytest.mark.parametrize("arg", ["../evil-modules", "./modules/../../evil-modules"])
def test_import_tree_outside_the_repository_is_not_walked_by_the_inventory(
    fleet: Fleet, sentinel: Sentinel, arg: str
) -> None:
    outside = fleet.root.parent / "evil-modules"
    outside.mkdir()
    (outside / f"{PRIVATE_MARK}.nix").write_text("{ clan.inventory.machines.evil = { }; }\n")
    _flake(fleet, arg)
    for args in (["inventory", "show", "--json"], ["machines", "list"], ["vars", "check"]):
        res = run(fleet, *args)
        no_bug(res)
        assert PRIVATE_MARK.encode() not in res.stdout + res.stderr, "a file name outside was listed"
        assert b"evil" not in res.stdout
    res = run(fleet, "inventory", "show", "--json")
    assert json.loads(ok(res))["machines"] == {}
    assert "outside the repository" in res.stderr.decode()


def test_import_tree_of_the_filesystem_root_is_not_walked(fleet: Fleet, sentinel: Sentinel) -> None:
    _flake(fleet, "../../../../../../../../../..")
    res = run(fleet, "inventory", "show", "--json")
    assert json.loads(ok(res))["machines"] == {}
    assert "outside the repository" in res.stderr.decode()


def test_flake_nix_linked_out_of_the_repository_is_not_read(fleet: Fleet, sentinel: Sentinel) -> None:
    """The outside flake.nix would point import-tree at ./evil (in the repository): it must not be read."""
    outside = fleet.root.parent / "outside-flake.nix"
    outside.write_text("{ outputs = inputs: (inputs.import-tree ./evil); }\n")
    (fleet.root / "evil").mkdir()
    (fleet.root / "evil" / "m.nix").write_text("{ clan.inventory.machines.evil = { }; }\n")
    (fleet.root / "flake.nix").unlink()
    (fleet.root / "flake.nix").symlink_to(outside)
    machines = json.loads(ok(run(fleet, "inventory", "show", "--json")))["machines"]
    assert "evil" not in machines and "cinnabar" in machines


def test_a_link_the_walk_cannot_stat_through_does_not_stop_the_commands(
    fleet: Fleet, sentinel: Sentinel
) -> None:
    (fleet.root / "modules" / "clan" / "r").symlink_to("/proc/1/root")  # EACCES for stat() here
    (fleet.root / "modules" / "clan" / "gone").symlink_to(fleet.root.parent / "missing")
    for args in (["inventory", "show", "--json"], ["machines", "list"], ["layout", "lint", str(fleet.root)]):
        res = run(fleet, *args)
        no_bug(res)
        assert res.returncode in (0, 1), res.stderr.decode()
    assert "cinnabar" in json.loads(ok(run(fleet, "inventory", "show", "--json")))["machines"]


# ---------------------------------------------------------------------------------- huge integers


def _inventory_json(fleet: Fleet) -> None:
    (fleet.root / "inventory.json").write_text(f'{{"machines": {{"zz": {{}}}}, "meta": {{"n": {BIG}}}}}')


def _dendrite_toml(fleet: Fleet) -> None:
    with (fleet.root / "dendrite.toml").open("a") as fh:
        fh.write(f"\n[vars]\nmax_output = {BIG}\n")


def _key_json(fleet: Fleet) -> None:
    p = fleet.root / "sops" / "users" / "crs58" / "key.json"
    p.write_text(p.read_text().replace('"age"', BIG, 1))


@pytest.mark.parametrize(
    ("plant", "commands"),
    [
        (_inventory_json, [["inventory", "show"], ["machines", "list"], ["vars", "check"]]),
        (_dendrite_toml, [["vars", "check"], ["vars", "generate"], ["layout", "lint", "."]]),
    ],
    ids=["inventory.json", "dendrite.toml"],
)
def test_a_huge_integer_in_a_repository_file_is_one_sentence(
    fleet: Fleet, sentinel: Sentinel, plant: object, commands: list[list[str]]
) -> None:
    assert callable(plant)
    plant(fleet)
    before = tree_bytes(fleet.root)
    for args in commands:
        args = [str(fleet.root) if a == "." else a for a in args]
        assert_refused(run(fleet, *args))
    assert tree_bytes(fleet.root) == before


def test_a_huge_integer_in_key_json_is_no_internal_error(fleet: Fleet, sentinel: Sentinel) -> None:
    _key_json(fleet)
    before = tree_bytes(fleet.root)
    for args in (["secrets", "check"], ["vars", "check"], ["secrets", "users", "list"]):
        no_bug(run(fleet, *args))
    assert tree_bytes(fleet.root) == before


def test_a_huge_integer_in_a_nix_file_is_a_parse_error(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "modules" / "clan" / "meta.nix").write_text(
        f'{{ clan.inventory.meta = {{ name = "x"; n = {BIG}; }}; }}\n'
    )
    for args in (["inventory", "show"], ["vars", "check"], ["layout", "lint", str(fleet.root)]):
        no_bug(run(fleet, *args))
    res = dendrite(["nix", "eval-literal", str(fleet.root / "modules" / "clan" / "meta.nix")], fleet.env)
    assert res.returncode in (1, 2) and "invalid integer" in no_bug(res) + res.stdout.decode()


# ------------------------------------------------------------------------------------ prompt values


def _prompt_generator(fleet: Fleet) -> None:
    with (fleet.root / "dendrite.toml").open("a") as fh:
        fh.write(
            "\n[generators.pg]\nscript = '''\ncat \"$prompts/pw\" > \"$out/x\"\n'''\n"
            'files.x = { secret = false }\nprompts.pw = { type = "line" }\nmachines = ["cinnabar"]\n'
        )


@pytest.mark.parametrize("value", ['"\\ud800"', BIG], ids=["lone-surrogate", "huge-integer"])
def test_a_bad_prompt_value_is_one_sentence_and_changes_nothing(
    fleet: Fleet, sentinel: Sentinel, tmp_path: Path, value: str
) -> None:
    _prompt_generator(fleet)
    answers = tmp_path / "answers.json"
    answers.write_text(f'{{"pg/pw": {value}}}')
    before = tree_bytes(fleet.root)
    res = run(
        fleet, "vars", "generate", "cinnabar", "-g", "pg", "--no-sandbox", "--prompt-values", str(answers)
    )
    assert_refused(res)
    assert tree_bytes(fleet.root) == before
