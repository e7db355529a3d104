"""Round trips for arbitrary trees and byte strings; garbage raises only dendrite's own errors."""

from __future__ import annotations

import contextlib
import json
import string

import pyrage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite import sops
from dendrite.errors import DendriteError
from dendrite.sops.stores.yaml import parse_yaml
from dendrite.sops.tree import to_plain

IDENT = pyrage.x25519.Identity.generate()
RECIPIENT = str(IDENT.to_public())
IDS = sops.identities_from_text(str(IDENT))

keys = st.text(alphabet=string.ascii_letters + string.digits + "_-. :/", min_size=1, max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
trees = st.recursive(
    scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(keys, kids, max_size=4)),
    max_leaves=20,
)
documents = st.dictionaries(keys.filter(lambda k: k != "sops"), trees, max_size=6)


def same(got: object, want: object) -> bool:
    """Equal values; a float may come back written as an integer, as Go's JSON encoder writes 1e16."""
    if isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return float(got) == want
    if isinstance(want, dict) and isinstance(got, dict):
        return list(want) == list(got) and all(same(got[k], want[k]) for k in want)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(g, w) for g, w in zip(got, want, strict=True))
    return type(got) is type(want) and got == want


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(documents)
def test_json_round_trip(doc: dict[str, object]) -> None:
    plain = json.dumps(doc).encode()
    enc = sops.encrypt(plain, [RECIPIENT], input_format="json")
    assert same(json.loads(sops.decrypt(enc, IDS, input_format="json")), doc)


@FAST
@given(documents)
def test_yaml_round_trip(doc: dict[str, object]) -> None:
    plain = sops.decrypt(
        sops.encrypt(json.dumps(doc).encode(), [RECIPIENT], input_format="json", output_format="yaml"),
        IDS,
        input_format="yaml",
    )
    assert same(to_plain(parse_yaml(plain, "out")[0]), doc)


@FAST
@given(st.binary(max_size=2000))
def test_binary_round_trip(data: bytes) -> None:
    assert sops.decrypt(sops.encrypt(data, [RECIPIENT]), IDS) == data


VALID = sops.encrypt(b"a: 1\nb: [x, y]\n", [RECIPIENT], input_format="yaml")


@FAST
@given(st.binary(max_size=400))
def test_garbage_raises_only_dendrite_errors(data: bytes) -> None:
    for fmt in sops.FORMATS:
        with contextlib.suppress(DendriteError):
            sops.decrypt(data, IDS, input_format=fmt)


@FAST
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.integers(min_value=0, max_value=255))
def test_corrupted_file_raises_only_dendrite_errors(pos: int, byte: int) -> None:
    data = bytearray(VALID)
    data[pos] = byte
    try:
        out = sops.decrypt(bytes(data), IDS, input_format="yaml")
    except DendriteError:
        return
    # a change that still decrypts must not have changed any value (e.g. whitespace or quoting)
    assert to_plain(parse_yaml(out, "x")[0]) == {"a": 1, "b": ["x", "y"]}
