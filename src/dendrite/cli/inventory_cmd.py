"""`dendrite inventory|machines|tags …`: clan's inventory, read without evaluating Nix."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dendrite.cli import columns, render
from dendrite.cli.committing import commit, machine_created, machine_deleted
from dendrite.cli.common import MachineArg, emit_json, name_arg, note, out, progress, repo
from dendrite.cli.findings import Report, SarifOpt, emit, output_format, severity_line, summary
from dendrite.errors import InputError
from dendrite.inventory import Resolved, analyse, inventory_to_plain, machine_view
from dendrite.inventory.graph import dot, mermaid
from dendrite.inventory.machines import create_machine, delete_machine
from dendrite.inventory.sources import Note
from dendrite.inventory.validate import RULES
from dendrite.nixlang.printer import key
from dendrite.secrets.store import SecretsStore
from dendrite.text import did_you_mean

app = typer.Typer(
    help="clan's inventory: machines, tags, service instances, roles and settings.", no_args_is_help=True
)
machines_app = typer.Typer(help="Machines of the inventory.", no_args_is_help=True)
tags_app = typer.Typer(help="Tags and the machines that carry them.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
NixOpt = Annotated[bool, typer.Option("--nix", help="Evaluate the flake with nix instead of reading files.")]
AttrOpt = Annotated[
    str, typer.Option("--attr", help="With --nix: the flake attribute holding the inventory.")
]


def _note_text(n: Note) -> str:
    """A loader note as one sentence; its place is not repeated when the message starts with it."""
    where = str(n.where) if n.where else ""
    if where and not n.message.startswith(where.split(":")[0]):
        return f"{where}: {n.message}"
    return n.message


def _analyse(use_nix: bool = False, attr: str = "clan.inventory") -> Resolved:
    """The inventory; a source that cannot be read (a Nix file that does not parse) is exit 2, since
    every answer given without it would be about another inventory than the user's."""
    result = analyse(repo().root, use_nix=use_nix, attr=attr)
    for n in result.notes:
        if n.severity != "error":
            note(f"{n.severity}: {_note_text(n)}" + (f" (hint: {n.hint})" if n.hint else ""))
    errors = [n for n in result.notes if n.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(
            _note_text(errors[0]) + more,
            hint=errors[0].hint or "fix the file; dendrite reads the inventory only when every source parses",
        )
    return result


@app.command("show")
def show(json_: JsonOpt = False, nix: NixOpt = False, attr: AttrOpt = "clan.inventory") -> None:
    """The merged inventory (inventory.json, machines/, and the clan.inventory of every Nix file)."""
    r = _analyse(nix, attr)
    plain = inventory_to_plain(r.inventory)
    if json_:
        emit_json(plain)
        return
    inv = r.inventory
    out.print(f"clan {inv.meta.name or '(unnamed)'}, domain {inv.meta.domain}", markup=False)
    out.print("machines:", markup=False)
    columns.print_table(
        [
            (
                f"  {name}",
                m.machine_class,
                f"tags: {', '.join(inv.machine_tags(name))}"
                + (f"  -> {m.deploy.target_host}" if m.deploy.target_host else ""),
            )
            for name, m in inv.machines.items()
        ]
    )
    out.print("instances:", markup=False)
    rows = []
    for iname, inst in inv.instances.items():
        roles = "; ".join(
            f"{rn}: {', '.join([*r.machines, *(f'tag {t}' for t in r.tags)]) or '-'}"
            for rn, r in inst.roles.items()
        )
        rows.append((f"  {iname}", inst.module_name, roles))
    columns.print_table(rows)


@app.command("validate")
def validate_cmd(
    json_: JsonOpt = False, sarif_: SarifOpt = False, nix: NixOpt = False, attr: AttrOpt = "clan.inventory"
) -> None:
    """Check machines, tags, roles, cardinality, classes and settings; exit 1 on errors."""
    r = _analyse(nix, attr)
    counted = f"{len(r.inventory.machines)} machines, {len(r.inventory.instances)} instances"
    report = Report(
        r.findings, RULES, repo().root, severity_line, ("code", "where"), summary(r.findings, counted)
    )
    emit(report, output_format(json_, sarif_))


@app.command("machine")
def machine(
    name: MachineArg, json_: JsonOpt = False, nix: NixOpt = False, attr: AttrOpt = "clan.inventory"
) -> None:
    """One machine resolved: its tags, every instance and role it has, merged settings, vars generators."""
    r = _analyse(nix, attr)
    if name not in r.inventory.machines:
        raise InputError(
            f"machine '{name}' is not in the inventory", hint=did_you_mean(name, tuple(r.inventory.machines))
        )
    view = machine_view(r.inventory, name, r.assignments)
    data: dict[str, Any] = {
        "name": view.name,
        "machineClass": view.machine_class,
        "tags": list(view.tags),
        "roles": [
            {
                "instance": a.instance,
                "service": a.service,
                "role": a.role,
                "via": list(a.via),
                "settings": a.settings,
            }
            for a in view.assignments
        ],
        "generators": [g.name for g in view.generators],
    }
    if json_:
        emit_json(data)
        return
    out.print(f"{name} ({view.machine_class}), tags: {', '.join(view.tags)}", markup=False)
    for a in view.assignments:
        out.print(f"  {a.instance} ({a.service}) as {a.role}, via {', '.join(a.via)}", markup=False)
        for k, v in a.settings.items():  # as Nix, the language the settings are written in
            out.print(f"      {key(k)} = {render.nix(v, indent=3)};", markup=False)
    out.print(f"  vars generators: {', '.join(data['generators']) or '-'}", markup=False)


@app.command("graph")
def graph(
    fmt: Annotated[str, typer.Option("--format", help="mermaid or dot.")] = "mermaid",
    nix: NixOpt = False,
    attr: AttrOpt = "clan.inventory",
) -> None:
    """Which machines meet in which instance (controllers drawn bold)."""
    if fmt not in ("mermaid", "dot"):
        raise InputError(f"unknown graph format {fmt!r}", hint="use mermaid or dot")
    r = _analyse(nix, attr)
    out.print((mermaid if fmt == "mermaid" else dot)(r.inventory, r.assignments), markup=False, end="")


# ------------------------------------------------------------------------------------------------ machines


@machines_app.command("list")
def machines_list(
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only machines with every tag given.", callback=name_arg("tag")),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List machines (tags intersect, like clan machines list --tags)."""
    inv = _analyse().inventory
    known = tuple(inv.tags_in_use())
    for t in tag or []:  # a tag no machine has is a typo far more often than a question
        if t not in known:
            raise InputError(f"no machine has the tag '{t}'", hint=did_you_mean(t, known))
    names = [n for n in inv.machines if all(t in inv.machine_tags(n) for t in tag or [])]
    if json_:
        emit_json(
            {
                n: {"machineClass": inv.machines[n].machine_class, "tags": list(inv.machine_tags(n))}
                for n in names
            }
        )
        return
    for n in names:
        out.print(n, markup=False)


@machines_app.command("create")
def machines_create(
    name: MachineArg,
    machine_class: Annotated[str, typer.Option("--class", help="nixos or darwin.")] = "nixos",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag (repeatable).", callback=name_arg("tag"))
    ] = None,
    target_host: Annotated[
        str | None, typer.Option("--target-host", help="SSH address to deploy to.")
    ] = None,
) -> None:
    """Add a machine: inventory.json, machines/<name>/configuration.nix, and its age key; in a
    `dendrite init` repository also its host module, modules/hosts/<name>/default.nix."""
    root = repo().root
    created = create_machine(root, name, machine_class, tag or [], target_host, SecretsStore(root))
    out.print(created.public_key, markup=False)
    note(f"created {name}: " + ", ".join(created.files))
    machine_created(name)
    if f"modules/hosts/{name}/default.nix" in created.files:
        commit(f"machines: host module for {name}", only=[f"modules/hosts/{name}"])


@machines_app.command("delete")
def machines_delete(name: MachineArg) -> None:
    """Remove a machine: its inventory entry, machines/<name>, vars, <name>-* secrets and key (re-keying the rest)."""
    root = repo().root
    with progress("re-keying") as cb:
        store = SecretsStore(root)
        store.progress = cb
        deleted = delete_machine(root, name, store)
    for item in deleted.removed:
        out.print(f"removed {item}", markup=False)
    if deleted.rekeyed:
        note(f"re-keyed {deleted.rekeyed} secret(s) that {name} could read")
    machine_deleted(name, deleted.removed)


# ------------------------------------------------------------------------------------------------ tags


@tags_app.command("list")
def tags_list(json_: JsonOpt = False) -> None:
    """Every tag with its machines (all, nixos and darwin are built in)."""
    tags = _analyse().inventory.tags_in_use()
    if json_:
        emit_json(tags)
        return
    columns.print_table([(t, ", ".join(members) or "-") for t, members in sorted(tags.items())])


from dendrite.cli.deploy_cmd import update as machines_update  # noqa: E402  (deploy_cmd.py: the deployment commands)

machines_app.command("update")(machines_update)
