"""`dendrite init`: a Phase 0 test-clan, rendered. The library (dendrite.scaffold) is imported in the
command body so that `dendrite --help` does not load it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dendrite.cli.common import note, out


def init(
    directory: Annotated[Path, typer.Argument(help="Where to make the test-clan (default: here).")] = Path(),
    machines: Annotated[
        list[str] | None,
        typer.Option(
            "--machines",
            help="NAME or NAME:CLASS (nixos|darwin), comma-separated or repeated (default: the sample fleet).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a non-empty directory (its other files are kept).")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="The clan's name (clan.meta.name).")] = "test-clan",
) -> None:
    """A Phase 0 test-clan: flake.nix with import-tree, modules/ in flat categories, the clan inventory,
    host modules registered with clan.machines, and your age key as the admin in group admins."""
    from dendrite import gitcommit
    from dendrite.cli.committing import commits_disabled
    from dendrite.scaffold.testclan import init as init_repo

    r = init_repo(directory.absolute(), machines, force=force, name=name)
    for w in r.warnings:
        note(f"warning: {w}")
    p = out.print
    p(f"test-clan in {r.root}", markup=False)
    for h in r.machines:
        p(f"  {h.name:12} {h.machine_class:7} modules/hosts/{h.name}/default.nix", markup=False)
    made = "a new age key in" if r.key_created else "your age key from"
    p(f"  admin {r.admin} (group admins): {r.admin_key}", markup=False)
    note(f"{made} {r.key_file}")
    outcome = gitcommit.commit(
        r.root, [*r.files, "sops"], f"dendrite init: the test-clan {name}", no_commit=commits_disabled()
    )
    if outcome.state == "committed":
        note(f"committed {len(outcome.paths)} file(s)")
    p(f"next: cd {directory} && dendrite layout lint && dendrite vars generate (see README.md)", markup=False)
