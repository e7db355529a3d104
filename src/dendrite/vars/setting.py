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
- the generator's only file, other generators made from it: written, then they run again (the old
  value is put back if they fail);
- a lone file nothing is made from is written as clan writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dendrite.errors import DendriteError, InputError
from dendrite.generators import Generator, PromptSpec
from dendrite.secrets.store import SecretsStore
from dendrite.vars import access
from dendrite.vars import graph as G
from dendrite.vars.generate import Ask, Report, generate
from dendrite.vars.groups import resolve as resolve_groups
from dendrite.vars.ops import _declaring, _find, get_var
from dendrite.vars.sources import machine_generators, read_config
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
    root: Path,
    plan: SetPlan,
    value: bytes,
    *,
    stale: bool = False,
    store: SecretsStore | None = None,
    use_nix: bool = False,
) -> Path:
    """Write the one file; `stale`: also mark its generator as not made from it (see the module doc).
    A secret gets the default groups of the var's first machine (clan's `_set`), evaluated with `use_nix`."""
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    _, per_machine = machine_generators(root)
    spec = plan.gen.file(plan.file)
    admin = secrets.admin().user if spec is not None and spec.secret else ""
    item = Item(
        plan.gen,
        _declaring(per_machine, plan.gen, plan.machine),
        plan.machine,
        {plan.file: value},
        touch_hash=False,
        stored_hash=STALE if stale else None,
    )
    # the first machine's groups encrypt the secret; every declaring machine's may encrypt a new key
    groups = resolve_groups(root, read_config(root), item.machines or [plan.machine], use_nix=use_nix)
    if spec is not None and spec.secret and spec.deploy:  # clan's `_set`: ensure_machine_key first
        access.ensure_machine_keys(secrets, item.machines or [plan.machine], groups)
    with secrets.writing() as scratch:
        (written,) = vs.write([item], admin, groups, scratch)
    return written


@dataclass(frozen=True)
class Applied:
    written: Path | None  # the file written alone, or None when its generator ran with the value
    generated: Report  # what ran again: the generator (a prompt's answer) and the dependents
    stale: bool  # the generator is left outdated (forced)


def refusal(plan: SetPlan) -> InputError:
    """Why a file made together with others is not set alone (without --force)."""
    others = ", ".join(f"{plan.gen.name}/{f}" for f in plan.siblings)
    return InputError(
        f"{plan.var} is made together with {others}; setting it alone would leave "
        f"{'them' if len(plan.siblings) > 1 else 'it'} stale",
        hint=f"make them anew: dendrite vars generate --regenerate -g {plan.gen.name} {plan.machine}; "
        "or pass --force (vars check then reports the generator as outdated)",
    )


def apply(
    root: Path,
    plan: SetPlan,
    value: bytes,
    *,
    force: bool = False,
    ask: Ask | None = None,
    use_nix: bool = False,
) -> Applied:
    """Set the var so that what is made from it stays consistent (see the module doc). `use_nix`: every
    secret written, by the generators run again too, gets default groups evaluated with nix."""
    if plan.prompt is not None:
        try:
            text = value.decode()
        except UnicodeDecodeError:
            raise InputError(
                f"the value for {plan.var} is not UTF-8 text, which a prompt's answer is"
            ) from None
        if not plan.prompt.type.startswith("multiline"):
            text = text.removesuffix("\n")  # `echo VALUE |`: a one-line answer has no newline, as typed
        report = generate(
            root,
            [plan.machine],
            plan.gen.name,
            regenerate=True,
            prompt_values={plan.var: text},
            ask=ask,
            nix_groups=use_nix,
        )
        return Applied(None, report, False)
    if plan.siblings and not force:
        raise refusal(plan)
    if plan.siblings:  # forced: the generator is stale, and its dependents are made when it is
        return Applied(set_alone(root, plan, value, stale=True, use_nix=use_nix), Report(), True)
    before = _current(root, plan) if plan.dependents else None
    written = set_alone(root, plan, value, use_nix=use_nix)
    report = Report()
    for dep in plan.dependents:
        try:
            again = generate(root, None, dep, regenerate=True, ask=ask, nix_groups=use_nix)
            report.generated.extend(again.generated)
        except DendriteError as exc:
            if before is None:
                raise InputError(
                    f"{plan.var} was written, but {dep}, which is made from it, failed: {exc.message}",
                    hint=f"fix the value and run again, then: dendrite vars generate --regenerate -g {dep}",
                ) from None
            set_alone(root, plan, before, use_nix=use_nix)  # what the others were made from stays as it was
            raise InputError(
                f"{dep}, which is made from {plan.var}, failed with the new value ({exc.message}); "
                "the old value was put back",
                hint=exc.hint,
            ) from None
    return Applied(written, report, False)


def _current(root: Path, plan: SetPlan) -> bytes | None:
    try:
        return get_var(root, plan.machine, plan.var)
    except DendriteError:
        return None
