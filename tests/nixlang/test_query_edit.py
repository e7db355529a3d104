"""Queries and edits on real module shapes."""

from __future__ import annotations

import pytest

from dendrite.errors import InputError
from dendrite.nixlang import edit as E
from dendrite.nixlang import evaluate, parse, print_tree
from dendrite.nixlang import query as Q

MODULE = """{ inputs, config, lib, ... }:
let
  flakeModules = config.flake.modules.nixos;
in
{
  flake.modules = {
    nixos.shell = { programs.fish.enable = true; };
    homeManager.shell = { pkgs, ... }: { home.packages = [ pkgs.git ]; };
    nixos."machines/nixos/cinnabar" = {
      imports = with flakeModules; [ base ssh ];
      environment.systemPackages = with pkgs; [ git ];
    };
  };
  imports = [ ./a.nix (inputs.import-tree ./modules) ];
  flake.meta.owner = "crs58";
}
"""


def root():  # type: ignore[no-untyped-def]
    return parse(MODULE).root


def test_flat_bindings_give_full_paths() -> None:
    body = Q.module_body(root())
    assert body is not None
    paths = [b.dotted for b in Q.flat_bindings(body, max_depth=4)]
    assert paths == [
        "flake.modules.nixos.shell",
        "flake.modules.homeManager.shell",
        "flake.modules.nixos.machines/nixos/cinnabar",
        "imports",
        "flake.meta.owner",
    ]
    deep = [b.dotted for b in Q.flat_bindings(body)]
    assert "flake.modules.nixos.shell.programs.fish.enable" in deep


def test_formals_imports_selects_with_scopes() -> None:
    r = root()
    f = Q.formals(r.nodes()[0])
    assert f is not None and [x.name for x in f.names] == ["inputs", "config", "lib"] and f.ellipsis
    assert [n.text() for n in Q.imports(r)] == ["./a.nix", "(inputs.import-tree ./modules)"]
    assert {s.dotted for s in Q.selects(r)} >= {
        "config.flake.modules.nixos",
        "pkgs.git",
        "inputs.import-tree",
    }
    assert [w.nodes()[0].text() for w in Q.with_scopes(r)] == ["flakeModules", "pkgs"]


def test_free_variables_find_pkgs_where_it_is_not_bound() -> None:
    r = root()
    body = Q.module_body(r)
    assert body is not None
    host = Q.binding_at(body, ["flake", "modules", "nixos", "machines/nixos/cinnabar"])
    assert host is not None
    uses = Q.free_variables(host.nodes()[-1])
    # `with pkgs;` in a set that is not a function of pkgs: pkgs itself is unbound there
    assert [(u.name, u.under_with) for u in uses if u.name == "pkgs"] == [("pkgs", False)]
    assert ("git", True) in [(u.name, u.under_with) for u in uses]


def test_edits_keep_every_other_byte() -> None:
    out = E.set_value(MODULE, ["flake", "meta", "owner"], "alice")
    assert out == MODULE.replace('flake.meta.owner = "crs58";', 'flake.meta.owner = "alice";')
    added = E.set_value(MODULE, ["flake", "meta", "email"], "a@b.c")
    assert added.replace('\n  flake.meta.email = "a@b.c";', "") == MODULE
    assert evaluate(parse(added).root)["flake"]["meta"]["email"] == "a@b.c"  # type: ignore[index]
    body = Q.module_body(parse(MODULE).root)
    assert body is not None
    owner = Q.binding_at(body, ["flake", "meta", "owner"])
    assert owner is not None
    removed = E.remove_binding(MODULE, owner)
    assert removed == MODULE.replace('  flake.meta.owner = "crs58";\n', "")
    nested = Q.binding_at(body, ["flake", "modules", "nixos", "shell"])
    assert nested is not None
    replaced = E.replace(MODULE, nested.nodes()[-1], "{ }")
    assert replaced == MODULE.replace("nixos.shell = { programs.fish.enable = true; };", "nixos.shell = { };")


def test_insert_into_an_empty_set_and_refuse_broken_results() -> None:
    src = "{ }\n"
    out = E.insert_binding(src, Q.module_body(parse(src).root), ["a", "b"], [1, 2])  # type: ignore[arg-type]
    assert out == "{\n  a.b = [ 1 2 ];\n}\n"
    with pytest.raises(InputError, match="invalid Nix"):
        E.replace(MODULE, Q.imports(parse(MODULE).root)[0], "(")


def test_lossless_on_the_module() -> None:
    assert print_tree(root()) == MODULE
