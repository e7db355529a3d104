"""The CLI's renderer: Nix-like values that Nix reads back as the same value, and columns that fit."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from dendrite.cli.columns import table
from dendrite.cli.render import nix
from dendrite.nixlang import evaluate, parse_bytes, to_nix
from tests.nixlang.gen import json_values
from tests.nixlang.oracle import needs_nix, nix_eval_expr


def _read_back(text: str) -> Any:
    parsed = parse_bytes(text.encode(), "<render>")
    assert parsed.ok, (text, parsed.diagnostics)
    return evaluate(parsed.result.root, where=parsed.location)


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_inline_and_expanded_values_read_back_as_themselves(value: Any) -> None:
    assert nix(value, expand_sets=True) == to_nix(value)  # the layout of the printer of Nix files
    for width in (0, 40, 100):
        assert _read_back(nix(value, width=width)) == value


def test_inline_while_it_fits_then_one_binding_a_line() -> None:
    assert nix({"searchDomains": []}) == "{ searchDomains = [ ]; }"
    assert nix({"a": [1, -2], "b": None, "c": False}) == "{ a = [ 1 (-2) ]; b = null; c = false; }"
    assert nix({"a": "x" * 50, "b": {"c": "y" * 50}}, width=70) == (
        '{\n  a = "' + "x" * 50 + '";\n  b = { c = "' + "y" * 50 + '"; };\n}'
    )
    assert nix([object()], other=lambda v: "«mark»") == "[ «mark» ]"


@needs_nix
def test_the_real_nix_reads_the_inline_form() -> None:
    values = [{"rsa": {"enable": False}}, [1, -2, [3], {"a-b": "${x}\n"}], {"x.y": None, "or": 1.5}]
    expr = "[ " + " ".join(f"({nix(v)})" for v in values) + " ]"
    assert nix_eval_expr(expr) == values


def test_table_columns_fit_the_widest_cell_and_wrap_the_last() -> None:
    rows = [("cinnabar", "nixos", "tags: all, nixos, vps"), ("a-much-longer-name", "darwin", "tags: all")]
    lines = table(rows)
    assert lines == [
        "cinnabar            nixos   tags: all, nixos, vps",
        "a-much-longer-name  darwin  tags: all",
    ]
    wrapped = table([("x", "one two three four five six seven eight nine ten eleven twelve")], width=30)
    assert wrapped[0].startswith("x  one") and all(len(line) <= 30 for line in wrapped)
    assert all(line.startswith("   ") for line in wrapped[1:]) and len(wrapped) > 1
    assert " ".join(w.strip() for w in wrapped).endswith("eleven twelve")
