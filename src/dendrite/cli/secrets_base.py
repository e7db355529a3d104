"""What the `secrets` commands share without the CLI framework: the stores of this run and their
warnings at exit, the nearest name for a typo, the re-key's frame, and the commands that also run
on the fast path.

Why apart from `cli.secrets_cmd` (which defines the Typer commands and imports Typer): `secrets get`
and `secrets groups add-user` / `remove-user` also run on the fast path (`cli.fast`), without Typer;
both paths call the same functions here.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from dendrite.cli.console import note, repo, write_bytes
from dendrite.cli.progress import progress
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


def known(store: SecretsStore, kind: str, names: list[str] | None) -> list[str]:
    """`names` when each is a user/machine/group of the store; else one sentence with a suggestion.

    Why before the library: its message says a member does not exist; this one says which was meant.
    """
    listing = {"users": store.users, "machines": store.machines, "groups": store.groups}[kind]
    given = names or []
    if given:
        present = tuple(listing())
        for n in given:
            if n not in present:
                raise InputError(
                    f"{kind[:-1]} '{n}' does not exist in {store.layout.sops / kind}",
                    hint=nearest(n, present, f"dendrite secrets {kind} list"),
                )
    return given


def rekeyed(n: int) -> None:
    if n:
        note(f"re-keyed {n} secret{'s' if n != 1 else ''}")


def run_rekey(label: str, fn: Callable[[SecretsStore], int]) -> int:
    """Run a store operation that may re-key many secrets, with a progress bar on a terminal."""
    with progress(label) as cb:
        opened = store()
        opened.progress = cb
        return fn(opened)


def group_add(group: str, kind: str, member: str, create: bool) -> None:
    """Add a member; a group that does not exist is made only with --create, so a typo ("admin" for
    "admins") is a question, not a new group holding one member (clan makes it silently)."""
    from dendrite.cli import committing  # git: only commands that change the store commit

    opened = store()
    known(opened, kind, [member])
    groups = tuple(opened.groups())
    if group not in groups and not create:
        raise InputError(
            f"group '{group}' does not exist in {opened.layout.groups()}",
            hint=nearest(group, groups, "dendrite secrets groups list")
            + "; to make a new group, add --create",
        )
    rekeyed(run_rekey("re-keying", lambda s: s.group_add(group, kind, member)))
    committing.commit(f"secrets: add {kind[:-1]} {member} to group {group}")


def group_remove(group: str, kind: str, member: str) -> None:
    from dendrite.cli import committing

    opened = store()
    known(opened, "groups", [group])
    rekeyed(run_rekey("re-keying", lambda s: s.group_remove(group, kind, member)))
    committing.commit(f"secrets: remove {kind[:-1]} {member} from group {group}")
