"""`dendrite secrets …`: clan's sops/ store, with clan's command names and semantics."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dendrite import lazy
from dendrite.cli import columns, complete, secrets_base
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
)
from dendrite.cli.secrets_base import EXTRA_WARNINGS as _EXTRA_WARNINGS
from dendrite.cli.secrets_base import group_add as _group_add
from dendrite.cli.secrets_base import group_remove as _group_remove
from dendrite.cli.secrets_base import known as _known
from dendrite.cli.secrets_base import rekeyed as _rekeyed
from dendrite.cli.secrets_base import run_rekey as _run_rekey
from dendrite.cli.secrets_base import store as _store
from dendrite.cli.secrets_base import suggesting as _suggesting
from dendrite.errors import DendriteError, InputError
from dendrite.secrets.keys import SopsKey, is_private_key, key_from_input, key_from_text, read_user_file
from dendrite.secrets.store import SecretsStore

if TYPE_CHECKING:
    from dendrite.cli import committing
    from dendrite.cli import findings as cli_findings
    from dendrite.secrets import health, importer, keyfile
else:  # only `check`, `fix` and `key` use them: loaded when one of those runs
    cli_findings = lazy.module("dendrite.cli.findings")
    health = lazy.module("dendrite.secrets.health")
    keyfile = lazy.module("dendrite.secrets.keyfile")
    # only commands that change the store commit (git, subprocess), only `import-sops` imports
    committing = lazy.module("dendrite.cli.committing")
    importer = lazy.module("dendrite.secrets.importer")

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
    typer.Option(
        "--user",
        help="Also encrypt to this user (repeatable).",
        callback=name_arg("user"),
        autocompletion=complete.users,
    ),
]
Machines = Annotated[
    list[str] | None,
    typer.Option(
        "--machine",
        help="Also encrypt to this machine (repeatable).",
        callback=name_arg("machine"),
        autocompletion=complete.machines,
    ),
]
Groups = Annotated[
    list[str] | None,
    typer.Option(
        "--group",
        help="Also encrypt to this group (repeatable).",
        callback=name_arg("group"),
        autocompletion=complete.groups,
    ),
]
KeyFiles = Annotated[
    list[Path] | None,
    typer.Option("--age-key-file", help="A file holding an age key, private or public (repeatable)."),
]


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


def _members(
    store: SecretsStore, users: list[str] | None, machines: list[str] | None, groups: list[str] | None
) -> dict[str, list[str]]:
    return {
        "users": _known(store, "users", users),
        "machines": _known(store, "machines", machines),
        "groups": _known(store, "groups", groups),
    }


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
    committing.commit(f"secrets: add user {name}")


@users_app.command("remove")
def users_remove(name: UserArg) -> None:
    """Remove a user from every group and secret, and re-key what they could read."""
    _rekeyed(_run_rekey("re-keying", lambda s: s.remove_user(name)))
    committing.commit(f"secrets: remove user {name}")


@users_app.command("get")
def users_get(
    name: UserArg,
    json_: Annotated[
        bool, typer.Option("--json", help="Accepted for older scripts: the output is JSON.")
    ] = False,
) -> None:
    """Print a user's keys as JSON, as clan does (publickey, source, type, username)."""
    store = _store()
    _known(store, "users", [name])
    keys = store.user_keys(name)
    rows = [{"publickey": k.publickey, "source": "key_file", "type": k.type, "username": name} for k in keys]
    # clan's users get_command: json.dump(..., indent=2, sort_keys=True), no newline after it
    sys.stdout.write(json.dumps(rows, indent=2, sort_keys=True))


@users_app.command("add-key")
def users_add_key(
    name: UserArg,
    key: Annotated[list[str] | None, typer.Argument(help="Public keys to add (- reads stdin).")] = None,
    age_key_file: KeyFiles = None,
) -> None:
    """Add keys to a user; every secret the user reaches is re-keyed."""
    keys = _keys(key, None, age_key_file)
    _rekeyed(_run_rekey("re-keying", lambda s: s.add_user_keys(name, keys)))
    committing.commit(f"secrets: add key(s) for user {name}")


@users_app.command("remove-key")
def users_remove_key(
    name: UserArg,
    key: Annotated[list[str] | None, typer.Argument(help="Public keys to remove (- reads stdin).")] = None,
    age_key_file: KeyFiles = None,
) -> None:
    """Remove keys from a user (never the last one); every secret the user reaches is re-keyed."""
    keys = _keys(key, None, age_key_file)
    _rekeyed(_run_rekey("re-keying", lambda s: s.remove_user_keys(name, keys)))
    committing.commit(f"secrets: remove key(s) for user {name}")


@users_app.command("add-secret")
def users_add_secret(user: UserArg, secret: SecretArg) -> None:
    """Give a user access to a secret."""
    store = _store()
    _known(store, "users", [user])
    _rekeyed(store.secret_add_member(secret, "users", user))
    committing.commit(f"secrets: add user {user} to {secret}")


@users_app.command("remove-secret")
def users_remove_secret(user: UserArg, secret: SecretArg) -> None:
    """Take a user's access to a secret away."""
    store = _store()
    _known(store, "users", [user])
    _rekeyed(store.secret_remove_member(secret, "users", user))
    committing.commit(f"secrets: remove user {user} from {secret}")


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
    nix: Annotated[
        bool,
        typer.Option(
            "--nix", help="Evaluate the machine's clan.core.sops.defaultGroups with nix (generated key)."
        ),
    ] = False,
) -> None:
    """Add a machine; without a key, generate one and keep its private key as the secret <machine>-age.key
    (the bare key, encrypted to you and the machine's default groups, as clan does)."""
    parsed = _argv_key(key) if key else None
    result: dict[str, object] = {}
    if nix and parsed is None:
        from dendrite.secrets.defaults import default_groups_for  # the Nix parser: only for --nix

        groups = default_groups_for(repo().root, name, use_nix=True)
    else:
        groups = None

    def act(s: SecretsStore) -> int:
        k, n = s.add_machine(name, parsed, force, default_groups=groups)
        result["key"] = k
        return n

    n = _run_rekey("re-keying", act)
    k = result["key"]
    assert isinstance(k, SopsKey)
    out.print(k.publickey, markup=False)
    if parsed is None:
        note(f"generated a key for {name}; its private key is the secret {name}-age.key")
    _rekeyed(n)
    committing.machine_key_added(name)


@machines_app.command("remove")
def machines_remove(name: MachineArg) -> None:
    """Remove a machine from every group and secret, and re-key what it could read."""
    _rekeyed(_run_rekey("re-keying", lambda s: s.remove_machine(name)))
    committing.commit(f"secrets: remove machine {name}")


@machines_app.command("get")
def machines_get(name: MachineArg, json_: JsonOpt = False) -> None:
    """Print a machine's public key, bare, as clan does (with --json: its key.json entry)."""
    store = _store()
    _known(store, "machines", [name])
    k = store.machine_key(name)
    if json_:
        emit_json(k.as_json())
    else:
        sys.stdout.write(k.publickey + "\n")


@machines_app.command("add-secret")
def machines_add_secret(machine: MachineArg, secret: SecretArg) -> None:
    """Give a machine access to a secret."""
    store = _store()
    _known(store, "machines", [machine])
    _rekeyed(store.secret_add_member(secret, "machines", machine))
    committing.commit(f"vars: add {machine} to secret sops/secrets/{secret}")


@machines_app.command("remove-secret")
def machines_remove_secret(machine: MachineArg, secret: SecretArg) -> None:
    """Take a machine's access to a secret away."""
    store = _store()
    _known(store, "machines", [machine])
    _rekeyed(store.secret_remove_member(secret, "machines", machine))
    committing.commit(f"vars: remove {machine} from secret {secret}")


# ------------------------------------------------------------------------------------------------ groups


@groups_app.command("list")
def groups_list(json_: JsonOpt = False) -> None:
    """List groups with their members."""
    store = _store()
    rows = {g: store.group_members(g) for g in store.groups()}
    if json_:
        emit_json({g: {"users": list(m.users), "machines": list(m.machines)} for g, m in rows.items()})
        return
    columns.print_table(
        [
            (g, f"users: {', '.join(m.users) or '-'}", f"machines: {', '.join(m.machines) or '-'}")
            for g, m in rows.items()
        ]
    )


CreateOpt = Annotated[
    bool, typer.Option("--create", help="Make the group if it does not exist (a new group is never implied).")
]


@groups_app.command("add-user")
def groups_add_user(group: GroupArg, name: UserArg, create: CreateOpt = False) -> None:
    """Add a user to a group; every secret of the group is re-keyed."""
    _group_add(group, "users", name, create)


@groups_app.command("add-machine")
def groups_add_machine(group: GroupArg, name: MachineArg, create: CreateOpt = False) -> None:
    """Add a machine to a group; every secret of the group is re-keyed."""
    _group_add(group, "machines", name, create)


@groups_app.command("remove-user")
def groups_remove_user(group: GroupArg, name: UserArg) -> None:
    """Remove a user from a group; every secret of the group is re-keyed."""
    _group_remove(group, "users", name)


@groups_app.command("remove-machine")
def groups_remove_machine(group: GroupArg, name: MachineArg) -> None:
    """Remove a machine from a group; every secret of the group is re-keyed."""
    _group_remove(group, "machines", name)


@groups_app.command("add-secret")
def groups_add_secret(group: GroupArg, secret: SecretArg) -> None:
    """Give a group access to a secret."""
    store = _store()
    _known(store, "groups", [group])
    _rekeyed(store.secret_add_member(secret, "groups", group))
    committing.commit(f"secrets: add group {group} to secret {secret}")


@groups_app.command("remove-secret")
def groups_remove_secret(group: GroupArg, secret: SecretArg) -> None:
    """Take a group's access to a secret away."""
    store = _store()
    _known(store, "groups", [group])
    _rekeyed(store.secret_remove_member(secret, "groups", group))
    committing.commit(f"secrets: remove group {group} from secret {secret}")


# ------------------------------------------------------------------------------------------------ secrets


def _read_value(name: str) -> bytes:
    env = os.environ.get("SOPS_NIX_SECRET")
    if env is not None:
        return env.encode()
    if sys.stdin.isatty():
        import getpass  # a terminal prompt: only here

        value = getpass.getpass(f"Paste the value of {name} (hidden): ")
        return value.encode()
    return sys.stdin.buffer.read()


@app.command("set")
def set_(
    name: SecretArg,
    user: Users = None,
    machine: Machines = None,
    group: Groups = None,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Store an empty value (refused otherwise: usually a mistake)."),
    ] = False,
) -> None:
    """Encrypt a secret from stdin (or a hidden prompt on a terminal); you are always a recipient."""
    store = _store()
    members = _members(store, user, machine, group)
    value = _read_value(name)
    if not value and not allow_empty:  # `secrets set x < /dev/null`, or a pipe whose producer failed
        raise InputError(
            f"the value given for secret '{name}' is empty; nothing was written",
            hint=f"pipe the value in (printf %s VALUE | dendrite secrets set {name}), or pass --allow-empty",
        )
    ref = store.set(name, value, **members)
    note(f"wrote {ref.file}")
    committing.commit(f"secrets: update {name}")


@app.command("get")
def get(name: SecretArg) -> None:
    """Print a secret's value."""
    secrets_base.get(name)


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
    store = _store()
    with _suggesting(store, name):
        store.remove(name)
    committing.commit(f"secrets: remove {name}")


@app.command("rename")
def rename(old: SecretArg, new: SecretArg) -> None:
    """Rename a secret."""
    store = _store()
    with _suggesting(store, old):
        store.rename(old, new)
    committing.commit(f"secrets: rename {old} to {new}")


@app.command("check")
def check(json_: JsonOpt = False, sarif_: cli_findings.SarifOpt = False) -> None:
    """Compare every secret's recipients (legacy and vars) with its links; exit 1 on any finding."""
    store = _store()
    findings = health.check(store)
    ok = "" if findings else "all secrets are encrypted to exactly their members"
    report = cli_findings.Report(
        findings, health.RULES, store.layout.root, cli_findings.subject_line, ("kind", "detail"), ok
    )
    cli_findings.emit(report, cli_findings.output_format(json_, sarif_))


@app.command("fix")
def fix() -> None:
    """Remove broken member links and re-key every secret whose recipients drifted."""
    with progress("re-keying") as cb:
        store = _store()
        store.progress = cb
        result = health.fix(store)
    note(f"removed {result.links_removed} broken link(s), re-keyed {result.rekeyed} secret(s)")
    committing.commit(
        "secrets: fix member links and keys"
    )  # dendrite's own command: clan has no `secrets fix`


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
    """Create one secret per top-level string of a sops-encrypted file; existing secrets and values that
    are not strings are skipped with a warning, as clan does."""
    store = _store()
    members = _members(store, user, machine, group)
    with progress("importing") as cb:
        got = importer.import_sops(store, file, input_type=input_type, prefix=prefix, progress=cb, **members)
    for n in got.created:
        out.print(n, markup=False)
        committing.commit(
            f"secrets: update {n}", only=[f"sops/secrets/{n}"]
        )  # clan: one encrypt_secret commit each
    for skipped in got.skipped:
        note(f"warning: {skipped.name} {skipped.reason}, skipping")


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
    owner = _owner(g.publickey)
    if owner:
        note(f"it is registered as the clan user {owner}")
    else:
        note(f"register it: dendrite secrets users add <your-name> {g.publickey}")


def _owner(publickey: str) -> str | None:
    """The clan user holding `publickey`, or None (also outside a repository: nothing to register in)."""
    try:
        root = repo().root
        store = SecretsStore(root)
        for user in store.users():
            if any(k.publickey == publickey for k in store.user_keys(user)):
                return user
    except DendriteError:
        return None
    return None


@key_app.command("show")
def key_show(json_: JsonOpt = False) -> None:
    """Your age public keys and the clan user each belongs to."""
    keys = keyfile.show(repo().root)
    _EXTRA_WARNINGS.extend(keyfile.key_file_warnings())
    if json_:
        emit_json([asdict(k) for k in keys])
        return
    if not keys:
        raise InputError("no age key found", hint="run 'dendrite secrets key generate'")
    columns.print_table([(k.publickey, k.username or "(not a clan user)", str(k.source)) for k in keys])


@key_app.command("update")
def key_update() -> None:
    """Re-key every secret (legacy and vars) whose recipients differ from its links."""
    _rekeyed(_run_rekey("re-keying", lambda s: s.update_all()))
    committing.commit("secrets: update with new keys")
