"""After a successful change, commit what it changed with clan's message for it.

Each command that changes the repository ends with `commit("<clan's message>")`: the paths the change
log (`dendrite.changes`) holds for the repository are committed by `dendrite.gitcommit`, and nothing
else. A command that makes several of clan's commits passes `only=` (path prefixes) for all but the
last. `--no-commit`, `DENDRITE_NO_COMMIT=1` or clan's own `CLAN_NO_COMMIT` turn commits off; new
files are then only registered with git (intent-to-add), as clan does, so a git flake sees them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dendrite import changes, gitcommit
from dendrite.cli.console import OPTIONS, note, repo  # not cli.common: it imports Typer
from dendrite.repo import INVENTORY_JSON, MACHINES_DIR, SOPS_DIR, VARS_DIR

if TYPE_CHECKING:
    from dendrite.vars.generate import Report

NO_COMMIT_ENV = "DENDRITE_NO_COMMIT"
CLAN_NO_COMMIT_ENV = "CLAN_NO_COMMIT"  # clan_lib/git/__init__.py reads it as "set and not empty"


def commits_disabled() -> bool:
    own = os.environ.get(NO_COMMIT_ENV, "")
    return OPTIONS.no_commit or own not in ("", "0") or bool(os.environ.get(CLAN_NO_COMMIT_ENV))


def commit(message: str, only: Iterable[str] | None = None) -> gitcommit.Outcome:
    """Commit the recorded paths (those below `only`, when given) of the repository with `message`."""
    log = changes.current()
    if log is None:
        return gitcommit.Outcome("nothing")
    root = repo().root
    outcome = gitcommit.commit(root, log.take(root, only), message, no_commit=commits_disabled())
    if outcome.ignored:
        note(f"warning: not committed, git ignores: {', '.join(outcome.ignored)}")
    return outcome


# Commands that make several of clan's commits: one line at the call site, the grouping here.


def machine_key_added(name: str) -> None:
    """`secrets machines add`: the generated key's secret first, then the machine (clan_lib/vars/
    secret_modules/sops.py, ensure_machine_key: encrypt_secret, then add_machine)."""
    commit(f"secrets: update {name}-age.key", only=[f"{SOPS_DIR}/secrets/{name}-age.key"])
    commit(f"secrets: add machine {name}")


def machine_created(name: str) -> None:
    """`machines create`: clan_cli/machines/create.py commits the machine's directory, then the
    inventory (InventoryStore.write's "<file>: <message>"); dendrite also makes the machine's key."""
    commit(f"machines: add {name}", only=[f"{MACHINES_DIR}/{name}"])
    commit(f"{INVENTORY_JSON}: add machine {name}", only=[INVENTORY_JSON])
    machine_key_added(name)


def machine_deleted(name: str, removed: Iterable[str]) -> None:
    """`machines delete`: clan_lib/machines/delete.py commits the inventory ("delete keys" with the
    Python set of key paths it deleted) and `secrets: remove machine`; the machine's directory, vars
    and `<name>-*` secrets it removes are left uncommitted there. dendrite commits them too."""
    from dendrite.generators import PER_MACHINE_DIR  # loaded by the commands that use it

    commit(f"{INVENTORY_JSON}: delete keys {{('machines', '{name}')}}", only=[INVENTORY_JSON])
    own = [f"{MACHINES_DIR}/{name}", f"{VARS_DIR}/{PER_MACHINE_DIR}/{name}"]
    commit(
        f"machines: delete {name}", only=[*own, *(r for r in removed if r.startswith(f"{SOPS_DIR}/secrets/"))]
    )
    commit(f"secrets: remove machine {name}")


def vars_generated(report: Report) -> None:
    """`vars generate`: each machine key the run made (ensure_machine_key: its `-age.key` secret, then
    `secrets: add machine`), then one commit per generator with clan's message (clan_lib/vars/
    generator.py: "vars: update via generator {GeneratorId}", whose str is "<name> (shared)" or
    "<name> (machine: <m>)"); anything else the run re-encrypted last, in one commit of dendrite's."""
    from dendrite.generators import SHARED  # loaded by the commands that use it

    log = changes.current()
    if log is None:
        return
    root = repo().root
    generated = [
        (
            f"vars: update via generator {g.key.name} ({'shared' if g.key.placement == SHARED else f'machine: {g.machine}'})",
            f"{VARS_DIR}/{g.key.placement.rel_dir(g.key.name)}",
        )
        for g in report.generated
    ]
    keys = f"{SOPS_DIR}/machines/"
    made = sorted({p[len(keys) :].split("/")[0] for p in log.paths(root) if p.startswith(keys)})
    for i, m in enumerate(made):
        commit(f"secrets: update {m}-age.key", only=[f"{SOPS_DIR}/secrets/{m}-age.key"])
        rekeyed = [p for p in log.paths(root) if p.startswith(f"{SOPS_DIR}/")] if i == len(made) - 1 else []
        commit(f"secrets: add machine {m}", only=[f"{keys}{m}", *rekeyed])
    for message, rel in generated:
        commit(message, only=[rel])
    commit("vars: re-encrypt secrets for their recipients")
