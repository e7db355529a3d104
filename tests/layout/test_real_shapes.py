"""`migrate convert` on repositories shaped like real nixos-unified ones (tests/layout/unified_shapes.py):
every written file parses with the real `nix-instantiate --parse`, scan and convert name the same
targets, a second run changes nothing, and what `layout modules` / `layout hosts` report statically is
what the real flake-parts and import-tree evaluate (tests/layout/flake_oracle.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dendrite.layout import convert as conv
from dendrite.layout.lint import lint
from dendrite.layout.namespace import definitions, read_parsed
from dendrite.layout.unified import scan
from dendrite.nixlang import parse
from dendrite.nixlang import syntax as S
from dendrite.nixlang.query import flat_bindings, module_body
from tests.conftest import clean_env, run_cli
from tests.layout import flake_oracle
from tests.layout.flake_oracle import needs_oracle
from tests.layout.unified_shapes import SHAPES, write_shape
from tests.nixlang.oracle import needs_nix, nix_verdicts

# inputs the converted trees name that the oracle does not carry (their modules are never evaluated)
STUBS = [
    "nixpkgs",
    "nixpkgs-stable",
    "home-manager",
    "nix-darwin",
    "nixos-unified",
    "agenix",
    "nix-index-database",
]


@pytest.fixture(params=sorted(SHAPES))
def converted(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, conv.Plan]:
    """A shape written, converted into dendritic/ with flake.dendritic.nix; the plan that wrote it."""
    name: str = request.param
    repo = write_shape(tmp_path / name, SHAPES[name])
    plan = conv.plan(repo, Path("dendritic"), with_flake=True)
    conv.write(plan)
    return name, repo, plan


@needs_nix
def test_every_written_file_parses_with_real_nix(converted: tuple[str, Path, conv.Plan]) -> None:
    # the overlays shape was written with an unbound `topLevel` (overlays, a flake-parts file)
    name, repo, plan = converted
    written = sorted(plan.files)
    assert written and all(p.is_file() for p in written)
    verdicts = dict(zip(written, nix_verdicts(written), strict=True))
    assert [p for p, ok in verdicts.items() if not ok] == [], name
    errors = [f for f in lint(repo, repo / "dendritic", use_git=False) if f.severity == "error"]
    assert errors == [], name


def test_scan_and_convert_name_the_same_targets(converted: tuple[str, Path, conv.Plan]) -> None:
    name, repo, plan = converted
    out = repo / "dendritic"
    for source, target, defined in scan(repo).mapping:
        assert out / target in plan.files, (name, source, target)
        if defined.startswith("flake.modules."):
            cls, _, entry = defined.removeprefix("flake.modules.").partition(".")
            found = {(d.cls, d.name) for d in definitions(read_parsed(out / target, repo), out / target)}
            assert (cls, entry.strip('"')) in found, (name, target, found)


def test_a_second_conversion_changes_nothing(converted: tuple[str, Path, conv.Plan]) -> None:
    _, repo, _ = converted
    again = conv.plan(repo, Path("dendritic"), with_flake=True)
    assert again.changed() == [] and again.diff() == "" and conv.write(again) == []
    env = clean_env(home=repo / "home")
    dry = run_cli(
        ["--repo", str(repo), "migrate", "convert", "--out", "dendritic", "--flake", "--dry-run"], env
    )
    assert dry.returncode == 0 and dry.stdout == b"", dry.stdout
    assert b"nothing would change" in dry.stderr


def test_the_rewrites_reach_what_nixos_unified_reached(tmp_path: Path) -> None:
    srid = write_shape(tmp_path / "srid", SHAPES["srid-nixos-config"])
    conv.write(conv.plan(srid, Path("dendritic")))
    darwin = (srid / "dendritic/darwin/default.nix").read_text()
    # a darwin module's nixosModules.common: the same module, defined for darwin too (classes are checked)
    assert (
        "topLevel.config.flake.modules.darwin.common" in darwin
        and "inherit (topLevel) config inputs;" in darwin
    )
    common = read_parsed(srid / "dendritic/nixos/common.nix", srid)
    assert {(d.cls, d.name) for d in definitions(common, srid)} == {("nixos", "common"), ("darwin", "common")}
    assert "flake = { inherit self inputs config; };" in (srid / "dendritic/overlays/default.nix").read_text()

    template = write_shape(tmp_path / "template", SHAPES["nixos-unified-template"])
    plan = conv.plan(template, Path("dendritic"))
    conv.write(plan)
    home = (template / "dendritic/home/default.nix").read_text()
    assert "(fn: ../../modules/home/${fn})" in home and "readDir ../../modules/home" in home
    assert (template / "dendritic/hosts/nixos/example.nix").is_file()
    assert (template / "dendritic/hosts/darwin/example.nix").is_file()
    assert (
        "topLevel.config.flake.modules.nixos.common" in (template / "dendritic/nixos/default.nix").read_text()
    )
    assert any("toplevel.nix: kept under" in line for line in plan.report)  # the autowire import

    overlays = write_shape(tmp_path / "overlays", SHAPES["overlays"])
    conv.write(conv.plan(overlays, Path("dendritic")))
    host = (overlays / "dendritic/hosts/nixos/orb.nix").read_text()
    assert "(import ../../../configurations/nixos/orb/tools.nix { flake = topLevel; })" in host
    assert "topLevel@{ self, lib, ... }:" in (overlays / "dendritic/flake-parts/vm-check.nix").read_text()
    assert "flakeInputs = topLevel.inputs;" in (overlays / "dendritic/nixos/default.nix").read_text()


def test_a_shadowed_flake_is_left_alone(tmp_path: Path) -> None:
    repo = write_shape(
        tmp_path / "r",
        {
            "modules/nixos/x.nix": """{ flake, ... }:
{
  a = flake.inputs.nixpkgs;
  b = let flake = { inputs.nixpkgs = 1; }; in flake.inputs.nixpkgs;
  c = ({ flake }: flake.config) { flake.config = 2; };
}
""",
        },
    )
    text = conv.rewrite(repo / "modules/nixos/x.nix", repo / "dendritic/nixos/x.nix").text
    assert "a = topLevel.inputs.nixpkgs;" in text
    assert "in flake.inputs.nixpkgs;" in text and "{ flake }: flake.config" in text


def _compat_module(cls: str) -> S.Node:
    body = module_body(parse(conv.COMPAT).root)
    assert body is not None
    (value,) = [
        b.value
        for b in flat_bindings(body, max_depth=3)
        if b.path == ("flake", "modules", cls, "nixos-unified-compat")
    ]
    return value


@pytest.mark.parametrize("cls", ["nixos", "darwin"])
def test_the_compat_module_imports_what_it_sets(cls: str) -> None:
    # nixos-unified's mkLinuxSystem/mkMacosSystem import home-manager's module before setting its options
    # (nix/modules/flake-parts/lib.nix), and its configurations module declares nixos-unified.*
    value = _compat_module(cls)
    roots = {b.path[0] for b in flat_bindings(value, max_depth=1)} - {"imports"}
    assert roots == {"home-manager"}
    (imports,) = [b.value for b in flat_bindings(value, max_depth=1) if b.path == ("imports",)]
    listed = [n.text() for n in imports.nodes()]
    assert f"inputs.home-manager.{cls}Modules.home-manager" in listed and "unifiedOptions" in listed
    assert 'unifiedOptions = inputs.nixos-unified + "/nix/modules/configurations";' in conv.COMPAT


def _static(repo: Path, tree: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What dendrite says, through its CLI: the namespace, and the hosts by class."""
    env = clean_env(home=repo / "home")
    mods = run_cli(["--repo", str(repo), "layout", "modules", str(tree), "--json"], env)
    hosts = run_cli(["--repo", str(repo), "layout", "hosts", str(tree), "--json"], env)
    assert mods.returncode == 0 and hosts.returncode == 0, mods.stderr + hosts.stderr
    by_class: dict[str, list[str]] = {"nixos": [], "darwin": []}
    for h in json.loads(hosts.stdout):
        by_class[h["cls"]].append(h["name"])
    return {c: sorted(n) for c, n in json.loads(mods.stdout).items()}, {
        c: sorted(n) for c, n in by_class.items()
    }


@needs_oracle
def test_static_namespace_and_hosts_equal_real_flake_parts(converted: tuple[str, Path, conv.Plan]) -> None:
    name, repo, _ = converted
    tree = repo / "dendritic"
    modules, hosts = _static(repo, tree)
    assert modules == flake_oracle.namespace(tree, STUBS), name
    assert hosts == flake_oracle.configurations(tree, STUBS), name
    s = scan(repo)
    want = {"nixos": sorted(e.name for e in s.entries if e.kind == "host-nixos")}
    want["darwin"] = sorted(e.name for e in s.entries if e.kind == "host-darwin")
    assert hosts == want, name  # every converted host, NixOS and darwin, is a configuration


@needs_oracle
def test_converted_overlays_and_flake_parts_files_evaluate(tmp_path: Path) -> None:
    repo = write_shape(tmp_path / "overlays", SHAPES["overlays"])
    conv.write(conv.plan(repo, Path("dendritic")))
    tree = repo / "dendritic"
    # the overlay's `flake.inputs.self.lib or { }` went through topLevel: applied, it evaluates
    assert flake_oracle.evaluate(tree, "(r.outputs.overlays.default { } { }).myLib", STUBS) == {}
    assert flake_oracle.evaluate(tree, "builtins.attrNames r.outputs.overlays", STUBS) == [
        "default",
        "stable",
    ]
    expr = (
        "map (m: (m { })._file) r.outputs.lib.vmModules"  # flake-parts wraps each entry (extras/modules.nix)
    )
    (where,) = flake_oracle.evaluate(tree, expr, STUBS)  # self.nixosModules.default became the namespace's
    assert where.endswith("#modules.nixos.default")


@needs_oracle
def test_demo_fleets_converted_tree_equals_real_flake_parts(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path / "home")
    made = run_cli(["demo", str(tmp_path / "fleet")], env)
    assert made.returncode == 0, made.stderr
    legacy = tmp_path / "fleet" / "nixos-unified"
    tree = legacy / "dendritic"
    modules, hosts = _static(legacy, tree)
    assert modules == flake_oracle.namespace(tree, STUBS)
    assert (
        hosts
        == flake_oracle.configurations(tree, STUBS)
        == {"darwin": ["blackphos", "stibnite"], "nixos": ["cinnabar"]}
    )


@needs_nix
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a flake-parts file: topLevel is bound before its pattern, or its own `@` name is used
        (
            "{ self, ... }: { flake.x = self.nixosModules.a; }",
            "topLevel@{ self, ... }: { flake.x = topLevel.config",
        ),
        (
            "args@{ self, ... }: { flake.x = self.nixosModules.a; }",
            "args@{ self, ... }: { flake.x = args.config",
        ),
        ("args: { flake.x = args.self.nixosModules.a; }", "args: { flake.x = args.self.nixosModules.a; }"),
        # nothing to bind: the file is left as it was
        ("{ lib, ... }: { flake.x = lib.id; }", "{ lib, ... }: { flake.x = lib.id; }"),
        # `./a${x}` builds the name itself: left alone (it is not a directory prefix)
        ("{ x, ... }: { imports = [ ./a${x} ]; }", "./a${x}"),
    ],
)
def test_flake_parts_files_bind_what_they_use(tmp_path: Path, source: str, expected: str) -> None:
    src = tmp_path / "modules/flake-parts/f.nix"
    src.parent.mkdir(parents=True)
    src.write_text(source)
    out = tmp_path / "dendritic/flake-parts/f.nix"
    text = conv.rewrite(src, out, bind=True).text
    assert text.startswith(expected) or expected in text, text
    out.parent.mkdir(parents=True)
    out.write_text(text)
    assert nix_verdicts([out]) == [True]


@needs_oracle
def test_hosts_get_flake_as_a_special_argument_as_nixos_unified_gave_it(tmp_path: Path) -> None:
    # nixos-unified's mkLinuxSystem/mkMacosSystem: `specialArgs = specialArgsFor.nixos` (lib.nix), so a
    # file imported by path may use `flake` in `imports`. nixpkgs and nix-darwin are not in the oracle:
    # their system builders are given as functions returning their arguments, to see what hosts.nix passes.
    repo = write_shape(tmp_path / "srid", SHAPES["srid-nixos-config"])
    conv.write(conv.plan(repo, Path("dendritic")))
    builders = "{ nixpkgs.lib.nixosSystem = a: a; nix-darwin.lib.darwinSystem = a: a; }"
    stubs = [s for s in STUBS if s not in ("nixpkgs", "nix-darwin")]
    expr = (
        "map (c: { args = builtins.attrNames c.specialArgs.flake; "
        "same = c.specialArgs.flake.inputs.self == r.outputs.nixosConfigurations.lab.specialArgs.flake.inputs.self; "
        "modules = builtins.length c.modules; }) "
        "[ r.outputs.nixosConfigurations.lab r.outputs.darwinConfigurations.studio ]"
    )
    want = {"args": ["config", "inputs", "self"], "same": True, "modules": 1}
    assert flake_oracle.evaluate(repo / "dendritic", expr, stubs, builders) == [want, want]


def test_a_flake_parts_file_taking_root_is_reported(tmp_path: Path) -> None:
    # nixos-unified's lib.mkFlake sets `_module.args = { inherit root; }` (its flake.nix); mkFlake does not
    files = dict(SHAPES["nixos-unified-template"])
    files["modules/flake/checks.nix"] = "{ root, ... }: { flake.lib.root = root; }\n"
    repo = write_shape(tmp_path / "t", files)
    plan = conv.plan(repo, Path("dendritic"))
    assert [line for line in plan.report if "takes `root`" in line] == [
        f"{repo / 'modules/flake/checks.nix'}: takes `root`, which nixos-unified's lib.mkFlake passed and a "
        "plain mkFlake does not: set `_module.args.root = ./.;` in flake.nix, or use `self`"
    ]
