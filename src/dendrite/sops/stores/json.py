"""The JSON store: ordered objects with duplicate keys kept, Go's encoder output (tab indent)."""

from __future__ import annotations

import json
import math
from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.stores.base import Store, split_metadata
from dendrite.sops.tree import Branch, Node, from_plain
from dendrite.sops.values import INT64_MAX, INT64_MIN, Comment, Timestamp, go_format_float


def _parse_int(text: str) -> int | float:
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else float(text)


def _go_json_string(s: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise SopsError(
            "a value holds bytes that are not UTF-8 and cannot be written as JSON",
            hint="use --output-type binary",
        ) from None
    out = json.dumps(s, ensure_ascii=False)
    return (
        out.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


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


def dump_json(node: Node) -> bytes:
    out: list[str] = []
    _emit(node, 0, out)
    return ("".join(out) + "\n").encode("utf-8")


def parse_json(data: bytes, where: str) -> Node:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SopsError(
            f"{where}: not valid UTF-8 JSON (byte {exc.start})", hint="check the --input-type"
        ) from None
    try:
        return json.loads(text, object_pairs_hook=Branch, parse_int=_parse_int)
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
