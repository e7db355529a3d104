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


def shown(word: str) -> str:
    """`word` as it is when every character of it is printable, else quoted with its escapes (`repr`).

    Why: a word read from a repository file (a recipient in a sops file's metadata) is printed inside a
    sentence; a newline in it would start a line of its own ("error: …" that dendrite never wrote) and a
    bidirectional override (U+202E) would reorder what the terminal shows.
    """
    return word if word.isprintable() else repr(word)
