"""clan's vars/ tree: public values in `value`, secrets as sops files with member links, validation hashes."""

from __future__ import annotations

from pathlib import Path

from dendrite.errors import InputError
from dendrite.fsutil import PendingWrite, atomic_write_many
from dendrite.secrets.layout import SecretRef
from dendrite.secrets.store import SecretsStore
from dendrite.vars.model import Generator, placement

VALIDATION = ".validation-hash"


class VarsStore:
    def __init__(self, root: Path, secrets: SecretsStore) -> None:
        self.root = root
        self.vars = root / "vars"
        self.secrets = secrets

    def gen_dir(self, gen: Generator, machine: str) -> Path:
        return self.vars / placement(gen, machine)

    def file_dir(self, gen: Generator, machine: str, name: str) -> Path:
        return self.gen_dir(gen, machine) / name

    def has_file(self, gen: Generator, machine: str, name: str) -> bool:
        spec = gen.file(name)
        d = self.file_dir(gen, machine, name)
        return (d / ("secret" if spec is None or spec.secret else "value")).is_file()

    def stored_hash(self, gen: Generator, machine: str) -> str | None:
        p = self.gen_dir(gen, machine) / VALIDATION
        return p.read_text().strip() if p.is_file() else None

    def hash_valid(self, gen: Generator, machine: str) -> bool:
        """clan's hash_is_valid: both absent, or equal."""
        return self.stored_hash(gen, machine) == gen.validation_hash

    def exists(self, gen: Generator, machine: str) -> bool:
        return all(self.has_file(gen, machine, f.name) for f in gen.files) and self.hash_valid(gen, machine)

    def read(self, gen: Generator, machine: str, name: str) -> bytes:
        spec = gen.file(name)
        d = self.file_dir(gen, machine, name)
        if spec is None:
            raise InputError(f"generator '{gen.name}' has no file '{name}'")
        if not spec.secret:
            try:
                return (d / "value").read_bytes()
            except FileNotFoundError:
                raise InputError(
                    f"{gen.name}/{name} of {machine} is not set ({d / 'value'} is missing)",
                    hint=f"run 'dendrite vars generate {machine}'",
                ) from None
        if (d / "value").exists():
            raise InputError(f"{d} holds a public value where a secret belongs (a backend collision)")
        ref = SecretRef("var", str(d.relative_to(self.vars)), d)
        if not ref.file.is_file():
            raise InputError(
                f"{gen.name}/{name} of {machine} is not set ({ref.file} is missing)",
                hint=f"run 'dendrite vars generate {machine}'",
            )
        return self.secrets.decrypt_ref(ref)

    def write(
        self,
        gen: Generator,
        machines: list[str],
        machine: str,
        outputs: dict[str, bytes],
        admin: str,
        default_groups: list[str],
        scratch: Path,
        *,
        touch_hash: bool = True,
    ) -> list[Path]:
        """Store every file of one run now (caller holds the repository lock). Returns the paths written."""
        pending = self.prepare(gen, machines, machine, outputs, admin, default_groups, touch_hash=touch_hash)
        atomic_write_many(pending, scratch)
        self.drop_stale_hash(gen, machine, touch_hash)
        return [w.target for w in pending if w.target.name != VALIDATION]

    def drop_stale_hash(self, gen: Generator, machine: str, touch_hash: bool = True) -> None:
        if touch_hash and gen.validation_hash is None:
            (self.gen_dir(gen, machine) / VALIDATION).unlink(missing_ok=True)  # clan deletes it (#6011)

    def prepare(
        self,
        gen: Generator,
        machines: list[str],
        machine: str,
        outputs: dict[str, bytes],
        admin: str,
        default_groups: list[str],
        *,
        touch_hash: bool = True,
    ) -> list[PendingWrite]:
        """Directories and member links made, contents encrypted: the writes, for one batch of many."""
        written: list[PendingWrite] = []
        for spec in gen.files:
            if spec.name not in outputs:
                continue
            d = self.file_dir(gen, machine, spec.name)
            d.mkdir(parents=True, exist_ok=True)
            if spec.secret:
                if (d / "value").exists():
                    raise InputError(f"{d} holds a public value where a secret belongs (a backend collision)")
                ref = SecretRef("var", str(d.relative_to(self.vars)), d)
                self.secrets.layout.fs.link_to(d / "users" / admin, self.secrets.layout.user(admin))
                for m in machines if spec.deploy else []:
                    self.secrets.layout.fs.link_to(d / "machines" / m, self.secrets.layout.machine(m))
                for g in default_groups:
                    if self.secrets.layout.group(g).is_dir():
                        self.secrets.layout.fs.link_to(d / "groups" / g, self.secrets.layout.group(g))
                written.append(
                    PendingWrite(ref.file, self.secrets.encrypt_for_links(ref, outputs[spec.name]))
                )
            else:
                if (d / "secret").exists():
                    raise InputError(f"{d} holds a secret where a public value belongs (a backend collision)")
                written.append(PendingWrite(d / "value", outputs[spec.name]))
        if touch_hash and gen.validation_hash is not None:
            written.append(
                PendingWrite(self.gen_dir(gen, machine) / VALIDATION, gen.validation_hash.encode())
            )
        return written
