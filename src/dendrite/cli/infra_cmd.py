"""`dendrite infra`: the Hetzner server as terranix / OpenTofu (and provisioning), disko layouts.
Library packages are imported in the command bodies, so `dendrite --help` does not load them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dendrite.cli import complete
from dendrite.cli.common import emit_json, note, out, repo

app = typer.Typer(
    help="Infrastructure: the Hetzner server (terranix, OpenTofu), disko layouts.", no_args_is_help=True
)

MachineOpt = Annotated[
    str,
    typer.Option(
        "--machine", help="The inventory machine the server is for.", autocompletion=complete.machines
    ),
]


def _machine(root: Path, name: str, need_class: str | None = None) -> tuple[str, str]:
    """(the machine's class, the clan's name); an unknown machine is one sentence and exit 2."""
    from dendrite.errors import InputError
    from dendrite.inventory import analyse
    from dendrite.text import did_you_mean

    inv = analyse(root).inventory
    m = inv.machines.get(name)
    if m is None:
        hint = did_you_mean(name, tuple(inv.machines)) + " (see 'dendrite machines list')"
        raise InputError(f"machine '{name}' is not in the inventory of {root}", hint=hint)
    if need_class and m.machine_class != need_class:
        others = ", ".join(n for n, o in inv.machines.items() if o.machine_class == need_class) or "none"
        raise InputError(
            f"machine '{name}' is a {m.machine_class} machine; {need_class} is needed here",
            hint=f"{need_class} machines: {others}",
        )
    return m.machine_class, inv.meta.name or "clan"


@app.command("hetzner")
def hetzner_cmd(
    machine: MachineOpt = "cinnabar",
    server_type: Annotated[
        str,
        typer.Option(
            "--server-type",
            help="Hetzner Cloud server type (cx43, cax21…).",
            autocompletion=complete.server_types,
        ),
    ] = "cx43",
    location: Annotated[str, typer.Option("--location", help="Hetzner location.")] = "fsn1",
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="terranix (modules/terranix/hetzner.nix) or json (terraform/main.tf.json)."
        ),
    ] = "terranix",
    apply: Annotated[
        bool, typer.Option("--apply", help="Create the SSH key, firewall and server now (HCLOUD_TOKEN).")
    ] = False,
    ssh_key: Annotated[
        Path | None,
        typer.Option("--ssh-key", help="With --apply: the admin's SSH public key file.", dir_okay=False),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The server, its firewall (22/tcp, 9993/udp), SSH key and outputs as terranix or OpenTofu JSON,
    with a monthly cost estimate; --apply provisions it through the hcloud library."""
    from dendrite.errors import InputError
    from dendrite.repofs import FILE_MODE
    from dendrite.scaffold import hetzner

    if fmt not in ("terranix", "json"):
        raise InputError(f"--format {fmt!r} is not known", hint="use terranix or json")
    root = repo().root
    _, clan = _machine(root, machine, "nixos")
    server = hetzner.check(hetzner.Server(machine, server_type, location, clan=clan))
    public_key = None
    if apply:  # everything the API call needs is checked before anything is written
        from dendrite.scaffold import provision

        provision.client()
        key_file = ssh_key or Path.home() / ".ssh" / "id_ed25519.pub"
        try:
            public_key = key_file.read_text()
        except OSError as exc:
            raise InputError(
                f"cannot read the SSH public key {key_file}: {exc.strerror}", hint="give --ssh-key"
            ) from None
    rel = hetzner.TERRANIX_NIX if fmt == "terranix" else hetzner.MAIN_TF_JSON
    text = hetzner.terranix_module(server) if fmt == "terranix" else hetzner.tofu_json(server)
    fs = repo().fs
    fs.make_dirs(str(Path(rel).parent))
    fs.write_text(rel, text, FILE_MODE)
    cost = hetzner.cost(server_type)
    result = None
    if apply and public_key is not None:
        from dendrite.scaffold import provision

        result = provision.apply(server, public_key)
    if json_:
        emit_json(
            {
                "file": rel,
                "server_type": server_type,
                "location": location,
                "cost": {
                    "eur_month": cost.total,
                    "date": cost.date,
                    "source": cost.source,
                    "note": cost.note,
                },
                "provisioned": None
                if result is None
                else {
                    "id": result.server_id,
                    "ipv4": result.ipv4,
                    "ipv6": result.ipv6,
                    "created": list(result.created),
                },
            }
        )
    else:
        out.print(f"wrote {rel}", markup=False)
        if cost.total is None:
            out.print(
                f"cost: {server_type} has no price in dendrite's table, whose prices are of {cost.date}; "
                f"see {cost.source}",
                markup=False,
            )
        else:
            out.print(
                f"cost: about EUR {cost.total:.2f}/month ({server_type} EUR {cost.server_eur:.2f} + IPv4 "
                f"EUR {cost.ipv4_eur:.2f}, net) at Hetzner's prices of {cost.date}, {cost.note}; "
                f"see {cost.source}",
                markup=False,
            )
        if result is not None:
            made = ", ".join(result.created) or "nothing (all existed)"
            out.print(
                f"provisioned {machine}: server {result.server_id}, {result.ipv4}, {result.ipv6}; created {made}",
                markup=False,
            )
    from dendrite.cli.committing import commit

    commit(f"infra: hetzner {fmt} for {machine}")


@app.command("disko")
def disko_cmd(
    machine: Annotated[str, typer.Argument(help="The NixOS machine.", autocompletion=complete.machines)],
    luks: Annotated[bool, typer.Option("--luks", help="Encrypt; the passphrase is a clan var.")] = False,
    fs: Annotated[str, typer.Option("--fs", help="ext4 (on LVM) or zfs.")] = "ext4",
    device: Annotated[str, typer.Option("--device", help="The disk.")] = "/dev/sda",
) -> None:
    """A disko configuration for MACHINE (LUKS on LVM, or ZFS), merged into its host module; with --luks
    the passphrase comes from the vars generator luks-password (neededFor = "partitioning")."""
    from dendrite.scaffold import disko

    root = repo().root
    _machine(root, machine, "nixos")
    written = disko.write(root, machine, device, luks, fs)
    out.print(f"wrote {written.module}", markup=False)
    if written.config_changed:
        note(
            f"dendrite.toml: generator {disko.GENERATOR} for {machine}; run `dendrite vars generate {machine}`"
        )
    from dendrite.cli.committing import commit

    commit(f"infra: disko for {machine}")
