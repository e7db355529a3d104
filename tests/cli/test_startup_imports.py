"""A command imports only what it uses: reading a secret loads no parser, vars engine, demo, YAML or pydantic.

Not timed (bench/startup.py measures): the test looks at `sys.modules` of a real `dendrite secrets get`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Keys, clean_env

# what `secrets get` must not import: other commands' engines, and libraries only other paths need
NOT_FOR_SECRETS_GET = (
    "dendrite.nixlang",
    "dendrite.vars",
    "dendrite.demo",
    "dendrite.inventory",
    "dendrite.layout",
    "dendrite.cli.nix_cmd",
    "dendrite.cli.vars_cmd",
    "dendrite.cli.demo_cmd",
    "dendrite.cli.inventory_cmd",
    "dendrite.cli.layout_cmd",
    "dendrite.cli.sops_cmd",
    "dendrite.cli.findings",
    "dendrite.findings",
    "dendrite.secrets.health",
    "dendrite.secrets.keyfile",
    "dendrite.generators",
    "dendrite.undo",
    "ruamel",
    "pydantic",
    "rich",
    "multiprocessing",
)

_PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n"))
sys.argv = ["dendrite", *sys.argv[1:]]
from dendrite.cli.entry import run
run()
"""


def _modules(
    args: list[str], env: dict[str, str], cwd: Path
) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], env=env, cwd=cwd, capture_output=True, check=False, timeout=120
    )
    line = res.stderr.decode().rpartition("\nMODULES ")[2]
    return res, set(line.split())


def _offending(modules: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in banned))


@pytest.fixture
def repo(one_secret_repo: Path) -> Path:
    return one_secret_repo


# the CLI framework: `secrets get` runs without it (cli/fast.py), other commands import it when run
FRAMEWORK = ("typer", "click", "rich", "dendrite.cli.main", "dendrite.cli.common", "dendrite.cli.secrets_cmd")


@pytest.mark.parametrize(
    "global_args", [[], ["-C", "."], ["--repo", "."], ["--repo=."], ["--no-commit", "-C", "."]]
)
def test_secrets_get_imports_only_the_store(repo: Path, keys: Keys, global_args: list[str]) -> None:
    res, modules = _modules([*global_args, "secrets", "get", "db-password"], keys.env, repo)
    assert res.returncode == 0 and res.stdout == b"hunter2", res.stderr
    assert "dendrite.secrets.store" in modules and "dendrite.cli.secrets_base" in modules
    assert _offending(modules, (*NOT_FOR_SECRETS_GET, *FRAMEWORK)) == []


@pytest.mark.parametrize(
    "args",
    [
        ["secrets", "get", "nope"],  # a typo: the hint's "did you mean" lists the store
        ["-C", "/nonexistent", "secrets", "get", "db-password"],  # not a repository
        ["secrets", "get", "../x"],  # a name clan refuses
    ],
)
def test_secrets_get_errors_import_no_framework(repo: Path, keys: Keys, args: list[str]) -> None:
    """An error of `secrets get` is written as rich would write it to a pipe, without rich or Typer."""
    res, modules = _modules(args, keys.env, repo)
    assert res.returncode == 2 and res.stderr.startswith(b"error: "), res.stderr
    assert _offending(modules, FRAMEWORK) == []


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["secrets", "get", "--help"], 0, b"Print a secret's value."),
        (["secrets", "get", "db-password", "extra"], 2, b"unexpected extra argument"),
        (["secrets", "get", "--", "db-password"], 0, b"hunter2"),
        (["--debug", "secrets", "get", "db-password"], 0, b"hunter2"),
        (["-C", ".", "-C", ".", "secrets", "get", "db-password"], 0, b"hunter2"),
        (["-C.", "secrets", "get", "db-password"], 0, b"hunter2"),
        (["secrets", "get"], 2, b"Missing argument 'name'"),
    ],
)
def test_other_shapes_reach_typer(repo: Path, keys: Keys, args: list[str], code: int, said: bytes) -> None:
    res, modules = _modules(args, keys.env, repo)
    assert "typer" in modules and "dendrite.cli.secrets_cmd" in modules, res.stderr
    assert res.returncode == code and said in res.stdout + res.stderr, res.stderr


def test_a_completion_request_reaches_typer(repo: Path, keys: Keys) -> None:
    env = {
        **keys.env,
        "_DENDRITE_COMPLETE": "complete_bash",
        "COMP_WORDS": "dendrite secrets get d",
        "COMP_CWORD": "3",
    }
    res, modules = _modules(["secrets", "get", "d"], env, repo)
    assert "typer" in modules, res.stderr
    assert res.returncode == 0 and res.stdout.split() == [b"db-password"], res.stderr


def test_secrets_list_imports_no_rich_and_no_cipher(repo: Path, keys: Keys) -> None:
    res, modules = _modules(["secrets", "list"], keys.env, repo)
    assert res.returncode == 0 and res.stdout == b"db-password\n", res.stderr
    assert _offending(modules, (*NOT_FOR_SECRETS_GET, "cryptography")) == []  # listing decrypts nothing


def test_version_imports_no_framework(tmp_path: Path) -> None:
    res, modules = _modules(["--version"], clean_env(home=tmp_path), tmp_path)
    assert res.returncode == 0 and res.stdout.startswith(b"dendrite ")
    assert _offending(modules, ("typer", "rich", "dendrite.cli.main", "dendrite.secrets")) == []


def test_help_still_loads_every_command(tmp_path: Path) -> None:
    res, modules = _modules(["--help"], clean_env(home=tmp_path), tmp_path)
    assert res.returncode == 0
    for name in ("demo", "nix", "vars", "inventory", "layout", "sops", "secrets"):
        assert f"dendrite.cli.{name}_cmd" in modules
        assert f" {name} ".encode() in res.stdout


def test_migrate_status_imports_no_layout_and_no_probes(tmp_path: Path) -> None:
    """`migrate status` (run many times a day) reads the plan and the journal: not the layout parser
    the `scan`/`convert` commands beside it use, nor the probes, rollback and decision code `ops` drives
    (dendrite.migration.load, dendrite.cli.migrate_group)."""
    from dendrite.migration import ops

    ops.init(tmp_path, record=False)
    res, modules = _modules(["-C", str(tmp_path), "migrate", "status"], clean_env(home=tmp_path), tmp_path)
    assert res.returncode == 0 and b"Phase 0" in res.stdout, res.stderr
    assert "dendrite.migration.cache" in modules and "dendrite.migration.load" in modules
    banned = (
        "dendrite.layout",
        "dendrite.nixlang",
        "dendrite.cli.layout_cmd",
        "dendrite.migration.ops",
        "dendrite.migration.probes",
        "dendrite.migration.rollback",
        "dendrite.drv",
        "pydantic",
        "multiprocessing",
    )
    assert _offending(modules, banned) == []


@pytest.mark.parametrize(
    "args",
    [
        ["secrets", "groups", "add-user", "admins", "bob"],
        ["--no-commit", "-C", ".", "secrets", "groups", "remove-user", "admins", "alice"],
        ["secrets", "groups", "add-user", "admin", "bob"],  # a typo: the error, without the framework
    ],
)
def test_a_group_rekey_imports_no_framework(repo: Path, keys: Keys, args: list[str]) -> None:
    """`secrets groups add-user` / `remove-user` re-key on the fast path too (cli/fast.py): no Typer,
    click, rich or pydantic, nor other commands' engines; outside git, not even the process wrapper."""
    from dendrite.secrets import SecretsStore
    from dendrite.secrets.keys import SopsKey

    store = SecretsStore(repo, keys.identities)
    store.add_user("bob", [SopsKey("age", keys.b.public)])
    store.group_add("admins", "users", "alice")
    store.set("in-admins", b"x", groups=["admins"])
    res, modules = _modules(args, keys.env, repo)
    assert res.returncode == (2 if "admin" in args else 0), res.stderr
    assert "dendrite.cli.secrets_base" in modules
    # a change first rolls back an interrupted `vars generate` (its undo journal)
    banned = tuple(b for b in NOT_FOR_SECRETS_GET if b != "dendrite.undo")
    assert _offending(modules, (*banned, *FRAMEWORK, "dendrite.process")) == []
