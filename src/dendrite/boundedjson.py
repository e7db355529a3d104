"""The one JSON loader for repository and user input: nesting depth is capped before parsing.

Why: Python's json module recurses once per nesting level, and so does every walker that dendrite runs
on the result (the sops tree, the YAML writer, the Nix printer). A hostile file of 100,000 `[` must be
refused with a sentence naming the file, not become a RecursionError deep inside some later pass.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from dendrite.errors import InputError, JsonTooDeepError

MAX_DEPTH = 100  # clan's files nest fewer than 10 levels; 100 leaves every later walker ample stack

# strings are removed first (brackets inside them do not count), then everything but brackets
_STRING_B = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRING_S = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET_B = re.compile(rb"[^\[\]{}]+")
_NOT_BRACKET_S = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1, ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth_exceeds(data: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (malformed input is judged as far as it goes).

    Why this shape: with no more brackets than the limit (the common case) nothing is scanned; else the
    regular expressions and `accumulate` keep the scan at C speed (a 2,000-machine inventory.json).
    """
    if isinstance(data, bytes):
        if data.count(b"[") + data.count(b"{") <= limit:
            return False
        brackets: bytes | str = _NOT_BRACKET_B.sub(b"", _STRING_B.sub(b"", data))
    else:
        if data.count("[") + data.count("{") <= limit:
            return False
        brackets = _NOT_BRACKET_S.sub("", _STRING_S.sub("", data))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def loads(data: str | bytes, where: str, **kwargs: Any) -> Any:
    """`json.loads` for input dendrite does not control; `where` names the file in the error.

    Raises JsonTooDeepError (an InputError) for nesting deeper than MAX_DEPTH; syntax errors stay
    `json.JSONDecodeError`, so that each caller keeps its own wording for them.
    """
    if json_depth_exceeds(data):
        raise JsonTooDeepError(
            f"{where}: JSON nested more than {MAX_DEPTH} levels deep",
            hint="dendrite refuses deeper JSON; is this file what it should be?",
        )
    try:
        return json.loads(data, **kwargs)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's own cap on int parsing)
        raise InputError(
            f"{where}: {_first_line(exc)}", hint="dendrite refuses such JSON; is this file what it should be?"
        ) from None


def _first_line(exc: ValueError) -> str:
    text = str(exc).split(";")[0].strip()
    return text[:200] or "a value JSON cannot hold"
