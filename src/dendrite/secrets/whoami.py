"""Which clan secrets user you are: clan's one key source and its reading of it.

clan (`clan_cli/secrets/sops.py`, `KeyType.collect_public_keys`) takes exactly one source: the
`SOPS_AGE_KEY` text when it is set and not empty, else the file `SOPS_AGE_KEY_FILE` names, else the
default `<config dir>/sops/age/keys.txt`. The public keys in it are those named on any line (an
`age1…` or `ssh-ed25519 …`/`ssh-rsa …` word, a `# public key:` comment included) and those derived from
its `AGE-SECRET-KEY-` lines (`get_public_age_keys`). You are the first user whose key.json holds one
of them (`maybe_get_user`).

Decryption is another matter: sops itself reads every source at once, so `dendrite.sops.age`
keeps combining them to open files. Only the question "who am I" takes one source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pyrage

from dendrite.errors import InputError
from dendrite.sops.age import default_key_file, read_key_file

# clan's AGE_RECIPIENT_REGEX, unchanged: the first recipient-looking word on a line
_RECIPIENT = re.compile(r"^.*((age1|ssh-(rsa|ed25519) ).*?)(\s|$)")


@dataclass(frozen=True)
class AdminKeys:
    """The public keys of the one key source clan reads, and its name (for messages)."""

    publics: tuple[str, ...]
    source: str
    warnings: tuple[str, ...] = ()


def admin_keys(env: Mapping[str, str] | None = None) -> AdminKeys:
    """The public keys clan would take as yours: from one source, in clan's order of preference."""
    env = os.environ if env is None else env
    if env.get("SOPS_AGE_KEY"):
        return AdminKeys(public_keys_in(env["SOPS_AGE_KEY"].strip(), "SOPS_AGE_KEY"), "SOPS_AGE_KEY")
    explicit = env.get("SOPS_AGE_KEY_FILE")
    path = Path(explicit) if explicit else default_key_file(env)
    if not path.is_file():  # clan: a missing file is no key, not an error
        return AdminKeys((), str(path))
    text, warning = read_key_file(path)
    return AdminKeys(public_keys_in(text.strip(), str(path)), str(path), (warning,) if warning else ())


def public_keys_in(text: str, source: str) -> tuple[str, ...]:
    """clan's `get_public_age_keys`: recipients named on a line, and those of its secret keys."""
    found: dict[str, None] = {}
    recipient: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        match = _RECIPIENT.match(line)
        if match:
            recipient = match[1]
            found.setdefault(recipient)
        if line.startswith("#"):
            continue
        if line.startswith("AGE-PLUGIN-"):
            if not recipient:
                raise InputError(
                    f"{source}: line {n} holds an age plugin identity with no '# recipient: age1...' line before it",
                    hint="put the plugin's recipient in a comment on the line above, as clan requires",
                )
            recipient = None
        if line.startswith("AGE-SECRET-KEY-PQ-"):
            recipient = None  # a post-quantum key: clan asks age-keygen; pyrage cannot read it
        elif line.startswith("AGE-SECRET-KEY-"):
            try:
                public = str(pyrage.x25519.Identity.from_str(line.strip()).to_public())
            except pyrage.IdentityError:
                raise InputError(
                    f"{source}: line {n} is a malformed age secret key", hint="check for truncation"
                ) from None
            found.setdefault(public)
            recipient = None
    return tuple(found)
