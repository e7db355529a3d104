"""Shell completion of the names a repository holds: machines, secrets, users and groups.

Why directory listings only: completion runs on every Tab, so it must answer in the time the shell
waits, and must never fail. It lists `sops/` (what clan's own completion reads too), `machines/` and
`vars/per-machine/` through `RepoFS` (no link followed), and never evaluates the inventory's Nix; any
problem (no repository, a planted link) completes nothing rather than printing an error into the
user's command line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # imported when Tab is pressed, not by every command that declares a name argument
    from dendrite.secrets.layout import Layout

Completer = Callable[[typer.Context, str], list[str]]


def _root(ctx: typer.Context) -> Path:
    """The repository `-C` names (the root command's option), else the one found from here."""
    from dendrite.repo import find_repo

    given = ctx.find_root().params.get("repo")
    return find_repo(given, explicit=given is not None).root


def _names(ctx: typer.Context, listing: Callable[[Layout], list[str]], incomplete: str) -> list[str]:
    try:
        from dendrite.secrets.layout import Layout

        found = listing(Layout(_root(ctx)))
    except Exception:  # completion must never break the user's command line: nothing to offer
        return []
    return sorted(n for n in set(found) if n.startswith(incomplete))


def _machines(layout: Layout) -> list[str]:
    from dendrite.generators import PER_MACHINE_DIR
    from dendrite.names import is_valid

    fs = layout.fs
    out = layout.names("machines")
    for base in (layout.root / "machines", layout.vars / PER_MACHINE_DIR):
        out += [e.name for e in fs.entries(base) if e.kind == "dir" and is_valid("machine", e.name)]
    return out


def machines(ctx: typer.Context, incomplete: str) -> list[str]:
    return _names(ctx, _machines, incomplete)


def secrets(ctx: typer.Context, incomplete: str) -> list[str]:
    return _names(ctx, lambda layout: [r.name for r in layout.legacy_secrets()], incomplete)


def users(ctx: typer.Context, incomplete: str) -> list[str]:
    return _names(ctx, lambda layout: layout.names("users"), incomplete)


def groups(ctx: typer.Context, incomplete: str) -> list[str]:
    return _names(ctx, lambda layout: layout.names("groups"), incomplete)


def server_types(_ctx: typer.Context, incomplete: str) -> list[str]:
    """The Hetzner Cloud server types `infra hetzner` accepts (a table in dendrite, no repository)."""
    from dendrite.scaffold.hetzner import SERVER_TYPES

    return [t for t in SERVER_TYPES if t.startswith(incomplete)]
