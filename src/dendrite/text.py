"""Words for messages, shared by every package: a suggestion for a mistyped name, a value's type.

Why a module of its own: the inventory, vars and the CLI all need them, and none of them is the home
of the others' messages.
"""

from __future__ import annotations

from typing import Any


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A hint for `word`: the closest of `choices`, or the list of them when none is close."""
    import difflib  # only an error pays for it (difflib, heapq: a few ms on every start)

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(choices)) or 'none'}"


def describe_type(value: Any) -> str:
    """'a string', 'an attribute set'…: a JSON or Nix value's type, for messages."""
    if value is None:
        return "null"
    return {
        bool: "a bool",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "a list",
        dict: "an attribute set",
    }.get(type(value), type(value).__name__)
