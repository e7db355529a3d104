"""The other vars commands: check and fix (no Nix evaluation), list, get, set, export, import, keygen."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import InputError
from dendrite.inventory.model import did_you_mean
from dendrite.secrets import keyfile, rekey
from dendrite.secrets.keys import SopsKey, read_keys
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.recipients import Resolver
from dendrite.secrets.store import SecretsStore
from dendrite.vars.model import Generator, placement
from dendrite.vars.sources import default_groups, machine_generators, read_config
from dendrite.vars.storage import VALIDATION, VarsStore


@dataclass(frozen=True)
class Problem:
    machine: str
    var: str  # generator/file, or generator
    kind: str  # missing, outdated, unfixed, inaccessible
    detail: str


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
) -> list[Problem]:
    """clan's `vars check`: missing vars, outdated validation, secrets whose recipients drifted, shared
    secrets the machine cannot read. Reads files only."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, machines)
    resolver = Resolver(secrets.layout)
    out = []
    for m in chosen:
        for gen in per_machine[m].values():
            if generator and gen.name != generator:
                continue
            for f in gen.files:
                var = f"{gen.name}/{f.name}"
                if not vs.has_file(gen, m, f.name):
                    out.append(Problem(m, var, "missing", "not generated yet"))
                    continue
                if not f.secret:
                    continue
                d = vs.file_dir(gen, m, f.name)
                ref = SecretRef("var", str(d.relative_to(vs.vars)), d)
                got = resolver.collect(ref)
                current = rekey.file_recipients(ref)
                if got.problems or current != frozenset(got.keys):
                    out.append(
                        Problem(m, var, "unfixed", "its recipients differ from its links (run 'vars fix')")
                    )
                if f.deploy and m not in got.machines:
                    out.append(Problem(m, var, "inaccessible", f"{m} is not a recipient (run 'vars fix')"))
            if (
                gen.files
                and all(vs.has_file(gen, m, f.name) for f in gen.files)
                and not vs.hash_valid(gen, m)
            ):
                out.append(Problem(m, gen.name, "outdated", "its validation changed: regenerate it"))
    return out


def fix(root: Path, machines: list[str] | None = None, store: SecretsStore | None = None) -> int:
    """Add missing machine and default-group links, drop links of deploy = false, re-key what drifted."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, machines)
    groups = default_groups(read_config(root))
    refs = []
    with secrets.writing() as scratch:
        for m in chosen:
            for gen in per_machine[m].values():
                for f in gen.files:
                    if not f.secret or not vs.has_file(gen, m, f.name):
                        continue
                    d = vs.file_dir(gen, m, f.name)
                    link = d / "machines" / m
                    if (
                        f.deploy
                        and not link.is_symlink()
                        and (secrets.layout.machine(m) / "key.json").exists()
                    ):
                        secrets.layout.fs.link_to(link, secrets.layout.machine(m))
                    if not f.deploy and link.is_symlink():
                        secrets.layout.fs.unlink(link)
                        secrets.layout.fs.remove_empty_dirs(d / "machines", d)
                    for g in groups:
                        if secrets.layout.group(g).is_dir() and not (d / "groups" / g).is_symlink():
                            secrets.layout.fs.link_to(d / "groups" / g, secrets.layout.group(g))
                    refs.append(SecretRef("var", str(d.relative_to(vs.vars)), d))
        drifts = rekey.find_drift(secrets.layout, refs, strict=False)
        return rekey.apply(drifts, secrets.identities, scratch) if drifts else 0


def _find(per_machine: dict[str, dict[str, Generator]], machine: str, var: str) -> tuple[Generator, str]:
    """A var by exact `gen/file` or a unique prefix (clan's get)."""
    gens = per_machine[machine]
    ids = [f"{g.name}/{f.name}" for g in gens.values() for f in g.files]
    matches = [i for i in ids if i == var] or [i for i in ids if i.startswith(var)]
    if len(matches) != 1:
        raise InputError(
            f"{'no' if not matches else 'more than one'} var of {machine} matches '{var}'",
            hint=(", ".join(matches) if matches else did_you_mean(var, tuple(ids))),
        )
    gname, fname = matches[0].split("/", 1)
    return gens[gname], fname


def list_vars(root: Path, machine: str, store: SecretsStore | None = None) -> list[tuple[str, str]]:
    """clan's `vars list`: `<gen>/<file>` and its value; secrets ********, missing <not set>."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, _ = _machines(root, [machine])
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
    return VarsStore(root, secrets).read(gen, machine, fname)


def set_var(root: Path, machine: str, var: str, value: bytes, store: SecretsStore | None = None) -> Path:
    """Write one var by hand; the validation hash is not touched (as clan)."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    _resolved, per_machine = machine_generators(root)
    if machine not in per_machine:
        raise InputError(f"machine '{machine}' is not in the inventory")
    gen, fname = _find(per_machine, machine, var)
    declaring = [m for m, gens in per_machine.items() if gen.name in gens and (gen.share or m == machine)]
    admin = secrets.admin().user if gen.file(fname) and gen.file(fname).secret else ""  # type: ignore[union-attr]
    with secrets.writing() as scratch:
        (written,) = vs.write(
            gen,
            declaring,
            machine,
            {fname: value},
            admin,
            default_groups(read_config(root)),
            scratch,
            touch_hash=False,
        )
    return written


def export_vars(root: Path, target: Path, store: SecretsStore | None = None) -> int:
    """Plaintext dump per-machine/<m>/<gen>/<file> and shared/<gen>/<file> (dirs 0700, files 0600)."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, None)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    count = 0
    for m in chosen:
        for gen in per_machine[m].values():
            base = target / placement(gen, m)
            if base.exists() and gen.share:
                continue
            for f in gen.files:
                if vs.has_file(gen, m, f.name):
                    _write_private(base / f.name, vs.read(gen, m, f.name))
                    count += 1
            stored = vs.stored_hash(gen, m)
            if stored is not None:
                _write_private(base / VALIDATION, stored.encode())
    return count


def import_vars(root: Path, source: Path, store: SecretsStore | None = None) -> int:
    """Restore an export through the stores (validation hashes included)."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    per_machine, chosen = _machines(root, None)
    groups = default_groups(read_config(root))
    admin = secrets.admin().user
    count = 0
    done: set[str] = set()
    with secrets.writing() as scratch:
        for m in chosen:
            for gen in per_machine[m].values():
                base = source / placement(gen, m)
                if not base.is_dir() or str(base) in done:
                    continue
                done.add(str(base))  # a shared generator is restored once, for every machine declaring it
                outputs = {
                    f.name: (base / f.name).read_bytes() for f in gen.files if (base / f.name).is_file()
                }
                declaring = [
                    x for x, gens in per_machine.items() if gen.name in gens and (gen.share or x == m)
                ]
                vs.write(gen, declaring, m, outputs, admin, groups, scratch, touch_hash=False)
                hp = base / VALIDATION
                if hp.is_file():
                    (vs.gen_dir(gen, m) / VALIDATION).write_text(hp.read_text())
                count += len(outputs)
    return count


def keygen(root: Path, user: str | None = None, force: bool = False) -> tuple[str, str, bool]:
    """Ensure a local age key and register it as sops/users/<user> (default $USER)."""
    generated = keyfile.generate()
    name = user or os.environ.get("USER") or "admin"
    store = SecretsStore(root)
    path = store.layout.user(name) / "key.json"
    if path.exists() and not force:
        keys = read_keys(path)
        if any(k.publickey == generated.publickey for k in keys):
            return name, generated.publickey, False
        raise InputError(f"user '{name}' exists with other keys", hint="use --force to replace, or --user")
    store.add_user(name, [SopsKey("age", generated.publickey)], force=force)
    return name, generated.publickey, True


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in [path.parent, *path.parent.parents]:
        if p.name in ("per-machine", "shared") or p == path.parent:
            os.chmod(p, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)
