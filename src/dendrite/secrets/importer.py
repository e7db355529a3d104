"""`secrets import-sops`: one clan secret per top-level key of an existing sops YAML/JSON file."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dendrite import interrupt
from dendrite.errors import InputError
from dendrite.secrets.store import SecretsStore
from dendrite.sops.document import decrypt_document
from dendrite.sops.stores import format_for_path
from dendrite.sops.values import Timestamp, to_bytes


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
) -> list[str]:
    fmt = input_type or format_for_path(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {file}: {exc.strerror}") from None
    doc = decrypt_document(data, fmt, store.identities, where=str(file))
    values: list[tuple[str, bytes]] = []
    for branch in doc.branches:
        for key, value in branch.items:
            if not isinstance(key, str):
                continue
            if not isinstance(value, str | int | float | bool | Timestamp) or value is None:
                raise InputError(
                    f"{file}: top-level key {key!r} holds a {type(value).__name__}, not a single value",
                    hint="clan secrets are single values; flatten the file first",
                )
            values.append((prefix + key, to_bytes(value)))
    created: list[str] = []

    def state() -> str:
        return (
            f"{len(created)} of {len(values)} secrets were imported before it; run the same command "
            "again to import them all"
        )

    with interrupt.pending(state):
        for name, value in values:
            store.set(name, value, users=users, machines=machines, groups=groups)
            created.append(name)
            if progress is not None:
                progress(len(created), len(values))
    return created
