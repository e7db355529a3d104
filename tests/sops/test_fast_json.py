"""The fast JSON writer of the re-key (`fast_dump_json`) against two writers it must equal byte for byte.

Oracles: Python's own `json.dumps(indent="\t")` with Go's escapes of `<`, `>` and `&` (what Go's
`json.MarshalIndent` with a tab writes for such values, and so what sops writes:
`tests/sops/test_interop.py` holds the general writer against the real sops binary), and dendrite's
general tree writer (`stores/json._emit`), which files with floats or duplicate keys go through.
"""

from __future__ import annotations

import json
import string

from hypothesis import given
from hypothesis import strategies as st

from dendrite.sops.stores.json import _emit, dump_json, fast_dump_json, is_simple_json
from dendrite.sops.tree import from_plain

# ASCII without DEL: what the fast writer takes (DEL and other text go to the general writer, below)
ascii_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=126), max_size=20)
keys = st.one_of(ascii_text, st.text(alphabet=string.ascii_letters + "<>&", min_size=1, max_size=6))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), ascii_text
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=4)),
    max_leaves=25,
)


def go_indent(value: object) -> bytes:
    text = json.dumps(value, indent="\t")
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return (text + "\n").encode()


def general_writer(value: object) -> bytes:
    out: list[str] = []
    _emit(from_plain(value), 0, out)
    return ("".join(out) + "\n").encode()


@given(values)
def test_fast_writer_is_go_indent(value: object) -> None:
    assert is_simple_json(value)
    assert fast_dump_json(value) == go_indent(value)


@given(st.dictionaries(keys, values, max_size=5))
def test_fast_writer_is_the_general_writer(value: dict[str, object]) -> None:
    assert fast_dump_json(value) == general_writer(value)


def test_sops_shaped_file() -> None:
    """A clan secret's shape: one encrypted value and the metadata with armored age entries."""
    doc = {
        "data": "ENC[AES256_GCM,data:aGk=,iv:x,tag:y,type:str]",
        "sops": {
            "age": [
                {
                    "recipient": "age1abc",
                    "enc": "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
                }
            ],
            "lastmodified": "2026-12-01T03:20:45Z",
            "mac": "ENC[AES256_GCM,data:bWFj,iv:a,tag:b,type:str]",
            "mac_only_encrypted": True,
            "version": "3.11.0",
        },
        "empty": {},
        "none": [],
        "n": -3,
        "x": None,
        "amp": "a&b<c>",
    }
    assert fast_dump_json(doc) == go_indent(doc) == general_writer(doc)


@given(st.sampled_from(["\x7f", "é", "\u2028", "a\x7fb"]), st.booleans())
def test_text_go_writes_raw_takes_the_general_writer(text: str, as_key: bool) -> None:
    """Go's encoder writes DEL and non-ASCII text as they are (U+2028/9 escaped); the C encoder would
    escape them, so such a tree is not simple and is written by the general writer."""
    value = {text: "v"} if as_key else {"k": text}
    assert not is_simple_json(value)
    assert dump_json(from_plain(value)) == general_writer(value)
    if text != "\u2028":
        assert text.encode() in general_writer(value)
