"""Go's formats: floats, timestamps, and go-yaml's typing of plain scalars."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrite.errors import SopsError
from dendrite.sops.stores.gotyping import go_parse_int, reads_back_as_string, resolve_plain
from dendrite.sops.values import (
    Timestamp,
    canonical_timestamp,
    go_format_float,
    go_parse_float,
    rfc3339_seconds,
)


@pytest.mark.parametrize(
    "value,text",
    [
        (3.14, "3.14"),
        (1.0, "1"),
        (1e100, "1" + "0" * 100),
        (1.5e-7, "0.00000015"),
        (1e22, "1" + "0" * 22),
        (1e-9, "0.000000001"),
        (0.1, "0.1"),
        (12345678901234567.0, "12345678901234568"),
        (0.0, "0"),
        (-0.0, "-0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (-2.5, "-2.5"),
    ],
)
def test_go_format_float(value: float, text: str) -> None:
    assert go_format_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_round_trips(value: float) -> None:
    assert go_parse_float(go_format_float(value)) == value


@pytest.mark.parametrize(
    "text,canon",
    [
        ("2024-01-02", "2024-01-02T00:00:00Z"),
        ("2024-1-2", "2024-01-02T00:00:00Z"),
        ("2024-05-06T07:08:09.12Z", "2024-05-06T07:08:09.12Z"),
        ("2024-05-06t07:08:09Z", "2024-05-06T07:08:09Z"),
        ("2024-05-06T07:08:09.100000000+02:00", "2024-05-06T07:08:09.1+02:00"),
        ("2024-05-06T07:08:09+00:00", "2024-05-06T07:08:09Z"),
        ("2024-1-2 3:04:05", "2024-01-02T03:04:05Z"),
    ],
)
def test_canonical_timestamp(text: str, canon: str) -> None:
    assert canonical_timestamp(text) == canon


@pytest.mark.parametrize(
    "text", ["2024-13-01", "2024-02-30", "2024-01-02T10:00:00", "2024-01-02 10:00:00Z", "24-01-02"]
)
def test_invalid_timestamps(text: str) -> None:
    with pytest.raises(ValueError):
        canonical_timestamp(text)


def test_mac_aad_drops_fractions_and_normalises_utc() -> None:
    assert rfc3339_seconds("2024-01-01T10:00:00.123Z") == "2024-01-01T10:00:00Z"
    assert rfc3339_seconds("2024-01-01T10:00:00+00:00") == "2024-01-01T10:00:00Z"
    assert rfc3339_seconds("2024-01-01T10:00:00+02:00") == "2024-01-01T10:00:00+02:00"
    with pytest.raises(SopsError):
        rfc3339_seconds("yesterday")


@pytest.mark.parametrize(
    "text,value",
    [
        ("1", 1),
        ("-7", -7),
        ("0755", 493),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
        ("08", 8.0),
        ("1e5", 100000.0),
        (".5", 0.5),
        ("1.", 1.0),
        ("+1", 1),
        ("true", True),
        ("False", False),
        ("yes", "yes"),
        ("on", "on"),
        ("null", None),
        ("~", None),
        ("", None),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("2024-01-02", Timestamp("2024-01-02T00:00:00Z")),
        ("1.2.3", "1.2.3"),
        ("0x", "0x"),
        ("+inf", "+inf"),
        ("-", "-"),
        ("abc", "abc"),
    ],
)
def test_go_yaml_typing(text: str, value: object) -> None:
    assert resolve_plain(text) == value


def test_too_large_integer_is_an_error() -> None:
    with pytest.raises(SopsError, match="64 bits"):
        resolve_plain("18446744073709551615")


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_go_parse_int_decimal(n: int) -> None:
    assert go_parse_int(str(n)) == n


@given(st.text(max_size=20))
def test_reads_back_as_string_is_consistent(text: str) -> None:
    if reads_back_as_string(text):
        assert resolve_plain(text) == text
