"""`vars set` of a file that others are made from: what it affects, and how it stays consistent.

clan's `vars set` (clan_lib/vars/set.py, `set_var`) writes the one file and nothing else: set a
password by hand and its hash, made by the same run, still holds the old password's hash, and neither
`clan vars check` nor anything else notices. dendrite keeps the generator's files consistent:

- the file is the answer to a prompt of its generator (clan stores a persisted prompt as the file of
  its name, as the users service's `user-password`): the generator runs again with the value as that
  answer, so its other files (the hash) and every dependent are made from it;
- the generator makes other files from the same run (a password and its hash, a key pair): refused,
  unless forced; a forced write leaves a validation hash that cannot match (`STALE`), so `vars check`
  reports the generator as outdated and `vars generate` makes it again;
- the generator's only file, other generators made from it: written, then they run again (the CLI);
- a lone file nothing is made from is written as clan writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import InputError
from dendrite.generators import Generator, PromptSpec
from dendrite.secrets.store import SecretsStore
from dendrite.vars import graph as G
from dendrite.vars.ops import _declaring, _find
from dendrite.vars.sources import default_groups, machine_generators, read_config
from dendrite.vars.storage import Item, VarsStore

STALE = "stale: set by hand, its other files and dependents were not made from it"


@dataclass(frozen=True)
class SetPlan:
    machine: str
    gen: Generator
    file: str
    prompt: PromptSpec | None  # the prompt whose answer the file is
    siblings: tuple[str, ...]  # the generator's other files, made by the same run
    dependents: tuple[str, ...]  # generators made from this one's files directly (`vars generate -g`
    # takes their own dependents along)

    @property
    def var(self) -> str:
        return f"{self.gen.name}/{self.file}"

    @property
    def derived(self) -> bool:
        """Whether anything is made from the file besides itself."""
        return bool(self.siblings or self.dependents)


def plan_set(root: Path, machine: str, var: str) -> SetPlan:
    """What setting `var` of `machine` affects."""
    _, per_machine = machine_generators(root)
    if machine not in per_machine:
        raise InputError(f"machine '{machine}' is not in the inventory")
    gen, fname = _find(per_machine, machine, var)
    below = G.build(per_machine).dependents()[G.Key(gen.placement(machine), gen.name)]
    prompt = next((p for p in gen.prompts if p.name == fname), None)
    siblings = tuple(f.name for f in gen.files if f.name != fname)
    return SetPlan(machine, gen, fname, prompt, siblings, tuple(sorted({k.name for k in below})))


def set_alone(
    root: Path, plan: SetPlan, value: bytes, *, stale: bool = False, store: SecretsStore | None = None
) -> Path:
    """Write the one file; `stale`: also mark its generator as not made from it (see the module doc)."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    _, per_machine = machine_generators(root)
    spec = plan.gen.file(plan.file)
    admin = secrets.admin().user if spec is not None and spec.secret else ""
    groups = default_groups(read_config(root))
    item = Item(
        plan.gen,
        _declaring(per_machine, plan.gen, plan.machine),
        plan.machine,
        {plan.file: value},
        touch_hash=False,
        stored_hash=STALE if stale else None,
    )
    with secrets.writing() as scratch:
        (written,) = vs.write([item], admin, groups, scratch)
    return written
