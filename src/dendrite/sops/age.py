"""age: wrapping the data key for recipients, and finding the user's identities the way sops does."""

from __future__ import annotations

import functools
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from dendrite.errors import InputError, NoKeyError, SopsError
from dendrite.fsutil import read_regular_file_stat
from dendrite.sops.metadata import AgeEntry
from dendrite.text import shown

_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")


def parse_recipient(text: str) -> Any:
    """A pyrage recipient from `age1…`, `ssh-ed25519 …` or `ssh-rsa …`; InputError otherwise."""
    t = text.strip()
    try:
        if t.startswith("age1"):
            if not _AGE_RECIPIENT.match(t):
                raise InputError(
                    f"{t!r} is not an age X25519 recipient (plugin and post-quantum recipients are not supported)",
                    hint="age public keys look like age1 followed by 58 characters",
                )
            return pyrage.x25519.Recipient.from_str(t)
        if t.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return pyrage.ssh.Recipient.from_str(t)
    except pyrage.RecipientError:
        raise InputError(
            f"{t[:70]!r} is not a valid age recipient", hint="check for a truncated key"
        ) from None
    raise InputError(
        f"{t[:70]!r} is not an age recipient",
        hint="give an age public key (age1...) or an ssh-ed25519 / ssh-rsa public key",
    )


@functools.lru_cache(maxsize=256)
def parsed_recipient(text: str) -> Any:
    """`parse_recipient`, remembered: a re-key wraps for the same newcomer in every secret, and
    parsing the key (its pattern and bech32 decoding) each time was a tenth of the wrap. pyrage's
    recipients are immutable, so one object serves every encryption; errors are not remembered."""
    return parse_recipient(text)


def wrap_data_key(data_key: bytes, recipients: Sequence[str]) -> tuple[AgeEntry, ...]:
    """One armored age file per recipient, as sops writes them (never one file with many stanzas)."""
    if not recipients:
        raise InputError("no recipients given", hint="pass at least one age public key")
    seen: list[str] = []
    entries = []
    for r in recipients:
        r = r.strip()
        if r in seen:
            continue
        seen.append(r)
        enc = pyrage.encrypt(data_key, [parsed_recipient(r)], armored=True)
        entries.append(AgeEntry(r, enc.decode("ascii")))
    return tuple(entries)


@dataclass(frozen=True)
class Identity:
    """An age identity with its public key and where it was found (for error messages)."""

    secret: Any
    public: str
    source: str


@dataclass(frozen=True)
class Identities:
    items: tuple[Identity, ...]
    warnings: tuple[str, ...] = ()  # for the caller to show (a key file others can read); never printed here

    @property
    def publics(self) -> tuple[str, ...]:
        return tuple(i.public for i in self.items)

    def by_public(self) -> dict[str, Identity]:
        return {i.public: i for i in self.items}

    def __bool__(self) -> bool:
        return bool(self.items)


def parse_identities(text: str, source: str) -> list[Identity]:
    """AGE-SECRET-KEY-1… identities from a key file's text; comments and empty lines skipped."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for word in line.split():
            if word.startswith("AGE-SECRET-KEY-1"):
                try:
                    ident = pyrage.x25519.Identity.from_str(word)
                except pyrage.IdentityError:
                    raise InputError(
                        f"{source}:{n}: malformed age secret key", hint="check for truncation"
                    ) from None
                out.append(Identity(ident, str(ident.to_public()), source))
            elif word.startswith("AGE-PLUGIN-") or word.startswith("AGE-SECRET-KEY-PQ-"):
                continue  # plugin and post-quantum identities: not supported by pyrage, skipped like unknown lines
            else:
                raise InputError(
                    f"{source}:{n}: not an age identity (expected AGE-SECRET-KEY-1...)",
                    hint="a key file holds lines from age-keygen; public keys go in comments",
                )
    return out


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    """<UserConfigDir>/sops/age/keys.txt as sops computes it."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CONFIG_HOME")
    home = Path(env.get("HOME", str(Path.home())))
    if xdg:
        base = Path(xdg)
    elif sys.platform == "darwin":  # what platform.system() calls "Darwin", without its import (1.3 ms)
        base = home / "Library" / "Application Support"
    else:
        base = home / ".config"
    return base / "sops" / "age" / "keys.txt"


def key_file_for_writing(env: Mapping[str, str] | None = None) -> Path:
    """Where `key generate` appends: $SOPS_AGE_KEY_FILE if set, else the default path (like clan)."""
    env = os.environ if env is None else env
    explicit = env.get("SOPS_AGE_KEY_FILE")
    return Path(explicit) if explicit else default_key_file(env)


def discover_identities(env: Mapping[str, str] | None = None) -> Identities:
    """Every identity from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default keys.txt (sops ≥ 3.10 combines them)."""
    env = os.environ if env is None else env
    found: list[Identity] = []
    if env.get("SOPS_AGE_KEY"):
        found += parse_identities(env["SOPS_AGE_KEY"], "$SOPS_AGE_KEY")
    files: list[Path] = []
    if env.get("SOPS_AGE_KEY_FILE"):
        f = Path(env["SOPS_AGE_KEY_FILE"]).expanduser()
        if not f.is_file():
            raise InputError(
                f"SOPS_AGE_KEY_FILE names {f}, which is not a file",
                hint="unset it or point it at your age key file",
            )
        files.append(f)
    default = default_key_file(env)
    if default.is_file() and default not in files:
        files.append(default)
    warnings: list[str] = []
    for f in files:
        text, warning = read_key_file(f)
        if warning:
            warnings.append(warning)
        found += parse_identities(text, str(f))
    unique: dict[str, Identity] = {}
    for ident in found:
        unique.setdefault(ident.public, ident)
    return Identities(tuple(unique.values()), tuple(warnings))


KEY_FILE_LIMIT = 1024 * 1024


def read_key_file(path: Path) -> tuple[str, str | None]:
    """An age key file's text, and a warning when group or others can read it (as ssh warns).

    Opened without blocking and checked to be a regular file, so a FIFO named as the key file cannot
    hang dendrite. The key is still used (sops and age do), but the user is told to fix the mode.
    """
    try:
        data, st = read_regular_file_stat(path, limit=KEY_FILE_LIMIT)
    except OSError as exc:
        raise InputError(f"cannot read the age key file {path}: {exc.strerror}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise InputError(f"the age key file {path} is not UTF-8 text") from None
    mode = stat.S_IMODE(st.st_mode)
    warning = None
    if mode & 0o077:
        warning = (
            f"the age key file {path} is readable by {'others' if mode & 0o007 else 'its group'} "
            f"(mode {mode:04o}); run: chmod 600 {path}"
        )
    return text, warning


def identities_from_text(text: str, source: str = "key file") -> Identities:
    return Identities(tuple(parse_identities(text, source)))


# How many age entries naming one of your public keys, and how many naming none (each tried with every
# identity), are tried at most; sops tries them all. A real file has one entry per recipient, so this is
# never reached; a planted file of 30,000 entries took 3.4 s per identity, so with a key file of several
# identities `secrets get` (and a re-key, once per such secret) was busy for tens of seconds.
TRIES = 64
# The longest age entry tried. sops wraps the data key for one recipient per entry: one stanza and 32
# bytes, about 400 characters armored. age tries every stanza of an entry with the identity: a planted
# entry of 60,000 stanzas (8 MB) kept `secrets get` busy for over a minute.
ENC_LIMIT = 4096
# How many recipients an error names before "and N more": one sentence, not megabytes.
_NAMED_IN_ERRORS = 8


def unwrap_data_key(entries: Iterable[AgeEntry], identities: Identities, where: str) -> bytes:
    """Open the data key with the first identity that can.

    Entries whose recipient is one of our public keys are tried first with that key alone, which
    spares an X25519 operation per stanza for every other identity; then the others with every
    identity; at most TRIES of each.
    """
    entries = list(entries)
    if not identities:
        raise NoKeyError(
            f"{where}: no age identity found to decrypt it",
            hint="set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, or put your key in " + str(default_key_file()),
        )
    mine = identities.by_public()
    named = [e for e in entries if e.recipient in mine][:TRIES]
    ordered = named + [e for e in entries if e.recipient not in mine][:TRIES]
    for entry in ordered:
        if len(entry.enc) > ENC_LIMIT:
            raise SopsError(
                f"{where}: the age entry for {shown(entry.recipient)} is {len(entry.enc):,} characters long, "
                f"over dendrite's limit of {ENC_LIMIT:,} (sops writes about 400: one recipient)",
                hint="this is not an entry sops wrote; check where the file came from",
            )
        who = (
            [mine[entry.recipient].secret]
            if entry.recipient in mine
            else [i.secret for i in identities.items]
        )
        try:
            key = bytes(pyrage.decrypt(entry.enc.encode("ascii", "replace"), who))
        except (pyrage.DecryptError, ValueError, TypeError):
            continue
        if len(key) != 32:
            raise SopsError(
                f"{where}: the age entry for {shown(entry.recipient)} holds a {len(key)}-byte key, not 32"
            )
        return key
    distinct = list(dict.fromkeys(e.recipient for e in entries))
    recips = ", ".join(shown(r) for r in distinct[:_NAMED_IN_ERRORS]) or "none"
    if len(distinct) > _NAMED_IN_ERRORS:
        recips += f" and {len(distinct) - _NAMED_IN_ERRORS} more"
    raise NoKeyError(
        f"{where}: none of your age identities ({', '.join(identities.publics)}) can decrypt it; "
        f"its recipients are {recips}",
        hint="use a key that is a recipient, or ask a recipient to add yours",
    )
