"""`dendrite vars upload` and `dendrite machines update`: put secrets and systems on machines over ssh.

Registered on the vars and machines apps by one line each (vars_cmd.py, inventory_cmd.py); the
deployment library is imported inside the commands, so other commands do not pay for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dendrite.cli import complete
from dendrite.cli.common import MachineArg, err, name_arg, note, out, repo
from dendrite.errors import InputError

if TYPE_CHECKING:
    from dendrite.deploy.ssh import SshConfig
    from dendrite.deploy.update import MachinePlan, MachineResult, Options

HostKeyOpt = Annotated[
    str,
    typer.Option(
        "--host-key-check",
        help="Host key check, as clan: strict (known_hosts only), accept-new (trust on first use), none.",
    ),
]
SshOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--ssh-option", "-o", help="An ssh -o option Key=Value (IdentityFile=…, UserKnownHostsFile=…)."
    ),
]
TimeoutOpt = Annotated[float, typer.Option("--connect-timeout", help="Seconds to wait for a host to answer.")]
UploadDirOpt = Annotated[
    str,
    typer.Option(
        "--upload-dir",
        help="The machine's clan.core.vars.sops.secretUploadDirectory (read from the flake by clan).",
    ),
]
TARGET_STORE_ENV = "DENDRITE_TARGET_STORE"  # a chroot store on the target, as clan's CLAN_TEST_STORE


def _ssh_config(host_key_check: str, options: list[str] | None, timeout: float) -> SshConfig:
    from dendrite.deploy.ssh import HOST_KEY_CHECKS, SshConfig

    if host_key_check not in HOST_KEY_CHECKS:
        raise InputError(
            f"--host-key-check {host_key_check!r} is not known", hint="use " + ", ".join(HOST_KEY_CHECKS)
        )
    if timeout <= 0:
        raise InputError(f"--connect-timeout must be positive, not {timeout:g}")
    return SshConfig(host_key_check, tuple(options or ()), timeout)


def upload(
    machine: MachineArg,
    target: Annotated[
        str | None,
        typer.Option("--target", help="user@host[:port] (default: the inventory's deploy.targetHost)."),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--directory", help="Write the tree into this new or empty local directory."),
    ] = None,
    host_key_check: HostKeyOpt = "strict",
    upload_dir: UploadDirOpt = "/var/lib/sops-nix",
    ssh_option: SshOpt = None,
    connect_timeout: TimeoutOpt = 10.0,
) -> None:
    """Upload the machine's age key and activation secrets, switched in place in one rename (as clan's
    `vars upload`, but never leaving the machine without a complete set)."""
    from dendrite.deploy.ssh import connect, parse_address
    from dendrite.deploy.upload import collect, upload, write_directory
    from dendrite.inventory import analyse

    root = repo().root
    config = _ssh_config(host_key_check, ssh_option, connect_timeout)
    payload = collect(root, machine)
    if directory is not None:
        written = write_directory(payload, directory)
        out.print(f"wrote {len(payload.files)} file(s) of {machine} to {written}", markup=False)
        return
    target_text = target or analyse(root).inventory.machines[machine].deploy.target_host
    if not target_text:
        raise InputError(
            f"machine '{machine}' has no target host",
            hint=f"pass --target user@host or set inventory.machines.{machine}.deploy.targetHost",
        )
    address = parse_address(target_text)
    with connect(address, config) as conn:
        result = upload(conn, payload, upload_dir, note)
    out.print(
        f"uploaded {result.files} file(s) ({result.bytes} bytes) to {address}:{result.destination} "
        f"in {result.seconds:.2f} s",
        markup=False,
    )


def update(
    machines: Annotated[
        list[str] | None,
        typer.Argument(
            help="Machines to update (default: every machine not requiring an explicit update, as clan).",
            callback=name_arg("machine"),
            autocompletion=complete.machines,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the exact commands; run nothing.")
    ] = False,
    build_host: Annotated[
        str | None, typer.Option("--build-host", help="Where to build: 'localhost' or user@host[:port].")
    ] = None,
    target_host: Annotated[
        str | None, typer.Option("--target-host", help="user@host[:port] of the one machine updated.")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Machines updated at the same time.")] = 4,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Switch despite switch inhibitors (NIXOS_NO_CHECK=1), as clan.")
    ] = False,
    host_key_check: HostKeyOpt = "strict",
    upload_dir: UploadDirOpt = "/var/lib/sops-nix",
    ssh_option: SshOpt = None,
    connect_timeout: TimeoutOpt = 10.0,
    nix: Annotated[
        bool,
        typer.Option(
            "--nix",
            help="Without MACHINE: evaluate each machine's clan.core.deployment.requireExplicitUpdate with nix.",
        ),
    ] = False,
) -> None:
    """clan's `machines update`: generate vars, upload them, build, copy the closure, set the profile and
    switch (darwin: darwin-rebuild). Machines in parallel; exit 1 if any failed. Without MACHINE: every
    machine except those with requireExplicitUpdate = true (one without a target host fails alone)."""
    from dendrite.deploy import update as deploy

    root = repo().root
    opts = deploy.Options(
        ssh=_ssh_config(host_key_check, ssh_option, connect_timeout),
        upload_dir=upload_dir,
        build_host=build_host,
        target_host=target_host,
        jobs=jobs,
        no_check=no_check or bool(os.environ.get("NIXOS_NO_CHECK")),
        store_root=os.environ.get(TARGET_STORE_ENV, ""),
    )
    from dendrite.deploy.upload import check_destination

    check_destination(upload_dir)
    without: dict[str, str] = {}
    if machines:
        if nix:  # named machines are updated whatever requireExplicitUpdate says, so nothing to evaluate
            raise InputError(
                "--nix only chooses machines when none is named: a named machine is always updated",
                hint=f"drop --nix, or run `dendrite machines update --nix` without {', '.join(machines)}",
            )
        names = list(dict.fromkeys(machines))
        plans = deploy.plan(root, names, opts)
    else:
        names = _select(root, nix)
        plans, without = deploy.plan_selected(root, names, opts)
    if dry_run:
        _print_dry_run(root, names, plans, without, opts)
        return

    def progress(machine: str, step: str, status: str, seconds: float, detail: str) -> None:
        if status == "start":
            note(f"{machine}: {step} …")
        elif status == "ok":
            note(f"{machine}: {step} ok ({seconds:.2f} s){': ' + detail if detail else ''}")
        else:
            err.print(f"{machine}: {step} FAILED ({seconds:.2f} s): {detail}", markup=False, style="red")

    results = deploy.update(root, plans, opts, progress, without, names)
    if not results:  # clan: nothing selected, the vars generated, and success
        return
    _print_summary(results)
    for r in results:
        if r.unrecorded is not None:
            hint = f"; record it with `dendrite migrate deployed {r.machine}`" if r.ok else ""
            err.print(
                f"warning: {r.machine}: not recorded in migration/journal.jsonl: {r.unrecorded}{hint}",
                markup=False,
                style="yellow",
            )
    if all(not r.ok and r.steps and r.steps[-1].name == "connect" for r in results):
        # no host could be reached, so nothing changed anywhere: the input (an address) is what is wrong
        err.print("error: no machine could be reached; nothing was changed", markup=False, style="bold red")
        raise typer.Exit(2)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _select(root: Path, use_nix: bool) -> list[str]:
    """clan's choice without names (dendrite.deploy.selection); its notes and warning go to stderr."""
    from dendrite.deploy.selection import select_all
    from dendrite.inventory import analyse

    selection = select_all(root, tuple(analyse(root).inventory.machines), use_nix=use_nix)
    for line in selection.notes:
        note(f"note: {line}")
    if selection.warning:
        err.print(selection.warning, markup=False, style="yellow")
    elif selection.ignored:
        note(f"not updated (requireExplicitUpdate): {', '.join(selection.ignored)}")
    return list(selection.machines)


def _print_dry_run(
    root: Path, names: list[str], plans: list[MachinePlan], without: dict[str, str], opts: Options
) -> None:
    from dendrite.deploy import update as deploy

    if opts.generate:
        out.print(f"{deploy.GENERATE}   # every machine's missing vars, before any host", markup=False)
    planned = {p.machine: (p, lines) for p, lines in deploy.dry_run(root, plans, opts)}
    for m in names:
        if m in without:
            out.print(
                f"# {m}: {without[m]}, so its update fails and the others go on "
                f"(set inventory.machines.{m}.deploy.targetHost)",
                markup=False,
            )
            continue
        p, lines = planned[m]
        build = "here" if p.build is None else ("on the target" if p.builds_on_target else f"on {p.build}")
        out.print(f"# {p.machine} ({p.machine_class}): target {p.target}, build {build}", markup=False)
        for line in lines:
            out.print(line, markup=False)
    note(
        f"{deploy.FLAKE} and {deploy.SYSTEM} stand for the store paths the flake metadata and build steps "
        "find; <nonce> and <id> are random per run"
    )


def _print_summary(results: list[MachineResult]) -> None:
    from rich.table import Table

    table = Table(title="machines update")
    for col in ("machine", "result", "steps", "time", "system or error"):
        table.add_column(col)
    for r in results:
        done = sum(1 for s in r.steps if s.ok)
        table.add_row(
            r.machine,
            "ok" if r.ok else "FAILED",
            f"{done}/{len(r.steps)}",
            f"{r.seconds:.1f} s",
            (r.system or "") if r.ok else (r.error or ""),
        )
    out.print(table)
