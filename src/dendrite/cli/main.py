"""The `dendrite` command tree: global options and sub-command groups, run inside the error boundary.

The library raises DendriteError for every input problem; `cli.boundary` (shared with the fast path
of `secrets get`, `cli.fast`) turns one into a message and exit code 2. Anything else is a bug: a
one-line report, and the traceback with --debug.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from dendrite import __version__, changes
from dendrite.cli import boundary, coercion, console, lazytree
from dendrite.cli import helpfmt as helpfmt  # for its effect: every command's help shaped before any is built

if TYPE_CHECKING:
    from typer._click import Command, Context

coercion.install()

# Every sub-command, in the order --help lists them: "module:attribute", a Typer app or a command's
# function. Why by name: importing a command module imports the library it drives (the parser, the
# vars engine, the demo); a command imports only its own module, so `secrets get` starts in a fraction
# of the time. Only --help and completion of the first word load them all.
SUBCOMMANDS: dict[str, str] = {
    "init": "dendrite.cli.init_cmd:init",
    "demo": "dendrite.cli.demo_cmd:demo",
    "sops": "dendrite.cli.sops_cmd:app",
    "secrets": "dendrite.cli.secrets_cmd:app",
    "nix": "dendrite.cli.nix_cmd:app",
    "inventory": "dendrite.cli.inventory_cmd:app",
    "machines": "dendrite.cli.inventory_cmd:machines_app",
    "tags": "dendrite.cli.inventory_cmd:tags_app",
    "vars": "dendrite.cli.vars_cmd:app",
    "layout": "dendrite.cli.layout_cmd:app",
    "migrate": "dendrite.cli.migrate_group:migrate_app",
    "infra": "dendrite.cli.infra_cmd:app",
}


def load_subcommand(name: str) -> Command:
    """The click command for one entry of SUBCOMMANDS, made as `add_typer`/`command` would make it."""
    module, _, attribute = SUBCOMMANDS[name].partition(":")
    return lazytree.subcommand(getattr(importlib.import_module(module), attribute), name)


class LazyGroup(TyperGroup):
    """The root group: SUBCOMMANDS are imported when invoked, listed for help, or completed."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        loaders = {name: functools.partial(load_subcommand, name) for name in SUBCOMMANDS}
        self.commands = lazytree.LazyCommands(self.commands, loaders)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # the names alone: TyperGroup's own walks the values


app = typer.Typer(
    name="dendrite",
    cls=LazyGroup,
    help="Manage a clan-core fleet and its move from nixos-unified to the dendritic pattern.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dendrite {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            "-C",
            help="The repository (default: found from the working directory, or $DENDRITE_REPO).",
            file_okay=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log every program dendrite runs, and show tracebacks for errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    no_commit: Annotated[
        bool,
        typer.Option(
            "--no-commit",
            help="Do not commit changes to git (as clan's CLAN_NO_COMMIT; also $DENDRITE_NO_COMMIT=1).",
        ),
    ] = False,
) -> None:
    console.begin(repo, debug, no_commit)
    ctx.call_on_close(changes.end)  # and no further: an in-process caller may run the CLI again


def run() -> None:
    # the whole tree inside the boundary; `app` looked up when run (a test replaces it)
    boundary.run(lambda: app(), "--debug" in sys.argv[1:])
