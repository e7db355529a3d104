"""nixos-unified → dendritic: valid Nix, clean lint, idempotent, nothing lost (parsed trees compared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.layout import convert as conv
from dendrite.layout.discovery import discover
from dendrite.layout.fixture import FILES, write_unified_repo
from dendrite.layout.lint import lint
from dendrite.layout.namespace import hosts, namespace, parse_all
from dendrite.layout.unified import scan
from dendrite.nixlang import parse, parse_file
from dendrite.nixlang import syntax as S
from dendrite.nixlang.query import flat_bindings, module_body
from tests.conftest import clean_env, run_cli
from tests.nixlang.oracle import needs_nix, nix_verdicts


@pytest.fixture
def unified(tmp_path: Path) -> Path:
    write_unified_repo(tmp_path)
    return tmp_path


def test_scan_finds_entries_uses_and_the_map(unified: Path) -> None:
    s = scan(unified)
    kinds = sorted((e.kind, e.name) for e in s.entries)
    assert (
        ("host-nixos", "cinnabar") in kinds
        and ("home", "crs58@stibnite") in kinds
        and ("overlay", "default") in kinds
    )
    uses = {(u.file.name, u.kind) for u in s.uses}
    assert ("cinnabar.nix", "self-module") in uses and ("stibnite.nix", "config") in uses
    assert ("default.nix", "inputs") in uses
    assert (
        "configurations/nixos/cinnabar.nix",
        "hosts/nixos/cinnabar.nix",
        'flake.modules.nixos."hosts/cinnabar"',
    ) in s.mapping
    assert any("max-jobs" in i for i in s.implicit)


def test_convert_refuses_modules_when_it_holds_old_files(unified: Path) -> None:
    with pytest.raises(InputError, match="modules/ holds nixos-unified files"):
        conv.plan(unified)


@needs_nix
def test_converted_tree_parses_lints_clean_and_is_idempotent(unified: Path) -> None:
    before = {rel: (unified / rel).read_text() for rel in FILES}
    plan = conv.plan(unified, Path("dendritic"), with_flake=True)
    written = conv.write(plan)
    assert written and all(p.exists() for p in written)
    assert {rel: (unified / rel).read_text() for rel in FILES} == before  # the old tree is untouched
    nix_files = [*sorted((unified / "dendritic").rglob("*.nix")), unified / "flake.dendritic.nix"]
    assert all(nix_verdicts(nix_files)), "a converted file does not parse with nix-instantiate"
    assert [f for f in lint(unified, unified / "dendritic", use_git=False) if f.severity == "error"] == []
    again = conv.plan(unified, Path("dendritic"), with_flake=True)
    assert conv.write(again) == []  # idempotent: nothing changes the second time
    assert "_unconverted/nixos-flake.nix" in " ".join(plan.report)


def _inner_body(converted: Path) -> S.Node:
    body = module_body(parse_file(converted).result.root)
    assert body is not None
    (b,) = [b for b in flat_bindings(body, max_depth=4) if b.path[:2] == ("flake", "modules")]
    value = b.value
    imports = [x for x in flat_bindings(value) if x.path == ("imports",)] if value.kind == S.ATTR_SET else []
    if imports and imports[0].value.kind == S.LIST:  # a host: the original is the parenthesised element
        value = imports[0].value.nodes()[-1]
    found = module_body(value)
    assert found is not None
    return found


def test_layout_hosts_sees_every_converted_host_and_what_it_imports(unified: Path) -> None:
    # the converted generator makes nixos and darwin hosts in one file, and a host's inner module
    # reaches the namespace through the `topLevel@` alias: both were missed (darwin hosts, `default`)
    conv.write(conv.plan(unified, Path("dendritic"), with_flake=True))
    parsed = parse_all(discover(unified / "dendritic", use_git=False).files)
    found = {h.name: (h.cls, h.modules) for h in hosts(parsed, namespace(parsed))}
    assert found == {
        "cinnabar": ("nixos", ["nixos-unified-compat", "default"]),
        "blackphos": ("darwin", ["nixos-unified-compat", "default"]),
        "stibnite": ("darwin", ["nixos-unified-compat", "default"]),
    }


def test_every_binding_of_every_module_body_survives(unified: Path) -> None:
    plan = conv.plan(unified, Path("dendritic"))
    conv.write(plan)
    pairs = [
        ("modules/nixos/default.nix", "dendritic/nixos/default.nix"),
        ("modules/nixos/ssh.nix", "dendritic/nixos/ssh.nix"),
        ("modules/home/default.nix", "dendritic/home/default.nix"),
        ("configurations/nixos/cinnabar.nix", "dendritic/hosts/nixos/cinnabar.nix"),
        ("configurations/darwin/stibnite.nix", "dendritic/hosts/darwin/stibnite.nix"),
        ("configurations/home/crs58@stibnite.nix", "dendritic/home/users-crs58@stibnite.nix"),
    ]
    for old, new in pairs:
        original = module_body(parse_file(unified / old).result.root)
        assert original is not None
        want = {b.path for b in flat_bindings(original)}
        got = {b.path for b in flat_bindings(_inner_body(unified / new))}
        assert want == got, (old, want ^ got)
    text = (unified / "dendritic/hosts/darwin/stibnite.nix").read_text()
    assert "topLevel.config.flake.modules.darwin.default" in text and "topLevel.config.me.username" in text
    assert "flake.inputs" not in text and "# the primary workstation" in text  # rewritten; comments kept
    assert "../../modules/nixos/ssh.nix" in (unified / "dendritic/nixos/default.nix").read_text()


def test_cli_scan_and_dry_run(unified: Path) -> None:
    env = clean_env(home=unified / "home")
    res = run_cli(["--repo", str(unified), "migrate", "scan", "--json"], env)
    data = json.loads(res.stdout)
    assert len(data["entries"]) == 12 and data["implicit"]
    dry = run_cli(["--repo", str(unified), "migrate", "convert", "--out", "dendritic", "--dry-run"], env)
    assert dry.returncode == 0 and b"+++ " in dry.stdout and not (unified / "dendritic").exists()
    refused = run_cli(["--repo", str(unified), "migrate", "convert"], env)
    assert refused.returncode == 2 and b"--out dendritic" in refused.stderr
    assert run_cli(["--repo", str(unified), "migrate", "convert", "--out", "dendritic"], env).returncode == 0
    # --flake under --dry-run, or when the file is already there, does not claim to have written it
    flake_args = ["--repo", str(unified), "migrate", "convert", "--out", "dendritic", "--flake"]
    for args in ([*flake_args, "--dry-run"], flake_args, flake_args):
        res = run_cli(args, env)
        assert res.returncode == 0 and b"wrote flake.dendritic.nix" not in res.stdout + res.stderr
    assert b"wrote" not in res.stdout + res.stderr  # the second run writes nothing and says so
    lint_res = run_cli(["--repo", str(unified), "layout", "lint", str(unified / "dendritic"), "--sarif"], env)
    assert lint_res.returncode == 0 and json.loads(lint_res.stdout)["version"] == "2.1.0"
    mods = json.loads(run_cli(["layout", "modules", str(unified / "dendritic"), "--json"], env).stdout)
    assert "hosts/cinnabar" in mods["nixos"] and "nixos-unified-compat" in mods["darwin"]
    assert parse((unified / "dendritic/overlays/default.nix").read_text()).ok
