"""The JSON store: ordered objects with duplicate keys kept, Go's encoder output (tab indent)."""

from __future__ import annotations

import json
import math
import re
from json.encoder import encode_basestring_ascii as _encode_str
from typing import Any

from dendrite import boundedjson
from dendrite.errors import SopsError
from dendrite.sops.stores.base import Store, decode_text, split_metadata
from dendrite.sops.tree import Branch, Node, from_plain
from dendrite.sops.values import INT64_MAX, INT64_MIN, Comment, Timestamp, go_format_float


def _parse_int(text: str) -> int | float:
    if len(text.lstrip("+-").lstrip("0")) > 19:  # beyond int64 whatever it is; int() refuses 4,300 digits
        return float(text)
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else float(text)


_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _go_json_string(s: str) -> str:
    """A JSON string as Go's encoder writes it (<, >, & and U+2028/9 escaped, other text as UTF-8)."""
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise SopsError(
                "a value holds bytes that are not UTF-8 and cannot be written as JSON",
                hint="use --output-type binary",
            ) from None
    out = json.dumps(s, ensure_ascii=False)
    return out.translate(_GO_ESCAPES) if _ESCAPE_RE.search(out) else out


def _go_json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise SopsError(f"the value {f} cannot be written as JSON")
    a = abs(f)
    if a == 0 or 1e-6 <= a < 1e21:
        return go_format_float(f)
    mant, _, exp = repr(f).partition("e")
    sign = exp[0] if exp[0] in "+-" else "+"
    return f"{mant}e{sign}{int(exp.lstrip('+-'))}"


def _emit(node: Node, indent: int, out: list[str]) -> None:
    pad = "\t" * indent
    if isinstance(node, Branch):
        items = [(k, v) for k, v in node.items if isinstance(k, str)]
        if not items:
            out.append("{}")
            return
        out.append("{\n")
        for i, (k, v) in enumerate(items):
            out.append(f"{pad}\t{_go_json_string(k)}: ")
            _emit(v, indent + 1, out)
            out.append(",\n" if i < len(items) - 1 else "\n")
        out.append(pad + "}")
    elif isinstance(node, list):
        values = [v for v in node if not isinstance(v, Comment)]
        if not values:
            out.append("[]")
            return
        out.append("[\n")
        for i, v in enumerate(values):
            out.append(pad + "\t")
            _emit(v, indent + 1, out)
            out.append(",\n" if i < len(values) - 1 else "\n")
        out.append(pad + "]")
    elif node is None:
        out.append("null")
    elif isinstance(node, bool):
        out.append("true" if node else "false")
    elif isinstance(node, int):
        out.append(str(node))
    elif isinstance(node, float):
        out.append(_go_json_float(node))
    elif isinstance(node, Timestamp):
        out.append(_go_json_string(node.text))
    elif isinstance(node, bytes):
        out.append(_go_json_string(node.decode("utf-8", "surrogateescape")))
    elif isinstance(node, str):
        out.append(_go_json_string(node))
    else:
        raise SopsError(f"cannot write a {type(node).__name__} as JSON")


class _NotSimple(Exception):
    pass


def _simple(node: Node) -> Any:
    """The tree as dicts and lists when the C-backed json module writes it exactly as Go would:
    unique keys, and only strings, integers, booleans and nulls (Go and Python print floats apart)."""
    if isinstance(node, Branch):
        out = {}
        for k, v in node.items:
            if not isinstance(k, str) or not _c_encodes_as_go(k) or k in out:
                raise _NotSimple
            out[k] = _simple(v)
        return out
    if isinstance(node, list):
        return [_simple(v) for v in node]
    if node is None or isinstance(node, bool | int) or (isinstance(node, str) and _c_encodes_as_go(node)):
        return node
    raise _NotSimple


def is_simple_json(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _c_encodes_as_go(k) and is_simple_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_simple_json(v) for v in value)
    return (
        value is None or isinstance(value, bool | int) or (isinstance(value, str) and _c_encodes_as_go(value))
    )


def _c_encodes_as_go(s: str) -> bool:
    """Whether the C encoder (`encode_basestring_ascii`) writes `s` as Go does: ASCII without DEL.

    Go writes other text, and DEL (0x7f), as they are; the C encoder escapes them (`\\u007f`).
    Such strings, in keys as in values, take the general writer."""
    return s.isascii() and "\x7f" not in s


def fast_dump_json(value: Any) -> bytes:
    """Tab-indented JSON of a tree `is_simple_json` accepted, built with the C string encoder.

    The strings come out of `encode_basestring_ascii`, so U+2028/9 are escaped already and only
    `<`, `>` and `&` are left for Go's escapes (three C scans instead of a regular expression).
    """
    out: list[str] = []
    _fast_emit(value, "\n", out)
    text = "".join(out)
    if "<" in text or ">" in text or "&" in text:
        text = text.translate(_GO_ESCAPES)
    return (text + "\n").encode("ascii")


def _fast_emit(value: Any, nl: str, out: list[str]) -> None:
    # strings, the commonest leaves (a sops file is mostly ENC[...] values and age entries), are
    # written in the loop below without a call of their own: a re-key writes a thousand such files
    if isinstance(value, str):
        out.append(_encode_str(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = nl + "\t"
        sep = "{" + inner
        for k, v in value.items():
            out.append(sep)
            out.append(_encode_str(k))
            if type(v) is str:
                out.append(": " + _encode_str(v))
            else:
                out.append(": ")
                _fast_emit(v, inner, out)
            sep = "," + inner
        out.append(nl + "}")
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner = nl + "\t"
        sep = "[" + inner
        for v in value:
            out.append(sep)
            if type(v) is str:
                out.append(_encode_str(v))
            else:
                _fast_emit(v, inner, out)
            sep = "," + inner
        out.append(nl + "]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    else:
        out.append(str(int(value)))


def dump_json(node: Node) -> bytes:
    """Go's `json.MarshalIndent` with a tab, plus the final newline sops >= 3.10 writes."""
    try:
        simple = _simple(node)
    except _NotSimple:
        out: list[str] = []
        _emit(node, 0, out)
        return ("".join(out) + "\n").encode("utf-8")
    return fast_dump_json(simple)


def parse_json(data: bytes, where: str) -> Node:
    text = decode_text(data, where, "JSON")
    try:
        return boundedjson.loads(text, where, object_pairs_hook=Branch, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise SopsError(
            f"{where}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", hint="check the --input-type"
        ) from None
    except RecursionError:
        raise SopsError(f"{where}: JSON nested too deeply") from None


class JsonStore(Store):
    name = "json"

    def load_plain(self, data: bytes, where: str) -> list[Branch]:
        doc = parse_json(data, where)
        if not isinstance(doc, Branch):
            raise SopsError(f"{where}: the top level of a JSON document must be an object")
        return [doc]

    def dump_plain(self, branches: list[Branch]) -> bytes:
        if len(branches) != 1:
            raise SopsError(f"JSON holds one document, not {len(branches)}", hint="use --output-type yaml")
        return dump_json(branches[0])

    def load_encrypted(self, data: bytes, where: str) -> tuple[list[Branch], Any]:
        return split_metadata(self.load_plain(data, where), where)

    def dump_encrypted(self, branches: list[Branch], metadata: dict[str, Any]) -> bytes:
        (branch,) = branches
        return dump_json(Branch([*branch.items, ("sops", from_plain(metadata))]))
