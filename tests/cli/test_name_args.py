"""Names on the command line are checked by `dendrite.names`, as Typer callbacks, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dendrite import names
from dendrite.cli.common import name_arg
from dendrite.errors import NameError_
from tests.conftest import clean_env, run_cli


def _library_error(kind: names.Kind, name: str) -> tuple[str, str]:
    with pytest.raises(NameError_) as info:
        names.check(kind, name)
    assert info.value.hint is not None
    return f"error: {info.value.message}", f"hint: {info.value.hint}"


@pytest.mark.parametrize(
    ("args", "kind", "bad"),
    [
        (["secrets", "set", "../x"], "secret", "../x"),
        (["secrets", "rename", "--", "ok", "-x"], "secret", "-x"),
        (["secrets", "users", "add", "Bob", "age1x"], "user", "Bob"),
        (["secrets", "groups", "add-user", "admins", "../u"], "user", "../u"),
        (["secrets", "groups", "add-machine", "a.b", "m1"], "group", "a.b"),
        (["secrets", "groups", "remove-machine", "admins", "bad_machine"], "machine", "bad_machine"),
        (["secrets", "set", "ok", "--machine", "m/1"], "machine", "m/1"),
        (["vars", "generate", "m1", "../m"], "machine", "../m"),
        (["vars", "check", "-g", ".hidden"], "generator", ".hidden"),
        (["machines", "create", "web", "--tag", "a b"], "tag", "a b"),
        (["machines", "delete", "a/b"], "machine", "a/b"),
    ],
)
def test_a_bad_name_is_the_library_error_and_exit_2(
    tmp_path: Path, args: list[str], kind: names.Kind, bad: str
) -> None:
    res = run_cli(args, clean_env(home=tmp_path), cwd=tmp_path, stdin=b"value")
    err = res.stderr.decode()
    assert res.returncode == 2, err
    assert err.splitlines() == list(_library_error(kind, bad)), err  # one sentence and the hint, no box


def test_a_good_name_passes_to_the_command(tmp_path: Path) -> None:
    # the name is accepted; the command itself then says the secret does not exist (in a store: outside
    # any repository it would say so instead, tests/cli/test_outside_repo.py)
    (tmp_path / "sops").mkdir()
    res = run_cli(["secrets", "get", "db-password"], clean_env(home=tmp_path), cwd=tmp_path)
    assert res.returncode == 2 and b"'db-password' does not exist" in res.stderr, res.stderr


def test_the_callback_checks_single_names_lists_and_none() -> None:
    check = name_arg("machine")
    assert check("web-1") == "web-1"
    assert check(["a", "b"]) == ["a", "b"]
    assert check(None) is None
    with pytest.raises(NameError_, match="machine name 'b_2'"):
        check(["a", "b_2"])
