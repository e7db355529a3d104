"""Property tests of the extractor: any interface written in the shapes clan-core's services use (nested
sets or dotted paths, `lib.types.x` or `types.x` after `inherit (lib) types`) reads back as its options,
and a generated role's generators keep their files, sharing and dependencies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite.inventory.clanservices import extract

NAMES = st.from_regex(r"[a-z][a-zA-Z0-9]{0,7}", fullmatch=True).filter(
    lambda n: n not in {"if", "then", "else", "let", "in", "with", "rec", "inherit", "assert", "or"}
)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(alphabet="abc xyz-./", max_size=8),
    "bool": st.booleans(),
    "int": st.integers(-1000, 1000),
    "port": st.integers(0, 65535),
}


@st.composite
def option(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["str", "bool", "int", "port", "listOf", "nullOr", "enable"]))
    if kind == "enable":
        return {"nix": 'lib.mkEnableOption "x"', "want": {"type": {"type": "bool"}, "default": False}}
    if kind == "listOf":
        default = draw(st.lists(SCALARS["str"], max_size=3))
        return {
            "nix": f"lib.mkOption {{ type = T.listOf T.str; default = {_nix(default)}; }}",
            "want": {"type": {"type": "listOf", "of": {"type": "str"}}, "default": default},
        }
    if kind == "nullOr":
        return {
            "nix": "lib.mkOption { type = T.nullOr T.int; default = null; }",
            "want": {"type": {"type": "nullOr", "of": {"type": "int"}}, "default": None},
        }
    if draw(st.booleans()):
        default = draw(SCALARS[kind])
        return {
            "nix": f"lib.mkOption {{ type = T.{kind}; default = {_nix(default)}; }}",
            "want": {"type": {"type": kind}, "default": default},
        }
    return {"nix": f"lib.mkOption {{ type = T.{kind}; }}", "want": {"type": {"type": kind}}}


def _nix(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"({value})" if value < 0 else str(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "\\${")
    return "[ " + " ".join(_nix(v) for v in value) + " ]"


TREES = st.recursive(
    option(),
    lambda children: st.dictionaries(NAMES, children, min_size=1, max_size=3).map(lambda d: {"group": d}),
    max_leaves=8,
)


def _want(tree: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ({"type": "group", "options": _want(v["group"])} if "group" in v else v["want"])
        for k, v in tree.items()
    }


def _written(tree: dict[str, Any], dotted: bool, prefix: str = "") -> list[str]:
    """`a.b.c = …;` lines (dotted) or nested `a = { b = { c = …; }; };`."""
    out = []
    for k, v in tree.items():
        if "group" in v:
            if dotted:
                out += _written(v["group"], dotted, f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k} = {{ {' '.join(_written(v['group'], dotted))} }};")
        else:
            out.append(f"{prefix}{k} = {v['nix']};")
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tree=st.dictionaries(NAMES, TREES, min_size=1, max_size=4),
    dotted=st.booleans(),
    inherit_types=st.booleans(),
    files=st.dictionaries(NAMES, st.booleans(), max_size=3),
    share=st.booleans(),
    deps=st.lists(NAMES, max_size=2),
)
def test_interfaces_and_generators_read_back(
    tmp_path_factory: Any,
    tree: dict[str, Any],
    dotted: bool,
    inherit_types: bool,
    files: dict[str, bool],
    share: bool,
    deps: list[str],
) -> None:
    root: Path = tmp_path_factory.mktemp("svc")
    (root / "s").mkdir()
    header = "let inherit (lib) types; T = types; in" if inherit_types else "let T = lib.types; in"
    files_nix = " ".join(f"files.{n}.secret = {_nix(secret)};" for n, secret in files.items())
    (root / "s" / "default.nix").write_text(
        f"""{{ lib, ... }}:
{header}
{{
  _class = "clan.service";
  manifest.name = "prop/s";
  roles.r = {{
    description = "generated";
    interface = {{ lib, ... }}: {{ options = {{ {" ".join(_written(tree, dotted))} }}; }};
    perInstance = {{ settings, ... }}: {{
      nixosModule = {{ config, ... }}: {{
        clan.core.vars.generators.g = {{
          share = {_nix(share)};
          dependencies = {_nix(deps)};
          {files_nix}
          script = "true";
        }};
      }};
    }};
  }};
}}
"""
    )
    role = extract(root)["s"]["roles"]["r"]
    assert role["interface"]["options"] == _want(tree)
    (gen,) = role["generators"]
    assert gen == {
        "name": "g",
        "files": {n: {"secret": secret} for n, secret in sorted(files.items())},
        "share": share,
        "dependencies": deps,
    }
