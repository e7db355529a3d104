"""`dendrite vars …`: clan's generators, generated in a sandbox and stored in clan's vars/ layout."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dendrite import boundedjson
from dendrite.cli.committing import commit, vars_generated
from dendrite.cli.common import (
    GeneratorOpt,
    MachineArg,
    MachinesArg,
    emit_json,
    name_arg,
    note,
    out,
    progress,
    repo,
    write_bytes,
)
from dendrite.cli.findings import Report, SarifOpt, emit, output_format, subject_line
from dendrite.cli.progress import asking
from dendrite.errors import InputError
from dendrite.fsutil import read_regular_file
from dendrite.generators import SHARED, Generator, PromptSpec
from dendrite.vars import ops, setting
from dendrite.vars.generate import Report as GenerateReport
from dendrite.vars.generate import generate
from dendrite.vars.migrations import COMMIT_MESSAGE, GUIDE, Migration

app = typer.Typer(
    help="clan's vars: generators, generation in a sandbox, check and fix without Nix.", no_args_is_help=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _ask(gen: Generator, prompt: PromptSpec, machine: str) -> str:
    label = f"{gen.name}/{prompt.name} for {machine} ({prompt.description or prompt.name}): "
    if prompt.type in ("hidden", "multiline-hidden"):
        return getpass.getpass(label)
    sys.stderr.write(label)
    sys.stderr.flush()
    if prompt.type.startswith("multiline"):
        return sys.stdin.read()
    return sys.stdin.readline().rstrip("\n")


MAX_PROMPT_FILE_BYTES = 16 * 1024 * 1024  # prompt answers: secrets and small files, not bulk data


def _prompt_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = boundedjson.loads(read_regular_file(path, limit=MAX_PROMPT_FILE_BYTES), str(path))
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InputError(f'{path} must hold an object: {{"generator/prompt": "value"}}')
    return data


NixGroupsOpt = Annotated[
    bool,
    typer.Option(
        "--nix", help="Evaluate each machine's clan.core.sops.defaultGroups with nix (as clan does)."
    ),
]


@app.command("generate")
def generate_cmd(
    machines: MachinesArg = None,
    generator: GeneratorOpt = None,
    regenerate: Annotated[
        bool, typer.Option("--regenerate", "-r", help="Run even if the vars exist.")
    ] = False,
    no_sandbox: Annotated[bool, typer.Option("--no-sandbox", help="Run scripts without bubblewrap.")] = False,
    prompt_values: Annotated[
        Path | None, typer.Option(help='JSON {"gen/prompt": value} for prompts.')
    ] = None,
    nix: Annotated[bool, typer.Option("--nix", help="Read generators from the flake with nix eval.")] = False,
) -> None:
    """Generate missing vars (clan's rules), in dependency order, secrets into the sops store."""
    values = _prompt_file(prompt_values)
    ask = asking(_ask) if sys.stdin.isatty() else None  # no progress bar over a prompt
    with progress("generating") as cb:
        report = generate(
            repo().root,
            machines or None,
            generator,
            regenerate=regenerate,
            sandbox=not no_sandbox,
            prompt_values=values,
            ask=ask,
            use_nix=nix,
            progress=cb,
        )
    if report.migration.changed:
        _print_migration(report.migration)
        commit(COMMIT_MESSAGE)  # clan_lib/vars/migrations/zerotier.py commits the moves
        return
    vars_generated(report)
    _print_generated(report)
    if report.reencrypted:
        note(f"re-encrypted {report.reencrypted} shared secret(s) for the machines declaring them")
    if not report.generated:
        note("every var is up to date")


def _print_generated(report: GenerateReport) -> None:
    for g in report.generated:
        out.print(
            f"{g.machine}: {g.key.name}{' (shared)' if g.key.placement == SHARED else ''}", markup=False
        )
    if report.generated:
        note(f"generated {len(report.generated)} generator(s)")


def _print_migration(m: Migration) -> None:
    """clan's zerotier migration notice: what moved, then stop (clan exits 0 and asks for a re-run)."""
    for src, dst in m.moved:
        out.print(f"moved {src} -> {dst}", markup=False)
    for path in m.removed:
        out.print(f"removed {path}", markup=False)
    note(
        f"the zerotier vars were migrated to the all-shared layout ({m.files} file(s)); nothing was generated.\n"
        f"In a git repository the moves are committed as '{COMMIT_MESSAGE}' (as clan does).\n"
        f"Read {GUIDE} before you deploy, then run the same command again."
    )


@app.command("check")
def check_cmd(
    machines: MachinesArg = None,
    generator: GeneratorOpt = None,
    json_: JsonOpt = False,
    sarif_: SarifOpt = False,
) -> None:
    """Missing, outdated or unfixed vars, without evaluating Nix; exit 1 if any."""
    root = repo().root
    problems = ops.check(root, machines or None, generator)
    ok = "" if problems else "all vars are present and up to date"
    report = Report(problems, ops.RULES, root, subject_line, ("kind", "detail"), ok)
    emit(report, output_format(json_, sarif_))


@app.command("list")
def list_cmd(machine: MachineArg, json_: JsonOpt = False) -> None:
    """One line per var: <generator>/<file>: value (secrets ********)."""
    rows = ops.list_vars(repo().root, machine)
    if json_:
        emit_json(dict(rows))
        return
    for var, value in rows:
        out.print(f"{var}: {_one_line(value)}", markup=False)


def _one_line(value: str) -> str:
    """A value on one line: a trailing newline (a public key file's) is not a blank line after it."""
    lines = value.rstrip("\n").split("\n")
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... ({len(lines)} lines; see 'dendrite vars get')"


@app.command("get")
def get_cmd(machine: MachineArg, var: Annotated[str, typer.Argument(help="generator/file.")]) -> None:
    """Print a var's value (decrypting secrets); a prefix is answered with "did you mean", as clan does."""
    write_bytes(ops.get_var(repo().root, machine, var))


@app.command("set")
def set_cmd(
    machine: MachineArg,
    var: Annotated[str, typer.Argument(help="generator/file.")],
    force: Annotated[
        bool,
        typer.Option("--force", "-f", help="Set a file its generator made with others; they become stale."),
    ] = False,
    nix: NixGroupsOpt = False,
) -> None:
    """Set a var from stdin (a hidden prompt on a terminal), keeping what is made from it consistent.

    The answer to a prompt runs its generator again with the value (a password's hash follows it);
    other generators made from the var run again; a file made together with others (a key pair) is
    refused unless --force, which leaves the generator outdated for `vars check`.
    """
    root = repo().root
    plan = setting.plan_set(root, machine, var)
    if plan.prompt is None and plan.siblings and not force:
        raise setting.refusal(plan)  # before asking for a value that would not be used
    value = getpass.getpass(f"{plan.var}: ").encode() if sys.stdin.isatty() else sys.stdin.buffer.read()
    ask = _ask if sys.stdin.isatty() else None
    done = setting.apply(root, plan, value, force=force, ask=ask, use_nix=nix)
    if done.written is not None:
        note(f"wrote {done.written}")
    if done.stale:
        note(
            f"warning: {plan.gen.name} is now outdated: 'dendrite vars check' reports it until it is made anew"
        )
    _print_generated(done.generated)
    commit(f"vars: update {plan.var} for machine {machine}")


@app.command("fix")
def fix_cmd(machines: MachinesArg = None, generator: GeneratorOpt = None, nix: NixGroupsOpt = False) -> None:
    """Link machines (making a missing machine key) and default groups, drop deploy=false links
    (never a secret's last key), re-key drifted var secrets; checked before anything changes."""
    n = ops.fix(repo().root, machines or None, generator=generator, use_nix=nix)
    note(f"re-keyed {n} var secret(s)")
    commit(f"secrets: fix vars for {', '.join(machines) if machines else 'all machines'}")


@app.command("keygen")
def keygen_cmd(
    user: Annotated[
        str | None,
        typer.Option(
            help="The clan user name (default: your login name, as clan finds it).", callback=name_arg("user")
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f")] = False,
) -> None:
    """Make sure you have an age key, and register it as a clan user."""
    name, public, created = ops.keygen(repo().root, user, force)
    out.print(public, markup=False)
    note(f"{'registered' if created else 'already registered as'} sops/users/{name}")
    commit(f"secrets: add user {name}")


@app.command("export")
def export_cmd(directory: Path) -> None:
    """Write every var in plaintext to DIRECTORY (0700/0600). Handle it like the secrets it holds.

    A symlink in DIRECTORY is never written through: a linked directory is refused, a linked file replaced.
    """
    count = ops.export_vars(repo().root, directory)
    held = _files_below(directory)
    note(f"exported {count} var{'' if count == 1 else 's'} to {directory}")
    note(
        f"warning: {directory} holds {held} file{'' if held == 1 else 's'} in PLAINTEXT; delete it when done"
    )


def _files_below(directory: Path) -> int:
    """How many files the export directory holds now: what it held before counts too (never followed)."""
    return sum(len(files) for _, _, files in os.walk(directory))


@app.command("import")
def import_cmd(directory: Path, nix: NixGroupsOpt = False) -> None:
    """Restore an export through the stores (validation hashes included), all or nothing; links refused."""
    note(f"imported {ops.import_vars(repo().root, directory, use_nix=nix)} var(s)")
    commit(f"vars: import from {directory.name}")  # clan commits each var; dendrite imports all at once


from dendrite.cli.deploy_cmd import upload as vars_upload  # noqa: E402  (deploy_cmd.py: the deployment commands)

app.command("upload")(vars_upload)
