"""Machines, inventory and layout commands on a hostile repository (issue 9).

Each test plants one attack in a copy of the demo fleet (or in a nixos-unified repository beside a
sentinel tree) and runs the real CLI: a refusal is exit 2 with one sentence and leaves the repository
byte-identical; legitimate input succeeds; the sentinel is never touched (its fixture checks that on
teardown); no command runs past the harness timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dendrite.layout.fixture import write_unified_repo
from tests.conftest import clean_env
from tests.hostile.conftest import (
    PRIVATE_MARK,
    TIMEOUT,
    Fleet,
    Sentinel,
    assert_refused,
    dendrite,
    tree_bytes,
)

# ------------------------------------------------------------------------------------------------ helpers


def run(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[bytes]:
    return dendrite(["--repo", str(fleet.root), *args], fleet.env)


def run_umask0(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """The CLI with umask 000: every mode dendrite creates must still be explicit."""
    return subprocess.run(
        [sys.executable, "-m", "dendrite", *args],
        check=False,
        env=env,
        capture_output=True,
        timeout=TIMEOUT,
        preexec_fn=lambda: os.umask(0),
    )


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def ok(res: subprocess.CompletedProcess[bytes]) -> str:
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    return res.stdout.decode(errors="replace")


@pytest.fixture
def with_tmp(fleet: Fleet) -> Fleet:
    """The fleet with a machine `tmp` made by dendrite itself (its name matches the sentinel's victim/tmp)."""
    ok(run(fleet, "machines", "create", "tmp"))
    (fleet.root / "vars" / "per-machine" / "tmp").mkdir()
    (fleet.root / "vars" / "per-machine" / "tmp" / "value").write_text("v\n")
    return fleet


def relink(path: Path, target: Path) -> None:
    """Replace whatever is at `path` with a symlink to `target`."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def assert_refused_unchanged(fleet: Fleet, before: object, *args: str, words: tuple[str, ...] = ()) -> None:
    res = run(fleet, *args)
    assert_refused(res, *words)
    assert tree_bytes(fleet.root) == before, "a refused command changed the repository"


# ------------------------------------------------------------------------------------------------ machines delete


def test_delete_through_a_symlinked_vars_per_machine_is_refused(with_tmp: Fleet, sentinel: Sentinel) -> None:
    relink(with_tmp.root / "vars" / "per-machine", sentinel.victim_dir)
    before = tree_bytes(with_tmp.root)
    assert_refused_unchanged(with_tmp, before, "machines", "delete", "tmp", words=("nothing was changed",))


def test_delete_through_a_symlinked_machines_dir_is_refused(with_tmp: Fleet, sentinel: Sentinel) -> None:
    relink(with_tmp.root / "machines", sentinel.victim_dir)
    before = tree_bytes(with_tmp.root)
    assert_refused_unchanged(with_tmp, before, "machines", "delete", "tmp", words=("symbolic link",))


def test_delete_of_a_symlinked_vars_machine_dir_is_refused(with_tmp: Fleet, sentinel: Sentinel) -> None:
    relink(with_tmp.root / "vars" / "per-machine" / "tmp", sentinel.victim_dir / "tmp")
    before = tree_bytes(with_tmp.root)
    assert_refused_unchanged(with_tmp, before, "machines", "delete", "tmp", words=("symbolic link",))


def test_delete_of_a_symlinked_machine_dir_is_refused(with_tmp: Fleet, sentinel: Sentinel) -> None:
    relink(with_tmp.root / "machines" / "tmp", sentinel.victim_dir / "tmp")
    before = tree_bytes(with_tmp.root)
    assert_refused_unchanged(with_tmp, before, "machines", "delete", "tmp", words=("symbolic link",))


def test_delete_through_a_symlinked_vars_dir_is_refused(with_tmp: Fleet, sentinel: Sentinel) -> None:
    outside = sentinel.root.parent / "fake-vars"  # not the sentinel: a tree the attacker shaped
    (outside / "per-machine" / "tmp").mkdir(parents=True)
    relink(with_tmp.root / "vars", outside)
    before = tree_bytes(with_tmp.root)
    assert_refused_unchanged(with_tmp, before, "machines", "delete", "tmp")
    assert (outside / "per-machine" / "tmp").is_dir()


def test_delete_of_a_legitimate_machine_succeeds_and_cleans_up(with_tmp: Fleet, sentinel: Sentinel) -> None:
    out = ok(run(with_tmp, "machines", "delete", "tmp"))
    assert "removed machines/tmp" in out and "removed vars/per-machine/tmp" in out
    assert not (with_tmp.root / "machines").exists()  # emptied, so removed, as clan does
    assert (with_tmp.root / "vars" / "per-machine" / "cinnabar").is_dir()
    assert "tmp" not in json.loads((with_tmp.root / "inventory.json").read_text())["machines"]


def test_delete_with_a_bad_name_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    before = tree_bytes(fleet.root)
    for bad in ("../../outside/victim", "tmp/..", ".."):
        assert_refused_unchanged(fleet, before, "machines", "delete", bad, words=("machine name",))


# ------------------------------------------------------------------------------------------------ machines create


def test_create_through_a_symlinked_machines_dir_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "machines").symlink_to(sentinel.victim_dir)
    before = tree_bytes(fleet.root)
    assert_refused_unchanged(fleet, before, "machines", "create", "newbox", words=("symbolic link",))


def test_create_with_a_symlinked_inventory_json_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "inventory.json").symlink_to(sentinel.authorized_keys)
    before = tree_bytes(fleet.root)
    assert_refused_unchanged(fleet, before, "machines", "create", "newbox", words=("symbolic link",))


def test_concurrent_creates_lose_no_inventory_entry(fleet: Fleet, sentinel: Sentinel) -> None:
    env = {**fleet.env, "DENDRITE_LOCK_TIMEOUT": str(TIMEOUT - 10)}
    names = [f"box{i}" for i in range(5)]

    def create(name: str) -> subprocess.CompletedProcess[bytes]:
        return dendrite(["--repo", str(fleet.root), "machines", "create", name], env)

    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(create, names))
    for res in results:
        ok(res)
    data = json.loads((fleet.root / "inventory.json").read_text())
    assert sorted(data["machines"]) == names
    for n in names:
        assert (fleet.root / "machines" / n / "configuration.nix").is_file()
    listed = json.loads(ok(run(fleet, "machines", "list", "--json")))
    assert set(names) <= set(listed)


def test_create_under_umask_000_gives_explicit_modes(fleet: Fleet, sentinel: Sentinel) -> None:
    ok(run_umask0(["--repo", str(fleet.root), "machines", "create", "newbox"], fleet.env))
    assert mode(fleet.root / "machines") == 0o755
    assert mode(fleet.root / "machines" / "newbox") == 0o755
    assert mode(fleet.root / "machines" / "newbox" / "configuration.nix") == 0o644
    assert mode(fleet.root / "inventory.json") == 0o644


# ------------------------------------------------------------------------------------------------ reads: FIFOs


@pytest.mark.parametrize(
    "args",
    [["inventory", "show"], ["inventory", "validate"], ["machines", "list"], ["machines", "create", "x1"]],
)
def test_fifo_inventory_json_is_refused_without_hanging(
    fleet: Fleet, sentinel: Sentinel, args: list[str]
) -> None:
    os.mkfifo(fleet.root / "inventory.json")
    before = tree_bytes(fleet.root)
    assert_refused_unchanged(fleet, before, *args, words=("FIFO",))


def test_fifo_nix_file_is_skipped_by_inventory_with_a_note(fleet: Fleet, sentinel: Sentinel) -> None:
    os.mkfifo(fleet.root / "modules" / "clan" / "inventory" / "pipe.nix")
    res = run(fleet, "inventory", "show", "--json")
    assert "cinnabar" in json.loads(ok(res))["machines"]
    assert "FIFO" in res.stderr.decode()
    assert "cinnabar" in ok(run(fleet, "machines", "list"))


def test_fifo_nix_file_is_a_lint_finding_and_skipped_by_modules(fleet: Fleet, sentinel: Sentinel) -> None:
    repo = write_unified_repo(fleet.root.parent / "unified")[0].parent
    ok(dendrite(["--repo", str(repo), "migrate", "convert", "--out", "dendritic"], fleet.env))
    os.mkfifo(repo / "dendritic" / "pipe.nix")
    os.mkfifo(repo / "dendritic" / "NOTES.md")  # read by the repository checks (D013)
    lint = dendrite(["layout", "lint", str(repo / "dendritic")], fleet.env)
    assert lint.returncode == 1 and "pipe.nix" in lint.stdout.decode() and "FIFO" in lint.stdout.decode()
    mods = dendrite(["layout", "modules", str(repo / "dendritic"), "--json"], fleet.env)
    assert "hosts/cinnabar" in json.loads(ok(mods))["nixos"] and "FIFO" in mods.stderr.decode()
    hosts = dendrite(["layout", "hosts", str(repo / "dendritic")], fleet.env)
    assert "cinnabar" in ok(hosts) and "FIFO" in hosts.stderr.decode()


def test_fifo_flake_nix_is_refused_by_layout(fleet: Fleet, sentinel: Sentinel) -> None:
    flake = fleet.root / "flake.nix"
    flake.unlink()
    os.mkfifo(flake)
    before = tree_bytes(fleet.root)
    for cmd in ("lint", "modules", "files"):
        res = dendrite(["layout", cmd, str(fleet.root)], fleet.env)
        assert_refused(res, "FIFO")
    assert tree_bytes(fleet.root) == before


# ------------------------------------------------------------------------------------------------ reads: symlinks


def test_symlinked_nix_file_is_not_read_from_outside(fleet: Fleet, sentinel: Sentinel) -> None:
    outside = sentinel.root.parent / "evil.nix"
    outside.write_text(f'{{ clan.inventory.machines.evil = {{ description = "{PRIVATE_MARK}"; }}; }}\n')
    (fleet.root / "modules" / "clan" / "evil.nix").symlink_to(outside)
    res = run(fleet, "inventory", "show", "--json")
    machines = json.loads(ok(res))["machines"]
    assert "evil" not in machines and "cinnabar" in machines
    assert "symbolic link" in res.stderr.decode() and PRIVATE_MARK.encode() not in res.stdout
    lint = dendrite(["layout", "lint", str(fleet.root)], fleet.env)
    assert "evil.nix" in lint.stdout.decode() and "symbolic link" in lint.stdout.decode()
    assert PRIVATE_MARK.encode() not in lint.stdout + lint.stderr


def test_symlinked_directory_of_nix_files_is_not_walked(fleet: Fleet, sentinel: Sentinel) -> None:
    outside = sentinel.root.parent / "evil"
    outside.mkdir()
    (outside / "m.nix").write_text("{ clan.inventory.machines.evil = { }; }\n")
    (fleet.root / "modules" / "clan" / "evil").symlink_to(outside)
    machines = json.loads(ok(run(fleet, "inventory", "show", "--json")))["machines"]
    assert "evil" not in machines and "cinnabar" in machines
    mods = dendrite(["layout", "modules", str(fleet.root), "--json"], fleet.env)
    assert "m.nix" not in ok(mods)


def test_symlinked_flake_nix_is_refused_by_layout(fleet: Fleet, sentinel: Sentinel) -> None:
    relink(fleet.root / "flake.nix", sentinel.authorized_keys)
    before = tree_bytes(fleet.root)
    assert_refused(dendrite(["layout", "lint", str(fleet.root)], fleet.env), "symbolic link")
    assert tree_bytes(fleet.root) == before


def test_import_root_through_a_link_to_outside_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    outside = sentinel.root.parent / "evil-modules"
    outside.mkdir()
    (outside / "m.nix").write_text("{ flake.modules.nixos.evil = { }; }\n")
    relink(fleet.root / "modules", outside)
    for cmd in ("lint", "modules", "hosts"):
        assert_refused(dendrite(["layout", cmd, str(fleet.root)], fleet.env), "outside the repository")
    machines = json.loads(ok(run(fleet, "inventory", "show", "--json")))["machines"]
    assert "evil" not in machines  # the inventory walk does not follow the link either


def test_symlinked_inventory_json_is_refused_by_show(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "inventory.json").symlink_to(sentinel.authorized_keys)
    res = run(fleet, "inventory", "show")
    assert_refused(res, "symbolic link")
    assert b"admin@laptop" not in res.stdout + res.stderr


def test_symlinked_machine_dir_is_not_a_machine(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "machines").mkdir()
    (fleet.root / "machines" / "tmp").symlink_to(sentinel.victim_dir / "tmp")
    res = run(fleet, "machines", "list")
    assert "tmp" not in ok(res).split() and "symbolic link" in res.stderr.decode()


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize("bad", ["../../outside/victim", "a/b", "-rf", ".hidden-not", "tmp\n"])
def test_bad_machine_name_in_inventory_json_is_refused(fleet: Fleet, sentinel: Sentinel, bad: str) -> None:
    (fleet.root / "inventory.json").write_text(json.dumps({"machines": {bad: {}}}))
    before = tree_bytes(fleet.root)
    for args in (["inventory", "validate"], ["machines", "list"]):
        assert_refused_unchanged(fleet, before, *args, words=("machine name",))


def test_bad_machine_name_in_a_nix_inventory_file_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "modules" / "clan" / "bad.nix").write_text(
        '{ clan.inventory.machines."../../outside/victim" = { }; }\n'
    )
    before = tree_bytes(fleet.root)
    assert_refused_unchanged(fleet, before, "inventory", "show", words=("machine name",))


def test_bad_machine_name_in_machines_dir_is_refused(fleet: Fleet, sentinel: Sentinel) -> None:
    (fleet.root / "machines" / "bad_name").mkdir(parents=True)
    before = tree_bytes(fleet.root)
    for args in (["inventory", "show"], ["machines", "create", "newbox"]):
        assert_refused_unchanged(fleet, before, *args, words=("machine name",))


# ------------------------------------------------------------------------------------------------ migrate convert


@pytest.fixture
def unified(tmp_path: Path) -> Path:
    repo = tmp_path / "unified"
    write_unified_repo(repo)
    return repo


def convert(repo: Path, *extra: str, umask0: bool = False) -> subprocess.CompletedProcess[bytes]:
    args = ["--repo", str(repo), "migrate", "convert", "--out", "dendritic", *extra]
    env = clean_env(home=repo.parent / "home")
    return run_umask0(args, env) if umask0 else dendrite(args, env)


def test_convert_into_a_symlinked_output_dir_is_refused(unified: Path, sentinel: Sentinel) -> None:
    (unified / "dendritic").symlink_to(sentinel.victim_dir)
    before = tree_bytes(unified)
    assert_refused(convert(unified), "symbolic link", "nothing was written")
    assert tree_bytes(unified) == before


def test_convert_through_a_symlinked_output_subdir_is_refused(unified: Path, sentinel: Sentinel) -> None:
    (unified / "dendritic").mkdir()
    (unified / "dendritic" / "hosts").symlink_to(sentinel.victim_dir)
    before = tree_bytes(unified)
    assert_refused(convert(unified), "symbolic link", "nothing was written")
    assert tree_bytes(unified) == before  # refused before the first file, not halfway


def test_convert_onto_a_symlinked_output_file_is_refused(unified: Path, sentinel: Sentinel) -> None:
    (unified / "dendritic" / "flake-parts").mkdir(parents=True)
    (unified / "dendritic" / "flake-parts" / "meta.nix").symlink_to(sentinel.authorized_keys)
    before = tree_bytes(unified)
    assert_refused(convert(unified, "--flake"), "symbolic link", "nothing was written")
    assert tree_bytes(unified) == before
    assert_refused(convert(unified, "--dry-run"), "symbolic link")  # nor read for the diff


def test_convert_onto_a_symlinked_flake_dendritic_is_refused(unified: Path, sentinel: Sentinel) -> None:
    (unified / "flake.dendritic.nix").symlink_to(sentinel.authorized_keys)
    before = tree_bytes(unified)
    assert_refused(convert(unified, "--flake"), "symbolic link", "nothing was written")
    assert tree_bytes(unified) == before


def test_convert_outside_the_repository_is_refused(unified: Path, sentinel: Sentinel) -> None:
    before = tree_bytes(unified)
    for out in ("../outside/victim", str(sentinel.victim_dir)):
        res = dendrite(
            ["--repo", str(unified), "migrate", "convert", "--out", out],
            clean_env(home=unified.parent / "home"),
        )
        assert_refused(res, "inside the repository")
    assert tree_bytes(unified) == before


def test_convert_of_a_symlinked_source_reports_it_and_never_reads_outside(
    unified: Path, sentinel: Sentinel
) -> None:
    relink(unified / "modules" / "nixos" / "ssh.nix", sentinel.private_key)
    assert_refused(convert(unified), "symbolic link", "nothing was written")  # a module missing: exit 2
    assert not (unified / "dendritic").exists()
    res = convert(unified, "--partial")  # the rest written, the link reported and left in place
    ok(res)
    assert "symbolic link" in res.stderr.decode()
    assert not (unified / "dendritic" / "nixos" / "ssh.nix").exists()
    for p in (unified / "dendritic").rglob("*"):
        assert p.is_dir() or PRIVATE_MARK.encode() not in p.read_bytes()


def test_convert_under_umask_000_gives_explicit_modes(unified: Path, sentinel: Sentinel) -> None:
    ok(convert(unified, "--flake", umask0=True))
    out = unified / "dendritic"
    assert mode(out) == 0o755 and mode(out / "hosts") == 0o755
    assert (
        mode(out / "hosts" / "nixos" / "cinnabar.nix") == 0o644
        and mode(unified / "flake.dendritic.nix") == 0o644
    )
    assert not [p for p in out.rglob("*.tmp")]  # atomic writes leave no temporary file


def test_migrate_scan_and_convert_do_not_wait_on_a_fifo_or_follow_a_link(
    unified: Path, sentinel: Sentinel
) -> None:
    host = unified / "configurations" / "nixos" / "hostx"
    host.mkdir()
    (host / "default.nix").write_text("{ flake, ... }: { imports = [ ./extra.nix ]; }\n")
    os.mkfifo(host / "extra.nix")
    (host / "escape.nix").symlink_to(sentinel.private_key)
    env = clean_env(home=unified.parent / "home")
    res = dendrite(["--repo", str(unified), "migrate", "scan"], env)  # the harness's timeout bounds it
    assert res.returncode == 0, res.stderr.decode()
    assert PRIVATE_MARK.encode() not in res.stdout
    assert convert(unified).returncode == 0
    for f in (unified / "dendritic").rglob("*"):
        assert not f.is_file() or PRIVATE_MARK.encode() not in f.read_bytes()


def test_git_runs_no_fsmonitor_command_from_the_repository(fleet: Fleet, tmp_path: Path) -> None:
    marker = tmp_path / "fsmonitor-ran"
    subprocess.run(["git", "init", "-q", str(fleet.root)], check=True)
    subprocess.run(["git", "-C", str(fleet.root), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(fleet.root), "config", "core.fsmonitor", f"touch {marker}; false"], check=True
    )
    res = dendrite(["--repo", str(fleet.root), "layout", "files"], fleet.env)
    assert res.returncode in (0, 1), res.stderr.decode()
    assert not marker.exists()
