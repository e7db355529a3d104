"""Files git does not track yet, with real git: `layout lint` checks them (and says they are untracked),
and `layout files` and `inventory show` agree on what the flake sees."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import clean_env, run_cli

FLAKE = "{ outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } (inputs.import-tree ./modules); }\n"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _repo(root: Path, files: dict[str, str], tracked: list[str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    if tracked:
        _git(root, "add", *tracked)
    return root


def test_lint_checks_a_repository_nothing_of_which_is_tracked_yet(tmp_path: Path) -> None:
    # a fresh `git init`: every file untracked; lint said "0 files" and found nothing
    repo = _repo(
        tmp_path / "r",
        {
            "flake.nix": FLAKE,
            "modules/host.nix": "{ services.openssh.enable = true; }\n",  # D002: a NixOS option at the top
            "modules/broken.nix": "{ a = ; }\n",  # D001
        },
        [],
    )
    env = clean_env(home=tmp_path / "home")
    res = run_cli(["--repo", str(repo), "layout", "lint"], env)
    assert res.returncode == 1, res.stdout
    text = res.stdout.decode()
    assert "2 files" in res.stderr.decode() and "error D001" in text and "error D002" in text
    assert text.count("warning D009") == 2  # each still said to be invisible to the flake
    found = json.loads(run_cli(["--repo", str(repo), "layout", "lint", "--json"], env).stdout)
    assert sorted({f["rule"] for f in found}) == ["D001", "D002", "D009"]


def test_files_and_inventory_agree_on_what_the_flake_sees(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path / "r",
        {
            "flake.nix": FLAKE,
            "modules/a.nix": "{ clan.inventory.machines.alpha = { }; }\n",
            "modules/b.nix": "{ clan.inventory.machines.beta = { }; }\n",
            "elsewhere/c.nix": "{ clan.inventory.machines.gamma = { }; }\n",
        },
        ["flake.nix", "modules/a.nix", "elsewhere/c.nix"],
    )
    env = clean_env(home=tmp_path / "home")

    def both() -> tuple[list[str], list[str], set[str]]:
        listed = json.loads(run_cli(["--repo", str(repo), "layout", "files", "--json"], env).stdout)
        shown = json.loads(run_cli(["--repo", str(repo), "inventory", "show", "--json"], env).stdout)
        return listed["files"], listed["untracked"], set(shown["machines"])

    files, untracked, machines = both()
    assert files == ["a.nix"] and untracked == [str(repo / "modules/b.nix")] and machines == {"alpha"}
    _git(repo, "add", "modules/b.nix")
    files, untracked, machines = both()
    assert files == ["a.nix", "b.nix"] and untracked == [] and machines == {"alpha", "beta"}
    # without flake.nix both fall back to modules/ (the repository root was listed instead)
    _git(repo, "rm", "-q", "--cached", "flake.nix")
    (repo / "flake.nix").unlink()
    files, untracked, machines = both()
    assert files == ["a.nix", "b.nix"] and machines == {"alpha", "beta"}
    # a directory named on the command line without a flake.nix is itself the import root
    named = json.loads(run_cli(["--repo", str(repo), "layout", "files", str(repo), "--json"], env).stdout)
    assert named["files"] == ["elsewhere/c.nix", "modules/a.nix", "modules/b.nix"]
