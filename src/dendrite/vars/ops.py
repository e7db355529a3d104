"""The other vars commands: check and fix (no Nix evaluation), list, get, set, export, import, keygen."""

from __future__ import annotations

import getpass
import os
import stat
from pathlib import Path

from dendrite.errors import InputError, UnsafePathError
from dendrite.findings import Finding, Location, Rule, Severity, catalogue
from dendrite.generators import Generator
from dendrite.repofs import RepoFS
from dendrite.secrets import keyfile, rekey
from dendrite.secrets.keys import SopsKey, read_keys
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.recipients import Resolver
from dendrite.secrets.store import SecretsStore
from dendrite.text import did_you_mean
from dendrite.vars import access
from dendrite.vars.graph import no_generator
from dendrite.vars.groups import resolve as resolve_groups
from dendrite.vars.migrations import needs_zerotier_migration
from dendrite.vars.sources import machine_generators, read_config
from dendrite.vars.storage import VALIDATION, Item, VarsStore, ensure_consistent

RULES = catalogue(
    [
        Rule("missing", Severity.ERROR, "a var that is not generated yet", "run 'dendrite vars generate'"),
        Rule(
            "outdated",
            Severity.ERROR,
            "a generator whose validation changed since its vars were generated",
            "regenerate it: 'dendrite vars generate --regenerate -g <generator>'",
        ),
        Rule(
            "unfixed",
            Severity.ERROR,
            "a secret var whose recipients differ from its links",
            "run 'dendrite vars fix'",
        ),
        Rule(
            "inaccessible",
            Severity.ERROR,
            "a secret var its machine cannot decrypt",
            "run 'dendrite vars fix'",
        ),
        Rule(
            "unsafe",
            Severity.ERROR,
            "a link or special file planted where a var belongs",
            "remove it and regenerate the var; dendrite never follows it",
        ),
    ]
)
Problem = Finding  # the name `vars check`'s results had before there was one Finding


def _problem(m: str, var: str, kind: str, detail: str, at: Path | None) -> Finding:
    """A finding about one var (generator/file) or generator of one machine, at its directory when known."""
    where = (Location(str(at)),) if at is not None else ()
    return Finding(
        kind, RULES[kind].severity, detail, locations=where, subject=(("machine", m), ("var", var))
    )


def _machines(root: Path, machines: list[str] | None) -> tuple[dict[str, dict[str, Generator]], list[str]]:
    _, per_machine = machine_generators(root)
    for m in machines or []:
        if m not in per_machine:
            raise InputError(
                f"machine '{m}' is not in the inventory", hint=did_you_mean(m, tuple(per_machine))
            )
    return per_machine, machines or sorted(per_machine)


def check(
    root: Path,
    machines: list[str] | None = None,
    generator: str | None = None,
    store: SecretsStore | None = None,
) -> list[Finding]:
    """clan's `vars check`: missing vars, outdated validation, secrets whose recipients drifted, shared
    secrets the machine cannot read, and entries planted where a var belongs (a link is reported, never
    followed). Reads files only, after rolling back a run that was killed half-way."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, machines)
    if generator and not any(generator in per_machine[m] for m in chosen):
        declaring: dict[str, list[str]] = {}
        for m, gens in per_machine.items():
            for g in gens:
                declaring.setdefault(g, []).append(m)
        raise no_generator(generator, chosen, declaring)
    ensure_consistent(root, secrets)
    resolver = Resolver(secrets.layout)
    legacy = needs_zerotier_migration(root)
    out = []
    for m in chosen:
        for gen in per_machine[m].values():
            if generator and gen.name != generator:
                continue
            try:
                out += _check_generator(vs, resolver, gen, m, legacy and gen.name.startswith("zerotier-"))
            except UnsafePathError as exc:  # no path of it can be named safely
                out.append(_problem(m, gen.name, "unsafe", exc.message, None))
    return out


def _check_generator(
    vs: VarsStore, resolver: Resolver, gen: Generator, m: str, legacy: bool = False
) -> list[Finding]:
    """clan's vars_status for one generator; `legacy`: an older zerotier layout is on disk (clan's
    check does not migrate it either: the var is missing until `vars generate` moves it)."""
    missing = "not generated yet"
    if legacy:
        missing += " (an older zerotier layout is on disk: 'dendrite vars generate' moves it here first)"
    out = []
    complete = True
    for f in gen.files:
        var = f"{gen.name}/{f.name}"
        planted = vs.planted(gen, m, f.name)
        if planted is not None:
            out.append(_problem(m, var, "unsafe", planted, vs.file_dir(gen, m, f.name)))
            complete = False
            continue
        if not vs.has_file(gen, m, f.name):
            out.append(_problem(m, var, "missing", missing, vs.file_dir(gen, m, f.name)))
            complete = False
            continue
        if not f.secret:
            continue
        d = vs.file_dir(gen, m, f.name)
        ref = SecretRef("var", str(d.relative_to(vs.vars)), d)
        got = resolver.collect(ref)
        current = rekey.recipients_of(vs.fs.read_bytes(ref.file), str(ref.file))
        if got.problems or current != frozenset(got.keys):
            out.append(
                _problem(m, var, "unfixed", "its recipients differ from its links (run 'vars fix')", d)
            )
        if f.deploy and m not in got.machines:
            out.append(_problem(m, var, "inaccessible", f"{m} is not a recipient (run 'vars fix')", d))
    if gen.files and complete and not vs.hash_valid(gen, m):
        out.append(
            _problem(m, gen.name, "outdated", "its validation changed: regenerate it", vs.gen_dir(gen, m))
        )
    return out


def fix(
    root: Path,
    machines: list[str] | None = None,
    store: SecretsStore | None = None,
    generator: str | None = None,
    *,
    use_nix: bool = False,
) -> int:
    """clan's `vars fix` (clan_lib/vars/fix.py, the sops store's fix): for every secret var of each
    machine's generators, drop the machine's link when the file is not deployed (never the last key),
    link the machine when it cannot read a deployed file (making its age key first when it has none),
    link the default groups (a missing one is an error), and re-key what drifted. Everything is
    checked before anything changes. Returns how many files were re-keyed. `use_nix`: each machine's
    default groups are evaluated with nix (clan's `SecretStore.fix` selects them per machine)."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, machines)
    groups = resolve_groups(root, read_config(root), chosen, use_nix=use_nix)
    targets = []
    for m in chosen:
        gens = list(per_machine[m].values())
        if generator is not None:
            gens = [g for g in gens if g.name == generator]
            if not gens:
                raise InputError(
                    f"generator '{generator}' is not found in machine {m}",
                    hint=did_you_mean(generator, tuple(per_machine[m])),
                )
        targets += [access.Target(g, m, f) for g in gens for f in g.files]
    ensure_consistent(root, secrets)
    access.ensure_machine_keys(
        secrets, access.machines_without_key(secrets, access.stored_targets(vs, targets)), groups
    )
    with secrets.writing() as scratch:
        todo = access.stored_targets(vs, targets)
        return access.apply(vs, access.plan(vs, todo, groups), scratch)


def _find(per_machine: dict[str, dict[str, Generator]], machine: str, var: str) -> tuple[Generator, str]:
    """A var by its exact `gen/file`, as clan's get_machine_var (clan_lib/vars/get.py) finds it.

    A prefix is never taken as the var: one match is "did you mean", several are listed, none is
    "couldn't find" (clan raises for each, so a script never reads the wrong var).
    """
    gens = per_machine[machine]
    ids = [f"{g.name}/{f.name}" for g in gens.values() for f in g.files]
    if var not in ids:
        matches = [i for i in ids if i.startswith(var)]
        if len(matches) == 1:
            raise InputError(f"no var of {machine} is '{var}'; did you mean: {matches[0]}")
        if matches:
            raise InputError(
                f"more than one var of {machine} starts with '{var}': {', '.join(matches)}",
                hint="give the whole generator/file",
            )
        raise InputError(f"no var of {machine} matches '{var}'", hint=did_you_mean(var, tuple(ids)))
    gname, fname = var.split("/", 1)
    return gens[gname], fname


def list_vars(root: Path, machine: str, store: SecretsStore | None = None) -> list[tuple[str, str]]:
    """clan's `vars list`: `<gen>/<file>` and its value; secrets ********, missing <not set>.

    A value planted as a link (or any non-file) is refused, not printed.
    """
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, _ = _machines(root, [machine])
    ensure_consistent(root, secrets)
    rows = []
    for gen in per_machine[machine].values():
        for f in gen.files:
            var = f"{gen.name}/{f.name}"
            if not vs.has_file(gen, machine, f.name):
                rows.append((var, "<not set>"))
            elif f.secret:
                rows.append((var, "********"))
            else:
                data = vs.read(gen, machine, f.name)
                try:
                    rows.append((var, data.decode()))
                except UnicodeDecodeError:
                    rows.append((var, "<binary blob>"))
    return sorted(rows)


def get_var(root: Path, machine: str, var: str, store: SecretsStore | None = None) -> bytes:
    secrets = store or SecretsStore(root)
    per_machine, _ = _machines(root, [machine])
    gen, fname = _find(per_machine, machine, var)
    ensure_consistent(root, secrets)
    return VarsStore(root, secrets).read(gen, machine, fname)


def _declaring(per_machine: dict[str, dict[str, Generator]], gen: Generator, machine: str) -> list[str]:
    return [m for m, gens in per_machine.items() if gen.name in gens and (gen.share or m == machine)]


def export_vars(root: Path, target: Path, store: SecretsStore | None = None) -> int:
    """Plaintext dump per-machine/<m>/<gen>/<file> and shared/<gen>/<file> (dirs 0700, files 0600).

    Written below `target` through `RepoFS(target)`: every name is checked and a symlink planted in the
    destination is refused or replaced, never written through (the plaintext never leaves `target`).
    """
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, None)
    ensure_consistent(root, secrets)
    target = _destination(target)
    out = RepoFS(target)
    count = 0
    done: set[str] = set()
    for m in chosen:
        for gen in per_machine[m].values():
            base = gen.rel_dir(m)
            if base in done:
                continue  # a shared generator is exported once
            done.add(base)
            for f in gen.files:
                if vs.has_file(gen, m, f.name):
                    out.write_bytes(f"{base}/{f.name}", vs.read(gen, m, f.name), 0o600, dir_mode=0o700)
                    count += 1
            stored = vs.stored_hash(gen, m)
            if stored is not None:
                out.write_bytes(f"{base}/{VALIDATION}", stored.encode(), 0o600, dir_mode=0o700)
    return count


def _destination(target: Path) -> Path:
    """The export directory, made 0700 if missing; a symlink or a non-directory there is refused."""
    target = Path(os.path.abspath(target))
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.mkdir(target, 0o700)
        st = os.lstat(target)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(
            f"{target} is not a directory (a symbolic link or a file)",
            hint="export to a new directory of your own",
        )
    os.chmod(target, 0o700, follow_symlinks=False)
    return target


def import_vars(root: Path, source: Path, store: SecretsStore | None = None, *, use_nix: bool = False) -> int:
    """Restore an export through the stores (validation hashes included), in one transaction.

    The export is read through `RepoFS(source)`: a link planted in it is refused, so a host file is
    never imported into a public value. Each secret gets the default groups of its generator's first
    machine, as clan's `import_vars` (clan_lib/vars/import_vars.py) sets each var through `set_var` and
    the sops store's `_set`; `use_nix` evaluates them with nix.
    """
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, None)
    admin = secrets.admin().user
    src = RepoFS(Path(os.path.abspath(source)))
    if not os.path.isdir(src.root):
        raise InputError(f"{source} is not a directory", hint="give the directory 'vars export' wrote")
    items: list[Item] = []
    done: set[str] = set()
    for m in chosen:
        for gen in per_machine[m].values():
            base = gen.rel_dir(m)
            if base in done or not src.is_dir(base):
                continue
            done.add(base)  # a shared generator is restored once, for every machine declaring it
            outputs = {
                f.name: src.read_bytes(f"{base}/{f.name}")
                for f in gen.files
                if src.exists(f"{base}/{f.name}")
            }
            stored = (
                src.read_text(f"{base}/{VALIDATION}", limit=4096)
                if src.exists(f"{base}/{VALIDATION}")
                else None
            )
            items.append(Item(gen, _declaring(per_machine, gen, m), m, outputs, False, stored))
    # only the machines whose groups the items are encrypted to: with --nix, one evaluation each
    firsts = [i.machines[0] if i.machines else i.machine for i in items]
    groups = resolve_groups(root, read_config(root), firsts, use_nix=use_nix)
    with secrets.writing() as scratch:
        vs.write(items, admin, groups, scratch)
    return sum(len(i.outputs) for i in items)


def _login_name() -> str:
    """The default user name as clan's `get_user_or_default` finds it (clan_lib/vars/keygen.py):
    getpass.getuser(), i.e. $LOGNAME, $USER, $LNAME, $USERNAME, then the password database."""
    try:
        return getpass.getuser()
    except (KeyError, OSError) as exc:
        raise InputError(
            "no user name given and the login name is unknown", hint="give one with --user NAME"
        ) from exc


def keygen(root: Path, user: str | None = None, force: bool = False) -> tuple[str, str, bool]:
    """Ensure a local age key and register it as sops/users/<user> (default: the login name)."""
    generated = keyfile.generate()
    name = user or _login_name()
    store = SecretsStore(root)
    path = store.layout.user(name) / "key.json"
    if path.exists() and not force:
        keys = read_keys(path)
        if any(k.publickey == generated.publickey for k in keys):
            return name, generated.publickey, False
        raise InputError(f"user '{name}' exists with other keys", hint="use --force to replace, or --user")
    store.add_user(name, [SopsKey("age", generated.publickey)], force=force)
    return name, generated.publickey, True
