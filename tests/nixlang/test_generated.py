"""Generated programs: lossless printing, oracle agreement, and literal evaluation against real Nix."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite.errors import DendriteError
from dendrite.nixlang import evaluate, markers, parse, parse_bytes, print_tree, to_nix
from tests.nixlang.gen import json_values, literal_programs, programs
from tests.nixlang.oracle import needs_nix, nix_eval_json, nix_verdicts

SLOW = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(programs())
def test_generated_programs_print_back_exactly(src: str) -> None:
    assert print_tree(parse(src).root) == src


@FAST
@given(st.text(max_size=200))
def test_any_text_prints_back_exactly_and_never_raises(src: str) -> None:
    result = parse(src)
    assert print_tree(result.root) == src


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_raise_only_dendrite_errors(data: bytes) -> None:
    try:
        parsed = parse_bytes(data, "fuzz.nix")
    except DendriteError:
        return
    assert parsed.encode(print_tree(parsed.result.root)) == data
    for d in parsed.diagnostics:
        assert str(d).startswith("fuzz.nix:")


@needs_nix
@SLOW
@given(st.lists(programs(), min_size=25, max_size=25))
def test_generated_programs_agree_with_nix(tmp_path_factory: Any, batch: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("gen")
    sources = batch + [f"with builtins; {s}" for s in batch]
    paths = []
    for i, src in enumerate(sources):
        p = tmp / f"p{i}.nix"
        p.write_text(src)
        paths.append(p)
    nix = nix_verdicts(paths)
    ours = [parse(s).ok for s in sources]
    wrong = [
        f"nix {'accepts' if n else 'rejects'}: {s!r}"
        for s, n, o in zip(sources, nix, ours, strict=True)
        if n != o
    ]
    assert not wrong, "\n".join(wrong)


def _same(ours: Any, nix: Any) -> bool:
    """Equal values; Nix prints floats with six significant digits in JSON."""
    if isinstance(ours, float) or (
        isinstance(nix, float) and isinstance(ours, int) and not isinstance(ours, bool)
    ):
        return isinstance(nix, int | float) and math.isclose(
            float(ours), float(nix), rel_tol=1e-5, abs_tol=1e-9
        )
    if isinstance(ours, dict):
        return (
            isinstance(nix, dict)
            and sorted(ours) == sorted(nix)
            and all(_same(ours[k], nix[k]) for k in ours)
        )
    if isinstance(ours, list):
        return (
            isinstance(nix, list)
            and len(ours) == len(nix)
            and all(_same(a, b) for a, b in zip(ours, nix, strict=True))
        )
    return type(ours) is type(nix) and ours == nix


@needs_nix
@SLOW
@given(st.lists(literal_programs(), min_size=20, max_size=20))
def test_literal_evaluator_agrees_with_nix_eval(tmp_path_factory: Any, batch: list[tuple[str, Any]]) -> None:
    src = "[\n" + "\n".join(f"  ({p})" for p, _ in batch) + "\n]\n"
    f: Path = tmp_path_factory.mktemp("lit") / "batch.nix"
    f.write_text(src)
    ok, out = nix_eval_json(f)
    assert ok, out
    nix_values = json.loads(out)
    parsed = parse(src)
    assert parsed.ok, parsed.errors
    ours = evaluate(parsed.root)
    assert not markers(ours)
    for (prog, expected), mine, theirs in zip(batch, ours, nix_values, strict=True):
        assert _same(mine, theirs), f"{prog}\n dendrite: {mine!r}\n nix: {theirs!r}"
        assert _same(mine, expected)


@needs_nix
@SLOW
@given(st.lists(json_values, min_size=20, max_size=20))
def test_printed_values_evaluate_back_in_nix(tmp_path_factory: Any, values: list[Any]) -> None:
    src = "[\n" + "\n".join(f"  ({to_nix(v, indent=1)})" for v in values) + "\n]\n"
    f: Path = tmp_path_factory.mktemp("print") / "values.nix"
    f.write_text(src)
    ok, out = nix_eval_json(f)
    assert ok, out
    for mine, theirs in zip(values, json.loads(out), strict=True):
        assert _same(mine, theirs), f"{to_nix(mine)}\n nix: {theirs!r}"
    assert not markers(evaluate(parse(src).root))
