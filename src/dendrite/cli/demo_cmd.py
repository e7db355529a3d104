"""`dendrite demo`: build the sample fleet and show what was made and what to try next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dendrite import demo as demo_lib
from dendrite.cli import migrate_cmd
from dendrite.cli.common import out


def demo(
    directory: Annotated[Path, typer.Argument(help="Where to build the demo fleet.")] = Path("demo-fleet"),
) -> None:
    """Build the seed's sample fleet (admin crs58, cinnabar and four darwin hosts, secrets) in DIRECTORY."""
    r = demo_lib.build(directory)
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
    p("[bold]Try next[/bold] (the demo key is only used when you point sops at it; after `make demo`,")
    p("`. .venv/bin/activate` puts dendrite and sops on your PATH):")
    p(f"  export SOPS_AGE_KEY_FILE={r.key_file}")
    p(f"  cd {r.root}")
    p("  dendrite secrets list")
    p("  dendrite secrets groups list")
    p("  dendrite secrets get cinnabar-restic-password")
    p("  echo s3cret | dendrite secrets set grafana-admin --group admins --machine cinnabar")
    p(
        "  dendrite secrets users add alice $(python3 -c 'import pyrage;print(pyrage.x25519.Identity.generate().to_public())')"
    )
    p("  dendrite secrets groups add-user admins alice      # re-keys every admins secret")
    p("  dendrite secrets check")
    p("  dendrite inventory validate")
    p("  dendrite inventory machine cinnabar")
    p("  dendrite inventory graph --format dot")
    p("  dendrite machines create orb --class nixos --tag vps")
    p(f"  dendrite migrate scan {r.legacy_root}")
    p(f"  dendrite migrate convert {r.legacy_root} --out dendritic --dry-run")
    p(f"  dendrite layout lint {r.legacy_root}/dendritic")
    p("  dendrite vars list cinnabar")
    p("  dendrite vars get cinnabar zerotier-identity-cinnabar/identity-secret")
    p("  dendrite vars generate --regenerate -g openssh cinnabar")
    p("  sops decrypt sops/secrets/hetzner-api-token/secret   # the real sops reads it too")
