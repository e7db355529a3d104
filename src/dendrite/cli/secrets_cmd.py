"""`dendrite secrets …`: clan's sops/ store, with clan's command names and semantics."""

from __future__ import annotations

import atexit
import getpass
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from dendrite.cli.common import (
    GroupArg,
    MachineArg,
    SecretArg,
    UserArg,
    emit_json,
    name_arg,
    note,
    out,
    progress,
    repo,
    write_bytes,
)
from dendrite.cli.findings import Report, SarifOpt, emit, output_format, subject_line
from dendrite.errors import InputError
from dendrite.secrets import health, keyfile
from dendrite.secrets.importer import import_sops
from dendrite.secrets.keys import SopsKey, is_private_key, key_from_input, key_from_text, read_user_file
from dendrite.secrets.store import SecretsStore

app = typer.Typer(
    help="clan's sops/ secret store: users, machines, groups and secrets.", no_args_is_help=True
)
users_app = typer.Typer(help="Admins and users who can decrypt secrets.", no_args_is_help=True)
machines_app = typer.Typer(help="Machines and their age keys.", no_args_is_help=True)
groups_app = typer.Typer(help="Groups of users and machines.", no_args_is_help=True)
key_app = typer.Typer(help="Your own age key.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(machines_app, name="machines")
app.add_typer(groups_app, name="groups")
app.add_typer(key_app, name="key")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Users = Annotated[
    list[str] | None,
    typer.Option("--user", help="Also encrypt to this user (repeatable).", callback=name_arg("user")),
]
Machines = Annotated[
    list[str] | None,
    typer.Option(
        "--machine", help="Also encrypt to this machine (repeatable).", callback=name_arg("machine")
    ),
]
Groups = Annotated[
    list[str] | None,
    typer.Option("--group", help="Also encrypt to this group (repeatable).", callback=name_arg("group")),
]
KeyFiles = Annotated[
    list[Path] | None,
    typer.Option("--age-key-file", help="A file holding an age key, private or public (repeatable)."),
]


_STORES: list[SecretsStore] = []
_EXTRA_WARNINGS: list[str] = []


def _store() -> SecretsStore:
    store = SecretsStore(repo().root)
    if not _STORES:
        atexit.register(_print_warnings)
    _STORES.append(store)
    return store


def _print_warnings() -> None:
    """Tell the user what the library reported (an age key file others can read), once each.

    Why at exit: the error boundary prints a failure first; a warning after it keeps `error:` the
    first line, and a successful command's output is not interleaved with it.
    """
    seen = set()
    for w in [*_EXTRA_WARNINGS, *(w for s in _STORES for w in s.warnings)]:
        if w not in seen:
            seen.add(w)
            note(f"warning: {w}")


def _rekeyed(n: int) -> None:
    if n:
        note(f"re-keyed {n} secret{'s' if n != 1 else ''}")


def _run_rekey(label: str, fn: Callable[[SecretsStore], int]) -> int:
    """Run a store operation that may re-key many secrets, with a progress bar on a terminal."""
    with progress(label) as cb:
        store = _store()
        store.progress = cb
        return fn(store)


def _argv_key(text: str) -> SopsKey:
    """A public key from the command line; `-` reads a key file's text from stdin.

    A private key is refused here: arguments are visible to every user (`ps`, /proc, shell history).
    """
    if text == "-":
        return key_from_text(sys.stdin.read(), "stdin")
    if is_private_key(text):
        raise InputError(
            "a private age key was given on the command line, where other users can see it (ps, shell history)",
            hint="pass the key file with --age-key-file FILE, or '-' to read it from stdin; public keys "
            "(age1...) are fine as arguments",
        )
    return key_from_input(text)


def _keys(
    positional: list[str] | None, options: list[str] | None, files: list[Path] | None = None
) -> list[SopsKey]:
    keys = [_argv_key(k) for k in [*(positional or []), *(options or [])]]
    return keys + [key_from_text(read_user_file(f), str(f)) for f in files or []]


def _names_out(names: list[str], as_json: bool) -> None:
    if as_json:
        emit_json(names)
        return
    for n in names:
        out.print(n, markup=False)


# ------------------------------------------------------------------------------------------------ users


@users_app.command("list")
def users_list(json_: JsonOpt = False) -> None:
    """List users."""
    names = _store().users()
    _names_out(names, json_)


@users_app.command("add")
def users_add(
    name: UserArg,
    key: Annotated[
        list[str] | None, typer.Argument(help="age public key, a key file, or - to read a key from stdin.")
    ] = None,
    age_key: Annotated[list[str] | None, typer.Option("--age-key", help="Another key (repeatable).")] = None,
    age_key_file: KeyFiles = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing user's keys.")] = False,
) -> None:
    """Add a user with one or more age keys; secrets the user already reaches are re-keyed."""
    keys = _keys(key, age_key, age_key_file)
    _rekeyed(_run_rekey("re-keying", lambda s: s.add_user(name, keys, force)))


@users_app.command("remove")
def users_remove(name: UserArg) -> None:
    """Remove a user from every group and secret, and re-key what they could read."""
    _rekeyed(_run_rekey("re-keying", lambda s: s.remove_user(name)))


@users_app.command("get")
def users_get(name: UserArg, json_: JsonOpt = False) -> None:
    """Show a user's keys."""
    keys = _store().user_keys(name)
    if json_:
        emit_json([k.as_json() for k in keys])
    else:
        for k in keys:
            out.print(f"{k.type}\t{k.publickey}", markup=False)


@users_app.command("add-key")
def users_add_key(
    name: UserArg,
    key: Annotated[list[str] | None, typer.Argument(help="Public keys to add (- reads stdin).")] = None,
    age_key_file: KeyFiles = None,
) -> None:
    """Add keys to a user; every secret the user reaches is re-keyed."""
    keys = _keys(key, None, age_key_file)
    _rekeyed(_run_rekey("re-keying", lambda s: s.add_user_keys(name, keys)))


@users_app.command("remove-key")
def users_remove_key(
    name: UserArg,
    key: Annotated[list[str] | None, typer.Argument(help="Public keys to remove (- reads stdin).")] = None,
    age_key_file: KeyFiles = None,
) -> None:
    """Remove keys from a user (never the last one); every secret the user reaches is re-keyed."""
    keys = _keys(key, None, age_key_file)
    _rekeyed(_run_rekey("re-keying", lambda s: s.remove_user_keys(name, keys)))


@users_app.command("add-secret")
def users_add_secret(user: UserArg, secret: SecretArg) -> None:
    """Give a user access to a secret."""
    _rekeyed(_store().secret_add_member(secret, "users", user))


@users_app.command("remove-secret")
def users_remove_secret(user: UserArg, secret: SecretArg) -> None:
    """Take a user's access to a secret away."""
    _rekeyed(_store().secret_remove_member(secret, "users", user))


# ------------------------------------------------------------------------------------------------ machines


@machines_app.command("list")
def machines_list(json_: JsonOpt = False) -> None:
    """List machines."""
    names = _store().machines()
    _names_out(names, json_)


@machines_app.command("add")
def machines_add(
    name: MachineArg,
    key: Annotated[
        str | None, typer.Argument(help="The machine's age public key (generated if omitted).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing machine's key.")] = False,
) -> None:
    """Add a machine; without a key, generate one and keep its private key as the secret <machine>-age.key."""
    parsed = _argv_key(key) if key else None
    result: dict[str, object] = {}

    def act(s: SecretsStore) -> int:
        k, n = s.add_machine(name, parsed, force)
        result["key"] = k
        return n

    n = _run_rekey("re-keying", act)
    k = result["key"]
    assert isinstance(k, SopsKey)
    out.print(k.publickey, markup=False)
    if parsed is None:
        note(f"generated a key for {name}; its private key is the secret {name}-age.key")
    _rekeyed(n)


@machines_app.command("remove")
def machines_remove(name: MachineArg) -> None:
    """Remove a machine from every group and secret, and re-key what it could read."""
    _rekeyed(_run_rekey("re-keying", lambda s: s.remove_machine(name)))


@machines_app.command("get")
def machines_get(name: MachineArg, json_: JsonOpt = False) -> None:
    """Show a machine's key."""
    k = _store().machine_key(name)
    emit_json(k.as_json()) if json_ else out.print(f"{k.type}\t{k.publickey}", markup=False)


@machines_app.command("add-secret")
def machines_add_secret(machine: MachineArg, secret: SecretArg) -> None:
    """Give a machine access to a secret."""
    _rekeyed(_store().secret_add_member(secret, "machines", machine))


@machines_app.command("remove-secret")
def machines_remove_secret(machine: MachineArg, secret: SecretArg) -> None:
    """Take a machine's access to a secret away."""
    _rekeyed(_store().secret_remove_member(secret, "machines", machine))


# ------------------------------------------------------------------------------------------------ groups


@groups_app.command("list")
def groups_list(json_: JsonOpt = False) -> None:
    """List groups with their members."""
    store = _store()
    rows = {g: store.group_members(g) for g in store.groups()}
    if json_:
        emit_json({g: {"users": list(m.users), "machines": list(m.machines)} for g, m in rows.items()})
        return
    for g, m in rows.items():
        out.print(
            f"{g}\tusers: {', '.join(m.users) or '-'}\tmachines: {', '.join(m.machines) or '-'}", markup=False
        )


def _group_cmd(verb: str, kind: str) -> None:
    member = kind[:-1]

    def cmd(group: GroupArg, name: str) -> None:
        def act(s: SecretsStore) -> int:
            return s.group_add(group, kind, name) if verb == "add" else s.group_remove(group, kind, name)

        _rekeyed(_run_rekey("re-keying", act))

    cmd.__doc__ = (
        f"Add a {member} to a group; every secret of the group is re-keyed."
        if verb == "add"
        else f"Remove a {member} from a group; every secret of the group is re-keyed."
    )
    cmd.__annotations__["name"] = UserArg if kind == "users" else MachineArg  # the member's own rule
    groups_app.command(f"{verb}-{member}")(cmd)


for _verb in ("add", "remove"):
    for _kind in ("users", "machines"):
        _group_cmd(_verb, _kind)


@groups_app.command("add-secret")
def groups_add_secret(group: GroupArg, secret: SecretArg) -> None:
    """Give a group access to a secret."""
    _rekeyed(_store().secret_add_member(secret, "groups", group))


@groups_app.command("remove-secret")
def groups_remove_secret(group: GroupArg, secret: SecretArg) -> None:
    """Take a group's access to a secret away."""
    _rekeyed(_store().secret_remove_member(secret, "groups", group))


# ------------------------------------------------------------------------------------------------ secrets


def _read_value(name: str) -> bytes:
    env = os.environ.get("SOPS_NIX_SECRET")
    if env is not None:
        return env.encode()
    if sys.stdin.isatty():
        value = getpass.getpass(f"Paste the value of {name} (hidden): ")
        return value.encode()
    return sys.stdin.buffer.read()


@app.command("set")
def set_(name: SecretArg, user: Users = None, machine: Machines = None, group: Groups = None) -> None:
    """Encrypt a secret from stdin (or a hidden prompt on a terminal); you are always a recipient."""
    value = _read_value(name)
    ref = _store().set(name, value, users=user or [], machines=machine or [], groups=group or [])
    note(f"wrote {ref.file}")


@app.command("get")
def get(name: SecretArg) -> None:
    """Print a secret's value."""
    write_bytes(_store().get(name))


@app.command("list")
def list_(
    pattern: Annotated[str | None, typer.Argument(help="Substring or glob.")] = None, json_: JsonOpt = False
) -> None:
    """List secrets."""
    names = _store().secrets(pattern)
    _names_out(names, json_)


@app.command("remove")
def remove(name: SecretArg) -> None:
    """Delete a secret."""
    _store().remove(name)


@app.command("rename")
def rename(old: SecretArg, new: SecretArg) -> None:
    """Rename a secret."""
    _store().rename(old, new)


@app.command("check")
def check(json_: JsonOpt = False, sarif_: SarifOpt = False) -> None:
    """Compare every secret's recipients (legacy and vars) with its links; exit 1 on any finding."""
    store = _store()
    findings = health.check(store)
    ok = "" if findings else "all secrets are encrypted to exactly their members"
    report = Report(findings, health.RULES, store.layout.root, subject_line, ("kind", "detail"), ok)
    emit(report, output_format(json_, sarif_))


@app.command("fix")
def fix() -> None:
    """Remove broken member links and re-key every secret whose recipients drifted."""
    with progress("re-keying") as cb:
        store = _store()
        store.progress = cb
        result = health.fix(store)
    note(f"removed {result.links_removed} broken link(s), re-keyed {result.rekeyed} secret(s)")


@app.command("import-sops")
def import_sops_cmd(
    file: Path,
    input_type: Annotated[
        str | None, typer.Option(help="yaml, json, dotenv or ini (default: extension).")
    ] = None,
    prefix: Annotated[str, typer.Option(help="Prefix for the new secret names.")] = "",
    user: Users = None,
    machine: Machines = None,
    group: Groups = None,
) -> None:
    """Create one secret per top-level key of a sops-encrypted file."""
    with progress("importing") as cb:
        names = import_sops(
            _store(),
            file,
            input_type=input_type,
            prefix=prefix,
            users=user or [],
            machines=machine or [],
            groups=group or [],
            progress=cb,
        )
    for n in names:
        out.print(n, markup=False)


# ------------------------------------------------------------------------------------------------ key


@key_app.command("generate")
def key_generate(
    new: Annotated[bool, typer.Option("--new", help="Append a new key even if one exists.")] = False,
) -> None:
    """Create your age key (appended to the key file, mode 0600) unless you have one."""
    g = keyfile.generate(new)
    _EXTRA_WARNINGS.extend(g.warnings)
    out.print(g.publickey, markup=False)
    note(f"{'generated a new key in' if g.created else 'you already have a key in'} {g.path}")
    note(f"register it: dendrite secrets users add <your-name> {g.publickey}")


@key_app.command("show")
def key_show(json_: JsonOpt = False) -> None:
    """Your age public keys and the clan user each belongs to."""
    keys = keyfile.show(repo().root)
    _EXTRA_WARNINGS.extend(keyfile.key_file_warnings())
    if json_ or not sys.stdout.isatty():
        emit_json([asdict(k) for k in keys])
        return
    for k in keys:
        out.print(f"{k.publickey}\t{k.username or '(not a clan user)'}\t{k.source}", markup=False)
    if not keys:
        raise InputError("no age key found", hint="run 'dendrite secrets key generate'")


@key_app.command("update")
def key_update() -> None:
    """Re-key every secret (legacy and vars) whose recipients differ from its links."""
    _rekeyed(_run_rekey("re-keying", lambda s: s.update_all()))
