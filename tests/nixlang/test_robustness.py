"""Hostile input: deep nesting, odd bytes, huge files, unterminated constructs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dendrite.errors import InputError
from dendrite.nixlang import parse, parse_bytes, parse_file, print_tree
from dendrite.nixlang.source import MAX_FILE_BYTES


@pytest.mark.parametrize(
    "src",
    [
        "(" * 10_000 + "1" + ")" * 10_000,
        "[" * 10_000 + "]" * 10_000,
        "x: " * 10_000 + "x",
        "{ a = " * 10_000 + "1" + "; }" * 10_000,
        "-" * 10_000 + "1",
        "!" * 10_000 + "true",
        "let a = " * 10_000 + "1; in a" * 10_000,
        '"${' * 5_000 + "x" + '}"' * 5_000,
    ],
    ids=["parens", "lists", "lambdas", "sets", "negations", "nots", "lets", "interpolations"],
)
def test_ten_thousand_levels_give_an_error_not_a_crash(src: str) -> None:
    result = parse(src)
    assert not result.ok
    assert any("nested too deeply" in e.message for e in result.errors)
    assert print_tree(result.root) == src


def test_a_thousand_levels_parse() -> None:
    for src in [
        "(" * 1000 + "1" + ")" * 1000,
        "[" * 1000 + "]" * 1000,
        "{ a = " * 1000 + "1" + "; }" * 1000,
        "x: " * 1000 + "x",
        "-" * 1000 + "1",
    ]:
        assert parse(src).ok, src[:20]


def test_non_utf8_bytes_in_strings_and_comments_are_kept(tmp_path: Path) -> None:
    data = b'# caf\xe9\n{ a = "caf\xe9"; }\n'
    parsed = parse_bytes(data, "latin1.nix")
    assert parsed.ok
    assert parsed.encode(print_tree(parsed.result.root)) == data


def test_non_utf8_byte_in_code_is_named() -> None:
    parsed = parse_bytes(b"{ a = 1; }\xff", "bad.nix")
    assert [str(d) for d in parsed.diagnostics] == [
        "bad.nix:1:11: byte 0xff is not valid UTF-8 here (only strings and comments may hold such bytes)"
    ]


def test_nul_bytes_are_reported_where_they_are() -> None:
    parsed = parse_bytes(b"{ a = 1;\n  b = 2;\x00 }", "nul.nix")
    assert any(str(d).startswith("nul.nix:2:9: NUL byte") for d in parsed.diagnostics)
    inside = parse_bytes(b'"a\x00b"', "nul2.nix")
    assert [d.message.split(":")[0] for d in inside.diagnostics] == ["NUL byte"]


def test_a_50_mb_file_gets_a_clear_message(tmp_path: Path) -> None:
    big = tmp_path / "huge.nix"
    with big.open("wb") as fh:
        fh.truncate(50 * 1000 * 1000)
    assert big.stat().st_size > MAX_FILE_BYTES
    with pytest.raises(InputError, match=r"huge\.nix is 50\.0 MB, over dendrite's 32 MiB limit"):
        parse_file(big)


@pytest.mark.parametrize(
    "src,message",
    [
        ('{ a = "open; }', "unterminated string"),
        ("''\n  open", "unterminated indented string"),
        ("/* open", "unterminated /* comment"),
        ("./dir/", "path has a trailing slash"),
        ("{ a = 1; a = 2; }", "attribute 'a' already defined"),
        ("x: y", "undefined variable 'y'"),
        ("{ a, a }: a", "duplicate formal function argument 'a'"),
        ("9223372036854775808", "invalid integer"),
        ("let ${x} = 1; in 2", "dynamic attributes not allowed in let"),
    ],
)
def test_messages_say_what_is_wrong(src: str, message: str) -> None:
    result = parse(src)
    assert any(message in e.message for e in result.errors), result.errors


def test_errors_are_file_line_col_and_recovery_keeps_going(tmp_path: Path) -> None:
    f = tmp_path / "many.nix"
    f.write_text("{\n  a = ;\n  b = 2;\n  c = [ 1 2;\n  d = 4;\n  e = ;\n}\n")
    parsed = parse_file(f)
    lines = [str(d) for d in parsed.diagnostics]
    assert lines[0] == f"{f}:2:7: unexpected ';', expected an expression"
    assert any(line.startswith(f"{f}:6:7:") for line in lines), lines  # the error after the broken list too
    assert len(lines) >= 3


def test_positions_count_characters_and_bytes() -> None:
    parsed = parse_bytes('{ a = "üé"; x = y; }'.encode(), "u.nix")
    (d,) = parsed.diagnostics
    assert (d.position.line, d.position.column, d.position.byte) == (1, 17, 18)
