"""The derivation diff on graphs the real Nix instantiates: what changed, where, and what is only a move."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dendrite.drv.diff import Differ, Verdict
from tests.drv.nixdrv import NIX_ENV, NIX_INSTANTIATE, instantiate, needs_nix

pytestmark = needs_nix

SYSTEM = r"""
{ motd ? "welcome", shell ? "/bin/sh", extra ? "", src ? "a", system ? "x86_64-linux" }:
let
  mk = name: attrs: builtins.derivation ({
    inherit name system;
    builder = shell;
    args = [ "-c" "echo ${name} > $out" ];
  } // attrs);
  source = builtins.path { path = ./. + "/${src}"; name = "source"; };
  lines = builtins.genList (i: "line ${toString i} of the message of the day") 30;
  motdFile = mk "motd" { text = builtins.concatStringsSep "\n" (lines ++ [ motd ] ++ lines); };
  banner = mk "banner" { file = "${source}/files/banner"; };
  etc = mk "etc" { entries = builtins.toJSON { motd = motdFile; banner = banner; hosts = "127.0.0.1 localhost"; }; };
  tools = map (n: mk "tool-${toString n}" { }) (builtins.genList (x: x) 20);
  pinned = ./pinned.txt;
in
mk "toplevel" ({
  inherit etc pinned;
  path = builtins.concatStringsSep ":" (map (t: "${t}/bin") tools);
} // (if extra == "" then { } else { extra = mk extra { }; }))
"""


@pytest.fixture
def system(tmp_path: Path) -> Path:
    (tmp_path / "system.nix").write_text(SYSTEM)
    (tmp_path / "pinned.txt").write_text("pinned\n")
    for side, other in (("a", "one"), ("b", "two")):
        (tmp_path / side / "files").mkdir(parents=True)
        (tmp_path / side / "files/banner").write_text("hello\n")
        (tmp_path / side / "other.nix").write_text(f"# {other}\n")  # the source trees differ elsewhere
    return tmp_path / "system.nix"


def top(expr: Path, **args: str) -> str:
    (path,) = instantiate(expr, argstr=args)
    return path


def test_the_same_configuration_is_identical(system: Path) -> None:
    result = Differ().compare(top(system), top(system))
    assert result.verdict is Verdict.IDENTICAL and result.differences == [] and result.root is None


def test_a_change_deep_down_is_named_with_its_path_and_parents_collapse(system: Path) -> None:
    result = Differ().compare(top(system), top(system, motd="welcome, friend"))
    assert result.verdict is Verdict.DIFFERENT
    (change,) = result.differences
    assert change.path == ("toplevel", "etc", "motd") and change.name == "motd"
    (env,) = change.env
    assert env.key == "text" and "-welcome" in env.diff and "+welcome, friend" in env.diff
    assert len(env.diff) < 10  # a short diff, not the 61 lines of the value
    # etc and toplevel differ only because motd does: no change of their own is reported
    assert result.root is not None and not result.root.changed and not result.root.children[0].changed
    tree = json.loads(json.dumps(result.to_json()))
    assert tree["differences"] == 1
    (motd,) = tree["tree"]["inputs"]  # etc only passes motd's change up: collapsed, as nix-diff does
    assert motd["path"] == ["toplevel", "etc", "motd"] and motd["env"][0]["key"] == "text"


def test_builder_system_and_inputs_added(system: Path) -> None:
    result = Differ().compare(top(system), top(system, shell="/bin/bash", extra="newdep"))
    fields = {(f.field, f.old, f.new) for d in result.differences for f in d.fields}
    assert ("builder", "/bin/sh", "/bin/bash") in fields
    root = result.root
    assert root is not None and root.changed
    assert [p.rsplit("-", 1)[-1] for p in root.drvs_added] == ["newdep.drv"]
    assert {e.key for e in root.env} == {"extra"}  # `path` and `etc` differ only through their inputs
    arch = Differ().compare(top(system), top(system, system="aarch64-linux"))
    assert ("system", "x86_64-linux", "aarch64-linux") in {
        (f.field, f.old, f.new) for d in arch.differences for f in d.fields
    }


def test_a_moved_flake_source_is_not_a_change(system: Path) -> None:
    old, new = top(system, src="a"), top(system, src="b")
    plain = Differ().compare(old, new)
    assert plain.verdict is Verdict.DIFFERENT  # without knowing the sources: a changed input source
    (banner,) = plain.differences
    assert banner.name == "banner" and [b.rsplit("-", 1)[-1] for _, b in banner.srcs_changed] == ["source"]
    src_a = instantiate_source(system, "a")
    src_b = instantiate_source(system, "b")
    moved = Differ(old_sources=frozenset({src_a}), new_sources=frozenset({src_b})).compare(old, new)
    assert moved.verdict is Verdict.SOURCES_MOVED and moved.differences == []
    assert moved.root is not None and [d.name for d in moved.root.walk() if d.srcs_moved] == ["banner"]


def instantiate_source(system: Path, side: str) -> str:
    """The store path `builtins.path` gives the side's tree: what verify learns as the flake source."""
    assert NIX_INSTANTIATE is not None
    expr = f'builtins.path {{ path = {system.parent}/{side}; name = "source"; }}'
    proc = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--read-write-mode", "--json", "-E", expr],
        capture_output=True,
        check=True,
        env=NIX_ENV,
        timeout=60,
    )
    value: str = json.loads(proc.stdout)
    return value


def test_a_changed_pinned_file_is_a_changed_input_source(system: Path) -> None:
    old = top(system)
    (system.parent / "pinned.txt").write_text("pinned, changed\n")
    result = Differ().compare(old, top(system))
    (change,) = result.differences
    assert change.name == "toplevel" and [p.rsplit("-", 1)[-1] for _, p in change.srcs_changed] == [
        "pinned.txt"
    ]
    assert change.env == ()  # the env var holding the path is the same source, reported once


def test_a_changed_file_of_a_moved_source_is_a_change(system: Path) -> None:
    (system.parent / "b/files/banner").write_text("goodbye\n")
    old, new = top(system, src="a"), top(system, src="b")
    sources = {"old_sources": frozenset({instantiate_source(system, "a")})}
    differ = Differ(**sources, new_sources=frozenset({instantiate_source(system, "b")}))
    result = differ.compare(old, new)
    assert result.verdict is Verdict.DIFFERENT
    (banner,) = result.differences
    assert [(f.field, f.old, f.new) for f in banner.fields] == [
        ("file files/banner of the flake source", "'hello\\n'", "'goodbye\\n'")
    ]


LATTICE = r"""
{ bump }:
let
  mk = name: attrs: builtins.derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh"; } // attrs);
  layer = l: if l == 0 then [ (mk "a0" { seed = bump; }) (mk "b0" { }) ] else
    let below = layer (l - 1); in [ (mk "a${toString l}" { deps = below; }) (mk "b${toString l}" { deps = below; }) ];
in
mk "root" { deps = layer 40; }
"""


def test_a_lattice_is_walked_once_per_pair(tmp_path: Path) -> None:
    # every pair is reachable along 2^40 paths: walking, counting and JSON visit each pair once
    (tmp_path / "lattice.nix").write_text(LATTICE)
    old, new = top(tmp_path / "lattice.nix", bump="1"), top(tmp_path / "lattice.nix", bump="2")
    result = Differ().compare(old, new)
    assert [d.name for d in result.differences] == ["a0"]
    assert result.root is not None and sum(1 for _ in result.root.walk()) == 1 + 2 * 40 + 1
    assert len(json.dumps(result.to_json())) < 200_000


CHAIN = r"""
{ bump }:
let
  mk = name: attrs: builtins.derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh"; } // attrs);
  chain = l: if l == 0 then mk "c0" { seed = bump; } else mk "c${toString l}" { dep = chain (l - 1); };
in
chain 3000
"""


def test_a_chain_deeper_than_pythons_recursion_limit(tmp_path: Path) -> None:
    (tmp_path / "chain.nix").write_text(CHAIN)
    old, new = top(tmp_path / "chain.nix", bump="1"), top(tmp_path / "chain.nix", bump="2")
    result = Differ().compare(old, new)
    (change,) = result.differences
    assert change.name == "c0" and len(change.path) == 3001
    tree = json.loads(json.dumps(result.to_json()))["tree"]
    assert tree["name"] == "c3000" and tree["inputs"][0]["name"] == "c0"  # 2,999 links collapsed


def test_a_long_one_line_value_is_diffed_by_item() -> None:
    from dendrite.drv.diff import text_diff

    old = ",".join(f'"pkg{i}"' for i in range(60))
    new = old.replace('"pkg31"', '"pkg31-patched"')
    lines = text_diff(old, new)
    assert '-"pkg31",' in lines and '+"pkg31-patched",' in lines and len(lines) <= 6
