"""The `migrate` command group, assembled from the modules of its commands, none of which imports a
library at import time: `migrate status` loads the journal code only, not the layout parser."""

from __future__ import annotations

import typer

from dendrite.cli import convert_cmd, migrate_cmd, verify_cmd

migrate_app = typer.Typer(
    help="The migration: its plan, evidence, clocks and decisions; scan, convert and verify a nixos-unified repository.",
    no_args_is_help=True,
)
migrate_cmd.register(migrate_app)  # init, plan, status, check, attest, flag, resolve, decide, advance, ...
convert_cmd.register(migrate_app)  # scan, convert
verify_cmd.register(migrate_app)  # listed last
