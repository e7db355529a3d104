"""Hypothesis strategies that write Nix programs: arbitrary ones (for the parser) and literal ones."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from dendrite.nixlang.printer import key, number, string

IDENTS = ["a", "b", "x", "foo", "bar-baz", "x'", "_y", "map", "builtins", "true", "null", "or"]
trivia = st.sampled_from(["", " ", "  ", "\n", "\n  ", " # c\n", " /* c */ ", "\t"])


def _t(draw: Any) -> str:
    return str(draw(trivia))


@st.composite
def atoms(draw: Any) -> str:
    return str(
        draw(
            st.sampled_from(
                [
                    "1",
                    "0",
                    "42",
                    "1.5",
                    ".5",
                    '"s"',
                    '""',
                    '"a${x}b"',
                    "''\n  i\n''",
                    "./p.nix",
                    "a/b",
                    "<nixpkgs>",
                    "https://e.org/x",
                    "x",
                    "foo",
                    "true",
                    "null",
                    "[ ]",
                    "{ }",
                    "x:x",
                    "~/h",
                    '"\\n\\""',
                    "''$${x}''",
                ]
            )
        )
    )


def programs(max_leaves: int = 12) -> st.SearchStrategy[str]:
    """Syntactically varied programs (valid and invalid), with random whitespace and comments."""

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        @st.composite
        def combine(draw: Any) -> str:
            a, b, c = draw(inner), draw(inner), draw(inner)
            i = str(draw(st.sampled_from(IDENTS)))
            op = str(
                draw(
                    st.sampled_from(["+", "-", "*", "/", "++", "//", "==", "!=", "<", "<=", "&&", "||", "->"])
                )
            )
            t = lambda: _t(draw)  # noqa: E731
            shapes = [
                f"{a}{t()}{op}{t()}{b}",
                f"({a})",
                f"{a} {b}",
                f"{a}.{i}",
                f"{a}.{i}{t()}or{t()}{b}",
                f"{a} ? {i}",
                f"!{a}",
                f"-{a}",
                f"[{t()}{a}{t()}({b}){t()}]",
                f"{{{t()}{i}{t()}={t()}{a};{t()}{i}x = {b};{t()}}}",
                f"rec {{ {i} = {a}; }}",
                f"let{t()}{i} = {a};{t()}in{t()}{b}",
                f"{i}:{t()}{a}",
                f"{{ {i}, ... }}: {a}",
                f"{{ {i} ? {a}, }}: {b}",
                f"if {a} then {b} else {c}",
                f"with {a}; {b}",
                f"assert {a}; {b}",
                f'"x${{{a}}}y"',
                f"''\n  {i} ${{{a}}}\n''",
                f"{{ inherit {i}; }}",
                f"{{ inherit ({a}) {i}; }}",
                f"{{ ${{{a}}} = {b}; }}",
                f"let {{ body = {a}; }}",
                # deliberately broken shapes
                f"{a} {op}",
                f"{{ {i} = {a} }}",
                f"({a}",
                f"[ {a}",
                f"let {i} = {a}; {b}",
            ]
            return str(draw(st.sampled_from(shapes)))

        return combine()

    return st.recursive(atoms(), extend, max_leaves=max_leaves)


# ---------------------------------------------------------------------------------------- literal programs

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15).filter(
        lambda f: f == 0 or abs(f) > 1e-6
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
json_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_ ${}\"'.", min_size=1, max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(json_keys, kids, max_size=4)),
    max_leaves=15,
)


@st.composite
def literal_programs(draw: Any) -> tuple[str, Any]:
    """A Nix program built from literal-only constructs, and the value it must evaluate to."""
    value = draw(json_values)
    return draw(_express(value, 0)), value


@st.composite
def _express(draw: Any, value: Any, depth: int) -> str:
    """Write `value` as Nix in one of several equivalent ways."""
    form = draw(st.integers(0, 6)) if depth < 3 else 0
    if isinstance(value, dict) and value and form == 1:
        # nested attribute paths: { a.b = 1; } for { a = { b = 1; }; }
        parts = []
        for k, v in value.items():
            if isinstance(v, dict) and v:
                for k2, v2 in v.items():
                    parts.append(f"{key(k)}.{key(k2)} = {draw(_express(v2, depth + 1))};")
            else:
                parts.append(f"{key(k)} = {draw(_express(v, depth + 1))};")
        return "{ " + " ".join(parts) + " }"
    if isinstance(value, dict) and len(value) >= 2 and form == 2:
        items = list(value.items())
        half = len(items) // 2
        left = {k: v for k, v in items[:half]}
        right = {k: v for k, v in items[half:]}
        return f"({draw(_express(left, depth + 1))} // {draw(_express(right, depth + 1))})"
    if form == 3:
        return f"(let v = {draw(_express(value, depth + 1))}; in v)"
    if form == 4:
        return f"(rec {{ w = {draw(_express(value, depth + 1))}; u = w; }}).u"
    if isinstance(value, list) and len(value) >= 2 and form == 5:
        return f"({draw(_express(value[:1], depth + 1))} ++ {draw(_express(value[1:], depth + 1))})"
    if isinstance(value, str) and value and form == 6:
        cut = len(value) // 2
        head = string(value[:cut])[1:-1]
        if head.endswith("$") and not head.endswith("\\$"):
            head = head[:-1] + "\\$"  # a bare `$` right before `${` would read as `$$` and a `{`
        return f'"{head}${{{string(value[cut:])}}}"'
    if isinstance(value, dict):
        if not value:
            return "{ }"
        return "{ " + " ".join(f"{key(k)} = {draw(_express(v, depth + 1))};" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[ " + " ".join(f"({draw(_express(v, depth + 1))})" for v in value) + " ]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        text = number(value)
        return f"({text})" if text.startswith("-") else text
    return string(value)


def as_json(value: Any) -> str:
    return json.dumps(value)
