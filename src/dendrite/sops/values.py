"""Leaf values and their canonical byte forms, exactly as Go sops serializes them.

Why canonical: the MAC is computed over these bytes after decrypting and re-parsing, so a writer that
encrypts `1.0` as a float, or `true` as a bool, would produce a file whose MAC never verifies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from dendrite.errors import SopsError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Comment:
    """A comment line (YAML, dotenv, INI). Comments are encrypted but never part of the MAC."""

    text: str


@dataclass(frozen=True)
class Timestamp:
    """A YAML timestamp kept as Go's RFC 3339 text with nanoseconds (Python's datetime has only µs)."""

    text: str


Leaf = str | int | float | bool | Timestamp | Comment | bytes | None


def go_format_float(value: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_parse_float(text: str) -> float:
    """strconv.ParseFloat(s, 64) for the forms sops writes and reads."""
    t = text.strip()
    low = t.lower().lstrip("+-")
    if low in ("inf", "infinity", "nan"):
        return float(t)
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?0[xX][0-9a-fA-F.]+[pP][-+]?\d+", t):
        raise ValueError(f"invalid float {text!r}")
    if "x" in t.lower():
        return float.fromhex(t)
    return float(t)


_BOOL_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_BOOL_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def to_bytes(value: Leaf) -> bytes:
    """sops' ToBytes: the plaintext of a leaf, and what the MAC hashes."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return go_format_float(value).encode()
    if isinstance(value, Timestamp):
        return value.text.encode()
    if isinstance(value, Comment):
        return value.text.encode("utf-8", "surrogateescape")
    raise SopsError(f"cannot serialize a value of type {type(value).__name__}")


def type_name(value: Leaf) -> str:
    """The `type:` tag of an encrypted leaf."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str | bytes):
        return "str"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise SopsError(f"integer {value} does not fit in 64 bits, which sops cannot store")
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Timestamp):
        return "time"
    if isinstance(value, Comment):
        return "comment"
    raise SopsError(f"cannot encrypt a value of type {type(value).__name__}")


def from_bytes(plain: bytes, kind: str) -> Leaf:
    """Parse decrypted plaintext according to its `type:` tag, as sops does."""
    text = plain.decode("utf-8", "surrogateescape")
    try:
        if kind == "str":
            return text
        if kind == "int":
            if not re.fullmatch(r"[-+]?\d+", text):
                raise ValueError(text)
            return int(text)
        if kind == "float":
            return go_parse_float(text)
        if kind == "bool":
            if text in _BOOL_TRUE:
                return True
            if text in _BOOL_FALSE:
                return False
            raise ValueError(text)
        if kind == "time":
            return Timestamp(canonical_timestamp(text, rfc3339_only=True))
        if kind == "comment":
            return Comment(text)
        if kind == "bytes":
            return plain
    except ValueError:
        raise SopsError(f"decrypted value {text[:40]!r} is not a valid {kind}") from None
    raise SopsError(f"unknown value type {kind!r} in an encrypted value")


# go-yaml v3's timestamp formats: 2006-1-2T15:4:5.999999999Z07:00 (also 't'),
# 2006-1-2 15:4:5.999999999 (UTC), 2006-1-2.
_TS = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?P<sep>[Tt]| )(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?(?P<zone>Z|[+-]\d{2}:\d{2})?)?"
)


def canonical_timestamp(text: str, *, rfc3339_only: bool = False) -> str:
    """Go's time.Time.MarshalText (RFC3339Nano) of a YAML or RFC 3339 timestamp; ValueError if none."""
    m = _TS.fullmatch(text)
    if not m:
        raise ValueError(text)
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
    date(year, month, day)  # validates ranges like Go's time.Parse
    sep, zone = m.group("sep"), m.group("zone")
    if sep is None:
        if rfc3339_only:
            raise ValueError(text)
        return f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z"
    if sep == " " and zone is not None:
        raise ValueError(text)
    if sep in "Tt" and zone is None:
        raise ValueError(text)
    hh, mm, ss = int(m.group(5)), int(m.group(6)), int(m.group(7))
    if hh > 23 or mm > 59 or ss > 59:
        raise ValueError(text)
    frac = (m.group(8) or "")[:9].rstrip("0")
    out = f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}"
    if frac:
        out += "." + frac
    if zone is None or zone in ("Z", "+00:00", "-00:00"):
        return out + "Z"
    return out + zone


def rfc3339_seconds(text: str) -> str:
    """time.Parse(RFC3339, s).Format(RFC3339): what sops uses as the MAC's AAD (fractions dropped)."""
    try:
        canon = canonical_timestamp(text.strip(), rfc3339_only=True)
    except ValueError:
        raise SopsError(f"lastmodified {text!r} is not an RFC 3339 time") from None
    head, zone = canon[:19], canon[19:]
    if zone.startswith("."):
        zone = re.sub(r"^\.\d+", "", zone)
    return head + zone


def now_rfc3339() -> str:
    """The current UTC time as sops writes `lastmodified`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
