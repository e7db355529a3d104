"""One set of Nix files: `layout files`, `inventory show` and `nix check-syntax` agree on a real git repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import clean_env, run_cli

FLAKE = (
    "{\n  outputs = inputs: inputs.flake-parts.lib.mkFlake { inherit inputs; } "
    "(inputs.import-tree ./modules);\n}\n"
)


def machine(name: str) -> str:
    return "{ ... }:\n{\n  clan.inventory.machines." + name + ' = { machineClass = "nixos"; };\n}\n'


# each file names one machine: which machines the inventory shows says which files it read
FILES = {
    "flake.nix": FLAKE,
    "modules/alpha.nix": machine("alpha"),
    "modules/.hidden.nix": machine("dotty"),  # import-tree has no dotfile rule
    "modules/hosts/beta.nix": machine("beta"),
    "modules/_private/ghost.nix": machine("ghost"),  # a `/_` component: never imported
    "modules/hosts/_disko.nix": machine("disko"),
    "modules/new.nix": machine("newbie"),  # on disk, but never `git add`ed: the flake cannot see it
    "outside/extra.nix": machine("outsider"),  # not under the import root
    "modules/notes.txt": "clan.inventory.machines.text = { };\n",
}
UNTRACKED = {"modules/new.nix"}


def make_repo(root: Path) -> Path:
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", *(set(FILES) - UNTRACKED)], check=True)
    return root


def test_inventory_show_and_layout_files_agree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    env = clean_env(home=tmp_path)
    layout = run_cli(["-C", str(repo), "layout", "files", "--json"], env)
    assert layout.returncode == 0, layout.stderr
    listed = json.loads(layout.stdout)
    assert listed["files"] == [".hidden.nix", "alpha.nix", "hosts/beta.nix"]
    assert listed["untracked"] == [str((repo / "modules/new.nix").resolve())]

    shown = run_cli(["-C", str(repo), "inventory", "show", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    machines = set(json.loads(shown.stdout)["machines"])
    named_in_listed = {FILES["modules/" + f].split(".machines.")[1].split(" ")[0] for f in listed["files"]}
    assert machines == named_in_listed == {"alpha", "dotty", "beta"}
    # the untracked file is reported, not read and not silently dropped
    assert "new.nix" in shown.stderr.decode() and "git does not track this file" in shown.stderr.decode()

    checked = run_cli(["nix", "check-syntax", "--json", str(repo / "modules")], env)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    # the same rule: the listed files plus the untracked one it names as such
    assert report["files"] == len(listed["files"]) + 1
    assert report["untracked"] == [str(repo / "modules/new.nix")]


def test_without_git_every_selected_file_counts(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    for rel, text in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    env = clean_env(home=tmp_path)
    listed = json.loads(run_cli(["-C", str(repo), "layout", "files", "--json"], env).stdout)
    assert listed["files"] == [".hidden.nix", "alpha.nix", "hosts/beta.nix", "new.nix"]
    assert listed["untracked"] == []
    shown = json.loads(run_cli(["-C", str(repo), "inventory", "show", "--json"], env).stdout)
    assert set(shown["machines"]) == {"alpha", "dotty", "beta", "newbie"}
