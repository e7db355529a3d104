"""The recogniser (dendrite.nixlang.recognise) against the full parser: whenever it decides, it decides as
the parser does; and check_file, which asks it first, gives exactly the parser's result.

The parser itself is held to `nix-instantiate --parse` by test_oracle.py and test_generated.py.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite.nixlang.check import FileCheck, check_file, diagnostics
from dendrite.nixlang.parser import parse
from dendrite.nixlang.recognise import RECOGNISE_DEPTH, recognise, valid
from dendrite.nixlang.source import parse_file
from tests.nixlang.corpus import INVALID, PIPES, SCOPE_CASES, VALID
from tests.nixlang.gen import IDENTS, programs

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_module(name: str) -> ModuleType:
    """A module of bench/, loaded by its path: bench/ on sys.path would shadow the standard library
    (bench/secrets.py)."""
    if name not in sys.modules:  # nixparse imports nixcorpus by name
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


MANY = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# pieces a mutation inserts: tokens, half tokens, and what the parse-time checks look at
PIECES = [
    *IDENTS,
    *"{}()[];:,.=?@!-+*/<>\"'$\\#\n ",
    "${",
    "''",
    "...",
    "==",
    "->",
    "//",
    "++",
    "or",
    "in",
    "let",
    "rec",
    "with",
    "inherit",
    "a.b = 1;",
    "a = { b = 1; };",
    "a.c = 2;",
    "a = 3;",
    "inherit a;",
    "inherit (x) a;",
    '"a" = 1;',
    '${"a"} = 1;',
    "${''a''} = 1;",
    "x @ ",
    "{ a, a }: ",
    "99999999999999999999",
    "1e999",
    "./p/",
    "./a${x}b",
    "__curPos",
    "\x00",
    "\udcff",
]


def _agrees(src: str) -> None:
    """A decision is the parser's; None (left to the parser) is allowed, and check_file's answer is the
    parser's either way (tested on files in the tests below)."""
    decided = recognise(src)
    if decided is not None:
        assert decided == _parser_ok(src), src
    assert valid(src) == (decided is True)


@MANY
@given(programs())
def test_generated_programs(src: str) -> None:
    _agrees(src)


@st.composite
def mutated(draw: Any) -> str:
    src: str = draw(programs())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(src)))
        how = draw(st.sampled_from(["insert", "delete", "replace"]))
        if how == "delete":
            src = src[:at] + src[at + draw(st.integers(1, 3)) :]
        else:
            piece = draw(st.sampled_from(PIECES))
            src = src[:at] + piece + src[at + (1 if how == "replace" else 0) :]
    return src


@MANY
@given(mutated())
def test_mutated_programs(src: str) -> None:
    _agrees(src)


@MANY
@given(st.lists(st.sampled_from(PIECES), max_size=30).map(" ".join))
def test_token_soup(src: str) -> None:
    _agrees(src)


def test_the_oracle_corpus_is_decided_as_the_parser_decides() -> None:
    """Every entry of the corpus test_oracle.py holds against nix-instantiate, raw and under `with`."""
    sources = VALID + INVALID + SCOPE_CASES + PIPES
    sources += [f"with builtins; {s}" for s in sources]
    left = [s for s in sources if recognise(s) is None]
    for s in sources:
        _agrees(s)
    # what the recogniser leaves to the parser is the rare kind named in its docstring, not a whole class
    assert len(left) <= len(sources) // 50, left


@pytest.mark.parametrize(
    ("src", "ok"),
    [
        ("{ a = { b = 1; }; a.c = 2; }", True),  # a merge Nix allows
        ("{ a.b = 1; a = { c = 2; }; }", True),
        ("{ a = { b = 1; }; a.b = 2; }", False),  # a merge with a duplicate in it
        ("{ ${''a''} = 1; }", True),
        ("let x = 1; in " + "(" * (RECOGNISE_DEPTH + 5) + "x" + ")" * (RECOGNISE_DEPTH + 5), True),
    ],
)
def test_what_is_left_to_the_parser_gets_the_parsers_answer(tmp_path: Path, src: str, ok: bool) -> None:
    assert recognise(src) is None and not valid(src)
    assert parse(src).ok is ok
    p = tmp_path / "f.nix"
    p.write_text(src)
    assert check_file(p) == _full(p)


@pytest.mark.parametrize(
    ("src", "ok"),
    [
        ("{ a.b = 1; a.c = 2; }", True),  # paths through one name: decided here
        ("{ a = 1; a.c = 2; }", False),  # not a merge: a duplicate
        ("{ a.b = 1; a.b = 2; }", False),
        ("{ a.b = 1; a.b = { }; }", False),
        ("{ inherit a; a.b = 1; }", False),
        ("{ a = (1); a = { }; }", False),
        ("let a = b; b = 1; in a", True),  # bound by a later binding
        ("rec { a = b; inherit (c) b; c = { }; }", True),
        ("{ inherit (undefinedName); }", True),  # Nix never resolves a source with no names
        ("{ inherit (undefinedName) a; }", False),
        ("let inherit a; in 1", False),  # `inherit a` reads the enclosing scope
        ("x: let inherit x; in x", True),
        ("{ x ? y, y }: x", True),
        ("x @ { x }: x", False),
        ("with { }; undefinedName", True),
        ("__curPos", True),
        ("{ inherit __curPos; }", True),  # a global too
        ("a: a or", False),  # `or` applied as a variable named `or`
        ("let or = 1; in (a: a or) 2", True),
        ('{ "a\\tb" = 1; "a\tb" = 2; }', False),  # both are a, TAB, b
        ('{ ${"a"} = 1; a = 2; }', False),
        ("let ${a} = 1; in 1", False),
        ("1 == 2 == 3", False),
        ("./a${x}b", False),
        ("./a/b", True),
        ("9223372036854775808", False),
    ],
)
def test_decided_cases(src: str, ok: bool) -> None:
    assert parse(src).ok is ok
    assert recognise(src) is ok


def _parser_ok(src: str) -> bool:
    """The parser's verdict on a file (source.parse_bytes also reports any NUL byte)."""
    return parse(src).ok and "\x00" not in src


def _full(path: Path) -> FileCheck:
    """check_file as it was before the recogniser: the parser's verdict and diagnostics."""
    parsed = parse_file(path)
    return FileCheck(parsed.path, parsed.ok, tuple(diagnostics(parsed)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(programs(), mutated()))
def test_check_file_gives_the_parsers_result(tmp_path: Path, src: str) -> None:
    p = tmp_path / "f.nix"
    p.write_bytes(src.encode("utf-8", "surrogateescape"))
    assert check_file(p) == _full(p)


def test_real_world_shaped_files_are_all_decided(tmp_path: Path) -> None:
    """bench/nixcorpus.py (the benchmark's corpus) and bench/nixparse.py's shapes: every file is decided
    here, none left to the parser, and each as the parser decides."""
    nixcorpus = _bench_module("nixcorpus")
    nixparse = _bench_module("nixparse")
    (tmp_path / "shapes").mkdir()
    paths = nixcorpus.build(tmp_path / "real", 120) + nixparse.build_corpus(tmp_path / "shapes", 60)
    for p in paths:
        src = p.read_text()
        assert recognise(src) is parse(src).ok is True, p


@pytest.mark.parametrize(
    "src",
    [
        "(" * 10_000 + "1" + ")" * 10_000,
        "[" * 10_000 + "]" * 10_000,
        "x: " * 10_000 + "x",
        "{ a = " * 1000 + "1" + "; }" * 1000,
        "-" * 1000 + "1",
        '"${' * 5_000 + "x" + '}"' * 5_000,
    ],
    ids=["parens", "lists", "lambdas", "sets-1000", "negations-1000", "interpolations"],
)
def test_deep_nesting_is_left_to_the_parser(tmp_path: Path, src: str) -> None:
    """Too deep for the recogniser (its depth limit, or Python's recursion limit): the parser decides,
    whether it finds the file too deep (10,000 levels) or fine (1,000)."""
    assert recognise(src) is None
    p = tmp_path / "deep.nix"
    p.write_text(src)
    assert check_file(p) == _full(p)
