"""clan's name rules, checked before any path is built from a name (so `../x` never reaches the disk)."""

from __future__ import annotations

import re

from dendrite.errors import NameError_

_SECRET = re.compile(r"^[a-zA-Z0-9._-]+$")
_USER = re.compile(r"^[a-z_]([a-z0-9_-]{0,31})?$")
_MACHINE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", re.IGNORECASE)


def _check(kind: str, name: str, ok: bool, rule: str) -> str:
    if not name:
        raise NameError_(f"the {kind} name is empty", hint=f"{kind} names are {rule}")
    if "/" in name or name in (".", "..") or "\x00" in name:
        raise NameError_(
            f"{kind} name {name!r} contains a path separator or is a special path",
            hint=f"{kind} names are {rule}",
        )
    if not ok:
        raise NameError_(f"{kind} name {name!r} is not valid", hint=f"{kind} names are {rule}")
    return name


def secret_name(name: str) -> str:
    return _check(
        "secret",
        name,
        bool(_SECRET.match(name)) and len(name) <= 255 and name not in (".", ".."),
        "letters, digits, '.', '_' and '-', at most 255 characters",
    )


def user_name(name: str) -> str:
    return _check(
        "user",
        name,
        bool(_USER.match(name)),
        "lowercase letters, digits, '_' and '-', starting with a letter or '_', under 32 characters",
    )


def group_name(name: str) -> str:
    return _check(
        "group",
        name,
        bool(_USER.match(name)),
        "lowercase letters, digits, '_' and '-', starting with a letter or '_', under 32 characters",
    )


def machine_name(name: str) -> str:
    return _check(
        "machine",
        name,
        bool(_MACHINE.match(name)) and len(name) <= 63,
        "letters, digits and '-', not starting or ending with '-', at most 63 characters",
    )


def is_valid(kind: str, name: str) -> bool:
    try:
        {"secret": secret_name, "user": user_name, "group": group_name, "machine": machine_name}[kind](name)
    except NameError_:
        return False
    return True
