"""Every kind of name dendrite turns into a path component, checked by one rule set, wherever it comes from.

Why one module: a name reaches the disk from the command line, from `dendrite.toml`, from the inventory,
from Nix files and from directory listings; a rule checked in one of those doors and not another is a
way out of the repository (`../../..` as a generator name). Every rule here is a full match over ASCII
(Python's `re.IGNORECASE` alone lets the long s (U+017F) and the Kelvin sign through, and `$` lets a trailing newline
through), and no name may start with `-` (an option to some tool) or `.` (`.`, `..`, hidden files), or
hold `/`, NUL or a control character.

The rules follow clan where clan has one (`clan_lib/machines/machine_name.py`, `clan_cli/secrets/
secrets.py` VALID_SECRET_NAME, `VALID_USER_NAME`), narrowed only by the leading `-`/`.` rule above.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from dendrite.errors import NameError_

Kind = Literal[
    "secret", "user", "group", "machine", "generator", "file", "prompt", "instance", "tag", "service"
]


@dataclass(frozen=True)
class NameRule:
    pattern: re.Pattern[str]
    max_length: int
    described: str


def _rule(pattern: str, max_length: int, described: str) -> NameRule:
    return NameRule(
        re.compile(pattern, re.ASCII), max_length, f"{described}, at most {max_length} characters"
    )


_SECRET = _rule(
    r"[A-Za-z0-9_][A-Za-z0-9._-]*", 255, "letters, digits, '.', '_' and '-', not starting with '.' or '-'"
)
_USER = _rule(
    r"[a-z_][a-z0-9_-]{0,31}", 32, "lowercase letters, digits, '_' and '-', starting with a letter or '_'"
)
_MACHINE = _rule(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?", 63, "letters, digits and '-', not starting or ending with '-'"
)
# generator, file and prompt names are Nix attribute names in clan; as path components they are held to
# the secret rule (clan's own generators use names such as `ssh.id_ed25519.pub` and `zerotier-ip`)
_ATTR = _SECRET
_INSTANCE = _rule(r"[A-Za-z0-9_][A-Za-z0-9_-]*", 255, "letters, digits, '_' and '-', not starting with '-'")

RULES: dict[str, NameRule] = {
    "secret": _SECRET,
    "user": _USER,
    "group": _USER,
    "machine": _MACHINE,
    "generator": _ATTR,
    "file": _ATTR,
    "prompt": _ATTR,
    "instance": _INSTANCE,
    "tag": _INSTANCE,
    "service": _INSTANCE,
}


def check(kind: Kind, name: object, where: str = "") -> str:
    """`name` if it is a valid `kind` name, else NameError_ saying what is wrong and where it came from."""
    rule = RULES[kind]
    at = f" in {where}" if where else ""
    if not isinstance(name, str):
        raise NameError_(f"the {kind} name{at} is a {type(name).__name__}, not a string", hint=rule.described)
    if not name:
        raise NameError_(f"the {kind} name{at} is empty", hint=f"{kind} names are {rule.described}")
    if "/" in name or "\x00" in name or name in (".", ".."):
        raise NameError_(
            f"{kind} name {name!r}{at} contains a path separator or is a special path",
            hint=f"{kind} names are {rule.described}",
        )
    if len(name) > rule.max_length or rule.pattern.fullmatch(name) is None:
        raise NameError_(f"{kind} name {name!r}{at} is not valid", hint=f"{kind} names are {rule.described}")
    return name


def is_valid(kind: Kind, name: object) -> bool:
    try:
        check(kind, name)
    except NameError_:
        return False
    return True


def secret_name(name: str) -> str:
    return check("secret", name)


def user_name(name: str) -> str:
    return check("user", name)


def group_name(name: str) -> str:
    return check("group", name)


def machine_name(name: str) -> str:
    return check("machine", name)
