"""The YAML store: go-yaml v3 semantics on read (typing, aliases expanded, `<<` kept literal),
go-yaml-like output on write (4-space indent, unencrypted strings double-quoted).

Comments are not carried over: they are never part of the MAC, sops' own advice to writers is to emit
none, and a file whose crypt rule depends on comments is refused with a clear message instead of a
wrong answer.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.nodes import Node as YNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString
from ruamel.yaml.tag import Tag

from dendrite import boundedjson
from dendrite.errors import SopsError
from dendrite.sops.stores.base import Store, decode_text, split_metadata
from dendrite.sops.stores.gotyping import go_parse_int, reads_back_as_string, resolve_plain
from dendrite.sops.tree import Branch, Node
from dendrite.sops.values import Comment, Timestamp, canonical_timestamp, go_parse_float

_PLAIN = "tag:dendrite.plain"
_Y = "tag:yaml.org,2002:"
# Limits against hostile files (a "billion laughs" of nested aliases grows past any memory from a few
# hundred bytes). sops files nest a few levels and rarely use aliases at all, so these are generous.
MAX_DEPTH = boundedjson.MAX_DEPTH  # nesting levels, as for JSON: the YAML writer recurses per level
MAX_ALIASES = 10_000  # alias uses (`*name`) in one file
MAX_EXPANSION = 1_000_000  # what aliases add: one per node plus one per character of scalar text


class _MarkPlain(VersionedResolver):
    """Tags every plain scalar as such, so that typing is ours (go-yaml's) and not ruamel's."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return Tag(suffix=_PLAIN)
        return super().resolve(kind, value, implicit)


def _scalar(node: ScalarNode, where: str) -> Any:
    tag = str(node.tag)
    value: str = node.value
    if tag == _PLAIN:
        return resolve_plain(value)
    try:
        if tag == _Y + "str":
            return value
        if tag == _Y + "int":
            n = go_parse_int(value.replace("_", ""))
            if n is None:
                raise ValueError(value)
            return n
        if tag == _Y + "float":
            return go_parse_float(value)
        if tag == _Y + "bool":
            return {"true": True, "false": False}[value.lower()]
        if tag == _Y + "null":
            return None
        if tag == _Y + "timestamp":
            return Timestamp(canonical_timestamp(value))
        if tag == _Y + "binary":
            return base64.b64decode("".join(value.split())).decode("utf-8", "surrogateescape")
    except (ValueError, KeyError, binascii.Error):
        line = node.start_mark.line + 1
        raise SopsError(f"{where}:{line}: {value!r} is not a valid {tag.rsplit(':', 1)[-1]}") from None
    return value  # any other tag: go-yaml decodes the scalar into a string


class _CountingComposer(Composer):
    """ruamel's composer, refusing a file with more than MAX_ALIASES alias uses."""

    aliases = 0

    def return_alias(self, a: Any) -> Any:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            line = a.start_mark.line + 1 if a.start_mark is not None else 0
            raise _Refused(f"more than {MAX_ALIASES:,} YAML aliases (the last one refers to line {line})")
        return a


class _Refused(Exception):
    """A limit was hit while composing; parse_yaml adds the file name."""


class _Walk:
    """What one document's conversion has seen: nodes on the current path, nodes met before, and the
    growth that aliases caused so far (a node met again is an alias being expanded)."""

    def __init__(self) -> None:
        self.active: set[int] = set()
        self.seen: set[int] = set()
        self.expansion = 0


def _count(node: YNode, walk: _Walk, where: str) -> None:
    if id(node) not in walk.seen:
        walk.seen.add(id(node))
        return
    walk.expansion += 1 + (len(node.value) if isinstance(node, ScalarNode) else 0)
    if walk.expansion > MAX_EXPANSION:
        raise SopsError(
            f"{where}: YAML aliases expand to more than {MAX_EXPANSION:,} nodes and characters "
            f'(a "billion laughs" file?)',
            hint="write the repeated values out, or use fewer nested aliases",
        )


def _convert(node: YNode, where: str, depth: int, walk: _Walk) -> Node:
    _count(node, walk, where)
    if isinstance(node, ScalarNode):
        return _scalar(node, where)
    if depth >= MAX_DEPTH:  # `depth` containers enclose this one
        raise SopsError(f"{where}:{node.start_mark.line + 1}: YAML nested more than {MAX_DEPTH} levels deep")
    active = walk.active
    if id(node) in active:
        raise SopsError(f"{where}:{node.start_mark.line + 1}: recursive YAML alias")
    active.add(id(node))
    try:
        if isinstance(node, SequenceNode):
            return [_convert(n, where, depth + 1, walk) for n in node.value]
        if isinstance(node, MappingNode):
            out = Branch()
            seen: dict[str, int] = {}
            for knode, vnode in node.value:
                key = _convert(knode, where, depth + 1, walk)
                line = knode.start_mark.line + 1
                if not isinstance(key, str):
                    if isinstance(knode, ScalarNode) and str(knode.tag) == _PLAIN and knode.value == "<<":
                        key = "<<"
                    else:
                        raise SopsError(
                            f"{where}:{line}: mapping key {knode.value!r} is not a string; sops needs string keys"
                        )
                if key in seen:
                    raise SopsError(
                        f"{where}:{line}: mapping key {key!r} already defined at line {seen[key]}"
                    )
                seen[key] = line
                out.items.append((key, _convert(vnode, where, depth + 1, walk)))
            return out
    finally:
        active.discard(id(node))
    raise SopsError(f"{where}: unsupported YAML node")


def parse_yaml(data: bytes, where: str) -> list[Node]:
    text = decode_text(data, where, "YAML")
    loader = YAML(typ="safe", pure=True)
    loader.Resolver = _MarkPlain
    loader.Composer = _CountingComposer
    loader.max_depth = MAX_DEPTH + 1  # ruamel counts scalars as a level too; _convert checks exactly
    try:
        docs = list(loader.compose_all(text))
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SopsError(f"{where}{pos}: YAML nested more than {MAX_DEPTH} levels deep") from None
    except _Refused as exc:
        raise SopsError(f"{where}: {exc}", hint="write the repeated values out") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SopsError(f"{where}{pos}: invalid YAML: {problem}", hint="check the --input-type") from None
    except RecursionError:
        raise SopsError(f"{where}: YAML nested too deeply") from None
    return [None if d is None else _convert(d, where, 0, _Walk()) for d in docs]


# ---------------------------------------------------------------------------------------------- writing


class _GoTimestamp(str):
    __slots__ = ()


def _writer() -> YAML:
    out = YAML(typ="rt")
    out.indent(mapping=4, sequence=6, offset=4)
    out.width = 1 << 20
    rep = out.representer
    rep.add_representer(type(None), lambda r, _d: r.represent_scalar(_Y + "null", "null"))
    rep.add_representer(_GoTimestamp, lambda r, d: r.represent_scalar(_Y + "timestamp", str(d)))
    return out


def _to_ruamel(node: Node, quote_all: bool) -> Any:
    if isinstance(node, Branch):
        m = CommentedMap()
        for k, v in node.items:
            if isinstance(k, str):
                m[k] = _to_ruamel(v, quote_all)
        return m
    if isinstance(node, list):
        return CommentedSeq(_to_ruamel(v, quote_all) for v in node if not isinstance(v, Comment))
    if isinstance(node, Timestamp):
        return _GoTimestamp(node.text)
    if isinstance(node, bytes):
        node = node.decode("utf-8", "surrogateescape")
    if isinstance(node, str):
        try:
            node.encode("utf-8")
        except UnicodeEncodeError:
            raise SopsError(
                "a value holds bytes that are not UTF-8 and cannot be written as YAML",
                hint="use --output-type binary",
            ) from None
        if node.startswith("ENC[AES256_GCM,") and "\n" not in node:
            return node
        # double quotes escape what plain and single-quoted styles would fold (NEL, U+2028, controls)
        if quote_all or not node.isprintable() or not reads_back_as_string(node):
            return DoubleQuotedScalarString(node)
        return node
    return node


def dump_yaml(docs: list[Node], *, quote_all: bool) -> bytes:
    buf = io.StringIO()
    _writer().dump_all([_to_ruamel(d, quote_all) for d in docs], buf)
    return buf.getvalue().encode("utf-8")


class YamlStore(Store):
    name = "yaml"

    def load_plain(self, data: bytes, where: str) -> list[Branch]:
        docs = parse_yaml(data, where)
        out = []
        for i, d in enumerate(docs):
            if d is None:
                d = Branch()
            if not isinstance(d, Branch):
                raise SopsError(f"{where}: YAML document {i + 1} is not a mapping; sops stores mappings only")
            out.append(d)
        return out or [Branch()]

    def dump_plain(self, branches: list[Branch]) -> bytes:
        return dump_yaml(list(branches), quote_all=False)

    def load_encrypted(self, data: bytes, where: str) -> tuple[list[Branch], Any]:
        return split_metadata(self.load_plain(data, where), where)

    def dump_encrypted(self, branches: list[Branch], metadata: dict[str, Any]) -> bytes:
        meta = CommentedMap()
        for k, v in metadata.items():
            if k == "age":
                meta[k] = CommentedSeq(
                    CommentedMap([("recipient", e["recipient"]), ("enc", LiteralScalarString(e["enc"]))])
                    for e in v
                )
            elif k == "lastmodified":
                meta[k] = DoubleQuotedScalarString(v)
            else:
                meta[k] = v
        docs = []
        for b in branches:
            m = _to_ruamel(b, quote_all=True)
            m["sops"] = meta
            docs.append(m)
        buf = io.StringIO()
        _writer().dump_all(docs, buf)
        return buf.getvalue().encode("utf-8")
