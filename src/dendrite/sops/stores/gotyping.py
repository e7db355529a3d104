"""How go-yaml v3 types a plain (unquoted, untagged) YAML scalar, which is how sops reads YAML.

Why not PyYAML or ruamel's resolver: they follow other YAML versions (`yes` is a bool, `0755` is not
octal...). A value typed differently from Go would be hashed differently, and the MAC would fail.
"""

from __future__ import annotations

import math
import re

from dendrite.errors import SopsError
from dendrite.sops.values import INT64_MAX, INT64_MIN, Leaf, Timestamp, canonical_timestamp, go_parse_float

_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NAN = {".nan", ".NaN", ".NAN"}
_INF = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
_NEG_INF = {"-.inf", "-.Inf", "-.INF"}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(s, 0, 64) without the int64 range check; None when it does not parse."""
    s = text
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if not s:
        return None
    base = 10
    low = s[:2].lower()
    if low in ("0x", "0o", "0b"):
        base = {"0x": 16, "0o": 8, "0b": 2}[low]
        s = s[2:]
    elif len(s) > 1 and s[0] == "0":
        base, s = 8, s[1:]
    if not s or any(c not in _DIGITS[base] for c in s):
        return None
    if len(s.lstrip("0")) > 64:  # beyond int64 in any base; int() refuses more than 4,300 decimal digits
        return sign * 2**64
    return sign * int(s, base)


def resolve_plain(text: str) -> Leaf:
    """The value go-yaml v3 gives a plain scalar."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NAN:
        return math.nan
    if text in _INF:
        return math.inf
    if text in _NEG_INF:
        return -math.inf
    first = text[0]
    if first == ".":
        try:
            return go_parse_float(text)
        except ValueError:
            return text
    if first.isdigit() or first in "+-":
        if re.match(r"\d{4}-", text):
            try:
                return Timestamp(canonical_timestamp(text))
            except ValueError:
                pass
        plain = text.replace("_", "")
        value = go_parse_int(plain)
        if value is not None:
            if INT64_MIN <= value <= INT64_MAX:
                return value
            raise SopsError(f"the integer {text} does not fit in 64 bits, which sops cannot store")
        if _YAML_FLOAT.match(plain):
            return float(plain)
    return text


def reads_back_as_string(text: str) -> bool:
    """True when go-yaml would read `text`, written plain, as this same string."""
    if not text or text != text.strip():
        return False
    try:
        return resolve_plain(text) == text
    except SopsError:
        return False
