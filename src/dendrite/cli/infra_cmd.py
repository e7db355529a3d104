"""`dendrite infra`: the Hetzner server as terranix / OpenTofu (and provisioning), disko layouts.
Library packages are imported in the command bodies, so `dendrite --help` does not load them."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Infrastructure: the Hetzner server (terranix, OpenTofu), disko layouts.", no_args_is_help=True
)
