"""What the `secrets` commands share without the CLI framework: the stores of this run and their
warnings at exit, the nearest name for a typo, and `get` itself.

Why apart from `cli.secrets_cmd` (which defines the Typer commands and imports Typer): `secrets get`
also runs on the fast path (`cli.fast`), without Typer; both paths call `get` here.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from dendrite.cli.console import note, repo, write_bytes
from dendrite.errors import InputError
from dendrite.secrets.store import SecretsStore
from dendrite.text import did_you_mean

_STORES: list[SecretsStore] = []
EXTRA_WARNINGS: list[str] = []  # what a command learnt beside its stores (a group file, a key file)


def store() -> SecretsStore:
    """The repository's store, its warnings printed when the process ends."""
    opened = SecretsStore(repo().root)
    if not _STORES:
        atexit.register(_print_warnings)
    _STORES.append(opened)
    return opened


def _print_warnings() -> None:
    """Tell the user what the library reported (an age key file others can read), once each.

    Why at exit: the error boundary prints a failure first; a warning after it keeps `error:` the
    first line, and a successful command's output is not interleaved with it.
    """
    seen = set()
    for w in [*EXTRA_WARNINGS, *(w for s in _STORES for w in s.warnings)]:
        if w not in seen:
            seen.add(w)
            note(f"warning: {w}")


def nearest(name: str, known: Sequence[str], listing: str) -> str:
    """'did you mean …?' when a name is close; else the short list, or the command that lists a long one."""
    hint = did_you_mean(name, tuple(known))
    if hint.startswith("did you mean") or len(known) <= 12:
        return f"{hint} (see '{listing}')"
    return f"see '{listing}'"


@contextmanager
def suggesting(opened: SecretsStore, name: str) -> Iterator[None]:
    """A secret that does not exist gets the nearest name as its hint; the store is listed only then,
    so reading a secret costs no listing of thousands."""
    try:
        yield
    except InputError as exc:
        known = opened.secrets()
        if name in known or exc.hint is None or "secrets list" not in exc.hint:
            raise
        raise InputError(exc.message, hint=nearest(name, known, "dendrite secrets list")) from None


def get(name: str) -> None:
    """`dendrite secrets get NAME`: the secret's value on stdout, as it was stored."""
    opened = store()
    with suggesting(opened, name):
        value = opened.get(name)
    write_bytes(value)
