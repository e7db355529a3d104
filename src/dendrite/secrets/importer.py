"""`secrets import-sops`: one clan secret per top-level string of an existing sops file.

As clan's `import_sops` (`clan_cli/secrets/import_sops.py`): the file is decrypted as sops prints it
with `--output-type json`, every top-level value that is a string there (a YAML timestamp is one) becomes
the secret `<prefix><key>`; any other value (a number, a boolean, null, a map, a list) is skipped, and
so is a name whose secret already exists: an import never overwrites. Skipped names come back with the
reason, for the caller to report as clan warns about them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dendrite import interrupt, names
from dendrite.errors import InputError
from dendrite.secrets.store import SecretsStore
from dendrite.sops.document import decrypt_document
from dendrite.sops.stores import format_for_path
from dendrite.sops.values import Timestamp


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Imported:
    created: tuple[str, ...]
    skipped: tuple[Skipped, ...]


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    return "a map"


def import_sops(
    store: SecretsStore,
    file: Path,
    *,
    input_type: str | None = None,
    prefix: str = "",
    users: Sequence[str] = (),
    machines: Sequence[str] = (),
    groups: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Imported:
    fmt = input_type or format_for_path(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    doc = decrypt_document(data, fmt, store.identities, where=str(file))
    values: list[tuple[str, bytes]] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for branch in doc.branches:
        for key, value in branch.items:
            if not isinstance(key, str):
                continue
            name = prefix + key
            if name in seen:
                continue
            seen.add(name)
            if isinstance(value, Timestamp):  # sops prints a YAML timestamp as a JSON string
                value = value.text
            if not isinstance(value, str):
                skipped.append(Skipped(name, f"is {_kind(value)}, not a string"))
            elif not value:
                skipped.append(Skipped(name, "is empty (clan would open an editor for it)"))
            elif store.layout.fs.kind(store.layout.secret(names.secret_name(name)).file) is not None:
                skipped.append(Skipped(name, "already exists"))
            else:
                values.append((name, value.encode("utf-8", "surrogateescape")))
    created: list[str] = []

    def state() -> str:  # what an interrupted import says it completed
        return (
            f"{len(created)} of {len(values)} secrets were imported before it; run the same command "
            "again to import the rest (existing ones are skipped)"
        )

    with interrupt.pending(state):
        for name, plain in values:
            store.set(name, plain, users=users, machines=machines, groups=groups)
            created.append(name)
            if progress is not None:
                progress(len(created), len(values))
    return Imported(tuple(created), tuple(skipped))
