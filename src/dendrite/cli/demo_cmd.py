"""`dendrite demo`: build the sample fleet and show what was made and what to try next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dendrite import demo as demo_lib
from dendrite import interrupt
from dendrite.cli import migrate_cmd
from dendrite.cli.common import note, out, progress
from dendrite.errors import InputError


def demo(
    directory: Annotated[Path, typer.Argument(help="Where to build the demo fleet.")] = Path("demo-fleet"),
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild an earlier demo there, losing your changes to it.")
    ] = False,
) -> None:
    """Build the seed's sample fleet (admin crs58, cinnabar and four darwin hosts, secrets) in DIRECTORY.

    DIRECTORY becomes a git repository of its own with the demo committed. An earlier demo there is
    kept: unchanged, the commands to try are shown again; changed, it is rebuilt only with --force.
    """
    existing = demo_lib.inspect(directory)
    if existing is not None:
        if not existing.demo:
            raise InputError(
                f"{existing.root} exists"
                + (
                    ", is not empty and is not a dendrite demo"
                    if existing.root.is_dir()
                    else " and is not a directory"
                )
                + "; nothing was changed",
                hint="choose a new or empty directory",
            )
        if existing.incomplete:
            note(f"building the demo fleet in {existing.root} again: its last build was interrupted")
        elif not force:
            _keep(existing)
            return
        else:
            _warn_lost(existing)
    root = directory.resolve()
    again = f"the demo in {root} is incomplete; run `dendrite demo {root}` again to build it"
    with interrupt.pending(again), progress("building the demo fleet") as cb:
        r = demo_lib.build(directory, replace=existing is not None, progress=cb)
    p = out.print
    p(f"[bold]dendrite demo[/bold]: the sample fleet in {r.root}")
    p(f"  admin key (demo only, never your own): {r.key_file}")
    p(f"  admin crs58 in group admins: {r.admin_public}")
    p("  machines (age keys generated, private keys kept as <machine>-age.key secrets):")
    for name, key in r.machines.items():
        p(f"    {name:10} {key}")
    p("  secrets:")
    for s in r.secrets:
        p(f"    {s}")
    p(f"  decrypted {r.decrypted_name}: {r.decrypted_value.decode(errors='replace')!r}")
    p(f"  its recipients: {', '.join(r.recipients)}")
    p(
        f"  secrets check: {'all recipients match their links' if r.findings == 0 else f'{r.findings} findings'}"
    )
    inv = r.inventory
    p(
        f"  inventory: {len(inv.inventory.machines)} machines, {len(inv.inventory.instances)} instances, "
        f"in {len(r.inventory_files)} Nix files under modules/clan/ (read statically)"
    )
    for f in inv.findings:
        p(f"    {f.severity}: {f.message}", markup=False)
    if any(f.hint for f in inv.findings):
        hint = next(f.hint for f in inv.findings if f.hint)
        p(f"    hint: {hint}", markup=False)
    from dendrite.inventory import machine_view

    view = machine_view(inv.inventory, "cinnabar", inv.assignments)
    p("  cinnabar resolved: " + "; ".join(f"{a.instance} as {a.role}" for a in view.assignments))
    p("    vars generators: " + ", ".join(g.name for g in view.generators))
    p(f"  vars: generated {r.generated} generator(s); cinnabar's vars:")
    for var, value in r.cinnabar_vars:
        shown = value if len(value) < 60 else value[:57] + "..."
        p(f"    {var}: {shown}", markup=False)
    p(
        f"  vars check: {'every var present and up to date' if r.vars_problems == 0 else f'{r.vars_problems} problems'}"
    )
    p(f"  migration: a nixos-unified repository for the fleet in {r.legacy_root}:")
    p(
        f"    scanned: {r.legacy_entries} autowired entries, {r.legacy_uses} uses of the `flake` special argument"
    )
    p(
        f"    converted: {r.converted_files} files in nixos-unified/dendritic/ (old files untouched), "
        f"lint: {r.converted_errors} errors"
    )
    for cls, names in r.namespace.items():
        p(f"    flake.modules.{cls}: {', '.join(names)}", markup=False)
    migrate_cmd.demo_section(r.root)
    p("  graph (mermaid):")
    for line in r.graph.splitlines():
        p(f"    {line}", markup=False)
    p("")
    _try_next(r.root)


def _keep(existing: demo_lib.Existing) -> None:
    """An earlier demo is there: show the next steps if it is as built, refuse to touch it otherwise."""
    if existing.changes:
        shown = ", ".join(c.strip() for c in existing.changes[:5])
        more = f" and {len(existing.changes) - 5} more" if len(existing.changes) > 5 else ""
        raise InputError(
            f"{existing.root} holds a demo fleet with changes of yours ({shown}{more}); nothing was changed",
            hint=f"keep working there, or rebuild it with `dendrite demo --force {existing.root}` and lose them",
        )
    out.print(f"[bold]dendrite demo[/bold]: {existing.root} already holds the demo fleet, unchanged.")
    out.print("  (`dendrite demo --force DIR` builds it afresh, with new keys.)")
    out.print("")
    _try_next(existing.root)


def _warn_lost(existing: demo_lib.Existing) -> None:
    if not existing.changes:
        note(f"rebuilding the demo fleet in {existing.root} (it had no changes of yours)")
        return
    note(f"rebuilding the demo fleet in {existing.root}; these changes of yours are lost:")
    for line in existing.changes:
        note(f"  {line}")


def _try_next(root: Path) -> None:
    p = out.print
    p("[bold]Try next[/bold] (the demo key is only used when you point sops at it; after `make demo`,")
    p("`. .venv/bin/activate` puts dendrite and sops on your PATH):")
    for line in demo_lib.next_steps(root):
        p(f"  {line}", markup=False)
