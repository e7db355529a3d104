"""`vars generate`: run what is missing (or asked for) in dependency order, and store it the clan way.

A run is one transaction under one repository lock. Every generator's outputs are computed completely,
level by level and in memory (scripts in a 0700 temp dir that is always removed, every declared file
required), before any var is written; then everything is written in one batch inside
`VarsStore.transaction`, whose undo journal rolls a killed run back. So a failing, incomplete,
interrupted or concurrent run never leaves a CA regenerated with its certificates still signed by the
old one. Generators that do not depend on each other run in parallel.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite import workers
from dendrite.errors import DendriteError, InputError
from dendrite.fsutil import PendingWrite, atomic_write_many, detach_forked_worker
from dendrite.generators import SHARED, Generator, Placement, PromptSpec
from dendrite.inventory import Resolved, analyse
from dendrite.secrets.store import SecretsStore
from dendrite.text import did_you_mean
from dendrite.vars import access
from dendrite.vars import graph as G
from dendrite.vars.groups import MachineGroups
from dendrite.vars.groups import resolve as resolve_groups
from dendrite.vars.migrations import Migration, needs_zerotier_migration, run_migrations
from dendrite.vars.recipes import RecipeInput, check_recipe
from dendrite.vars.runner import config_max_output, run_generator
from dendrite.vars.sources import machine_generators, nix_generators, read_config
from dendrite.vars.storage import Item, VarsStore, ensure_consistent

Ask = Callable[[Generator, PromptSpec, str], str]  # (generator, prompt, machine) -> answer
Progress = Callable[[int, int], None] | None


@dataclass
class Generated:
    key: G.Key
    machine: str
    files: list[Path]


@dataclass
class Plan:
    graph: G.Graph
    order: list[G.Key]
    per_machine: dict[str, dict[str, Generator]]
    machines: list[str]


@dataclass
class Report:
    generated: list[Generated] = field(default_factory=list)
    skipped_classes: list[str] = field(default_factory=list)
    migration: Migration = field(default_factory=Migration)  # moved before generating; then nothing ran
    reencrypted: int = 0  # shared secrets re-keyed for the machines declaring them


def plan(
    root: Path,
    machines: list[str] | None = None,
    generator: str | None = None,
    regenerate: bool = False,
    use_nix: bool = False,
    store: VarsStore | None = None,
    resolved: Resolved | None = None,
) -> Plan:
    resolved, per_machine = machine_generators(root, resolved)
    known = list(resolved.inventory.machines)
    for m in machines or []:
        if m not in known:
            raise InputError(f"machine '{m}' is not in the inventory", hint=did_you_mean(m, tuple(known)))
    if use_nix:
        per_machine = nix_generators(root, machines or known)
    chosen = machines or known
    graph = G.build(per_machine)
    vs = store or VarsStore(root, SecretsStore(root))

    def exists(key: G.Key) -> bool:
        return vs.exists(graph.nodes[key], graph.machine_of(key))

    return Plan(graph, G.select(graph, chosen, exists, generator, regenerate), per_machine, chosen)


def _prompt_value(values: dict[str, Any], gen: Generator, prompt: PromptSpec) -> str | None:
    flat = values.get(f"{gen.name}/{prompt.name}")
    if flat is None and isinstance(values.get(gen.name), dict):
        flat = values[gen.name].get(prompt.name)
    if flat is None:
        return None
    value = str(flat)
    try:
        value.encode()
    except UnicodeEncodeError:  # JSON's "\ud800": a lone surrogate is no text a script can be given
        raise InputError(
            f"the value for the prompt '{gen.name}/{prompt.name}' is not valid Unicode text "
            "(it holds a lone surrogate)",
            hint="give UTF-8 text in the --prompt-values file",
        ) from None
    return value


def collect_prompts(
    p: Plan, vs: VarsStore, values: dict[str, Any], ask: Ask | None, regenerate: bool
) -> dict[G.Key, dict[str, str]]:
    """Every prompt of every generator that will run, asked up front (clan's order)."""
    answers: dict[G.Key, dict[str, str]] = {}
    for key in p.order:
        gen = p.graph.nodes[key]
        machine = p.graph.machine_of(key)
        for prompt in gen.prompts:
            value = _prompt_value(values, gen, prompt)
            if value is None and prompt.persist and not regenerate and vs.has_file(gen, machine, prompt.name):
                value = vs.read(gen, machine, prompt.name).decode(errors="replace")  # earlier answer kept
            if value is None:
                if ask is None:
                    raise InputError(
                        f"no value for the prompt '{gen.name}/{prompt.name}' ({prompt.description})",
                        hint="give it in the --prompt-values file, or run on a terminal",
                    )
                value = ask(gen, prompt, machine)
            answers.setdefault(key, {})[prompt.name] = value
    return answers


@dataclass(frozen=True)
class _Job:
    key: G.Key
    gen: Generator
    machine: str
    inputs: dict[str, dict[str, bytes]]
    prompts: dict[str, str]
    sandbox: bool
    max_output: int | None = None  # dendrite.toml's [vars] max_output; the runner applies the environment's


def _compute(job: _Job) -> dict[str, bytes] | tuple[str, str, str | None]:
    """One generator's outputs, or (error kind, message, hint)."""
    try:
        return _outputs(job)
    except DendriteError as exc:
        return (type(exc).__name__, exc.message, exc.hint)


def _outputs(job: _Job) -> dict[str, bytes]:
    gen = job.gen
    label = f"'{gen.name}' ({job.machine})"
    if gen.recipe is not None and not gen.script:
        recipe = check_recipe(gen.recipe, f"generator {label}: recipe")
        out = recipe(RecipeInput(job.machine, gen.name, job.inputs, job.prompts, gen.validation))
    else:
        out = run_generator(
            job.gen, job.machine, job.inputs, job.prompts, sandbox=job.sandbox, limit=job.max_output
        )
    for p in gen.prompts:
        if p.persist and p.name not in out:
            out[p.name] = job.prompts.get(p.name, "").encode()
    missing = [f.name for f in gen.files if f.name not in out]
    if missing:
        raise InputError(
            f"generator {label} did not produce {', '.join(missing)} (it produced: "
            f"{', '.join(sorted(out)) or 'nothing'}); no var was changed",
            hint="every declared file must be written to $out",
        )
    return {f.name: out[f.name] for f in gen.files}


# recipes worth a process of their own: memory-hard hashing, RSA primes, SHA-512 crypt rounds
_CPU_BOUND = frozenset(
    {"zerotier-identity", "ssh-keygen-rsa", "xkcd-password-hash", "root-password", "user-password"}
)


def _init_worker() -> None:
    detach_forked_worker()


def _run_level(jobs: list[_Job]) -> list[dict[str, bytes] | tuple[str, str, str | None]]:
    cores = os.cpu_count() or 1
    heavy = [j for j in jobs if j.gen.recipe in _CPU_BOUND or j.gen.script]
    if len(jobs) < 2 or cores < 2 or not heavy or "fork" not in mp.get_all_start_methods():
        return [_compute(j) for j in jobs]
    with workers.fork_pool(min(cores, len(jobs)), initializer=_init_worker) as pool:
        return list(pool.map(_compute, jobs))


_PREPARE: tuple[VarsStore, str, MachineGroups] | None = None
_PARALLEL_PREPARE_FROM = 64


def _prepare_chunk(items: list[Item]) -> list[list[PendingWrite]]:
    assert _PREPARE is not None
    vs, admin, groups = _PREPARE
    return [vs.prepare(item, admin, groups) for item in items]


def _prepare_all(
    vs: VarsStore, items: list[Item], admin: str, groups: MachineGroups
) -> list[list[PendingWrite]]:
    """Directories, member links and encryption for a batch; split by machine over every core when large.

    Why: creating a var's directories and links is most of the cost of a write, and directory entries in
    different directories are created in parallel by the kernel.
    """
    global _PREPARE
    _PREPARE = (vs, admin, groups)
    cores = os.cpu_count() or 1
    if len(items) < _PARALLEL_PREPARE_FROM or cores < 2 or "fork" not in mp.get_all_start_methods():
        return _prepare_chunk(items)
    by_placement: dict[Placement, list[int]] = {}
    for i, item in enumerate(items):
        by_placement.setdefault(item.gen.placement(item.machine), []).append(i)
    shared = by_placement.pop(SHARED, [])
    chunks = list(by_placement.values())
    out: list[list[PendingWrite] | None] = [None] * len(items)
    for i, writes in zip(shared, _prepare_chunk([items[i] for i in shared]), strict=True):
        out[i] = writes  # shared vars first, in this process: machines may share their directories
    with workers.fork_pool(cores, initializer=_init_worker) as pool:
        for idx, results in zip(
            chunks, pool.map(_prepare_chunk, [[items[i] for i in c] for c in chunks]), strict=True
        ):
            for i, writes in zip(idx, results, strict=True):
                out[i] = writes
    return [w if w is not None else [] for w in out]


def _ensure_machine_keys(p: Plan, secrets: SecretsStore, groups: MachineGroups) -> None:
    """Machines receiving deployed secrets need their age key first (clan's ensure_machine_key).

    This is the one write before the transaction (`add_machine` takes the lock itself): a machine's
    key is kept even if the run then fails, as clan keeps it.
    """
    machines = (
        m
        for key in p.order
        if any(f.secret and f.deploy for f in p.graph.nodes[key].files)
        for m in p.graph.declared_by[key]
    )
    access.ensure_machine_keys(secrets, machines, groups)


def _compute_all(
    p: Plan,
    vs: VarsStore,
    answers: dict[G.Key, dict[str, str]],
    sandbox: bool,
    progress: Progress,
    max_output: int | None = None,
) -> dict[G.Key, dict[str, bytes]]:
    """Every generator's outputs, level by level, in memory; the first failure stops the run (nothing stored)."""
    produced: dict[G.Key, dict[str, bytes]] = {}
    for level in G.levels(p.graph, p.order):
        jobs = []
        for key in level:
            inputs: dict[str, dict[str, bytes]] = {}
            for dep in p.graph.deps[key]:
                dgen = p.graph.nodes[dep]
                inputs[dep[1]] = produced.get(dep) or {
                    f.name: vs.read(dgen, p.graph.machine_of(dep), f.name) for f in dgen.files
                }
            gen = p.graph.nodes[key]
            jobs.append(
                _Job(key, gen, p.graph.machine_of(key), inputs, answers.get(key, {}), sandbox, max_output)
            )
        for job, result in zip(jobs, _run_level(jobs), strict=True):
            if isinstance(result, tuple):
                _kind, message, hint = result
                raise DendriteError(message, hint=hint)
            produced[job.key] = result
        if progress:
            progress(len(produced), len(p.order))
    return produced


def generate(
    root: Path,
    machines: list[str] | None = None,
    generator: str | None = None,
    *,
    regenerate: bool = False,
    sandbox: bool = True,
    prompt_values: dict[str, Any] | None = None,
    ask: Ask | None = None,
    use_nix: bool = False,
    nix_groups: bool = False,
    store: SecretsStore | None = None,
    progress: Progress = None,
) -> Report:
    """One transaction under one repository lock: every generator asked for and every dependent is
    stored, or none is (see `dendrite.vars.storage` for how a killed run is rolled back).

    As clan's run_generators (clan_lib/vars/generate.py): the vars migrations run first, and when they
    moved something the run stops there (`report.migration`; clan asks the user to read the migration
    guide and run the command again). After the generators, every existing shared secret of the run's
    closure is fixed for each machine declaring its generator, so a machine that joined it later can
    decrypt it (clan's "Re-encrypt shared secrets").

    Outside the lock only what needs a person or Nix happens: the plan is made and its prompts are
    asked. Under the lock the plan is made again from the vars as they are then (another run may have
    just finished), every output is computed in memory, and everything is written in one batch.

    `use_nix` reads the generators and the default groups from the flake with nix; `nix_groups` only the
    default groups (`vars set --nix`, whose generators are read from the files).
    """
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    ensure_consistent(root, secrets)
    report = Report()
    resolved = analyse(root)
    if needs_zerotier_migration(root):  # looked at first without the lock; decided again under it
        with secrets.writing():
            report.migration = run_migrations(root, resolved.inventory)
    if report.migration.changed:
        return report
    early = plan(root, machines, generator, regenerate, use_nix, vs, resolved)
    values = prompt_values or {}
    answers = collect_prompts(early, vs, values, ask, regenerate)
    config = read_config(root)
    nix = use_nix or nix_groups
    groups = resolve_groups(root, config, _group_machines(early), use_nix=nix, shared_to_all=True)
    max_output = config_max_output(config)
    needs_secrets = any(f.secret for k in early.order for f in early.graph.nodes[k].files)
    admin = secrets.admin().user if needs_secrets else ""
    _ensure_machine_keys(early, secrets, groups)
    shared = _shared_targets(early)
    access.ensure_machine_keys(
        secrets, access.machines_without_key(secrets, access.stored_targets(vs, shared)), groups
    )
    with secrets.writing() as scratch:
        graph = early.graph

        def exists(key: G.Key) -> bool:
            return vs.exists(graph.nodes[key], graph.machine_of(key))

        order = G.select(graph, early.machines, exists, generator, regenerate)
        # the shared secrets this run does not rewrite, planned (and refused) before anything is written;
        # those it rewrites get every declaring machine and default group from the store itself
        fresh = {k.name for k in order if k.placement == SHARED}
        todo = [t for t in access.stored_targets(vs, shared) if t.gen.name not in fresh]
        fixes = access.plan(vs, todo, groups)
        if order:
            p = Plan(graph, order, early.per_machine, early.machines)
            unasked = Plan(graph, [k for k in order if k not in answers], early.per_machine, early.machines)
            answers.update(collect_prompts(unasked, vs, values, ask, regenerate))
            if any(f.secret for k in order for f in graph.nodes[k].files) and not admin:
                admin = secrets.admin().user
            produced = _compute_all(p, vs, answers, sandbox, progress, max_output)
            items = [
                Item(graph.nodes[k], graph.declared_by[k], graph.machine_of(k), produced[k]) for k in order
            ]
            prepared = _store(vs, items, admin, groups, scratch, {(k.placement, k.name) for k in graph.nodes})
            for key, item, writes in zip(order, items, prepared, strict=True):
                report.generated.append(Generated(key, item.machine, [w.target for w in writes]))
        report.reencrypted = access.apply(vs, fixes, scratch)
    return report


def _group_machines(p: Plan) -> list[str]:
    """The machines whose default groups a run may need: each node's first declaring machine (what
    its secrets are encrypted to, clan's `_set`) and every machine declaring a shared generator (the
    shared secrets fixed after the run)."""
    out: list[str] = []
    for k in G.select(p.graph, p.machines, lambda _k: True, regenerate=True):
        declared = p.graph.declared_by[k]
        out += declared if k.placement == SHARED else declared[:1] or [p.graph.machine_of(k)]
    return list(dict.fromkeys(out))


def _shared_targets(p: Plan) -> list[access.Target]:
    """Every secret file of a shared generator in the run's closure, for each machine declaring it.

    clan takes the requested closure of the machines' generators (get_generators(full_closure=True))
    and fixes each shared secret for every machine in generator.machines.
    """
    closure = G.select(p.graph, p.machines, lambda _k: True, regenerate=True)
    return [
        access.Target(p.graph.nodes[k], m, f)
        for k in closure
        if k.placement == SHARED
        for m in p.graph.declared_by[k]
        for f in p.graph.nodes[k].files
        if f.secret
    ]


def _store(
    vs: VarsStore,
    items: list[Item],
    admin: str,
    groups: MachineGroups,
    scratch: Path,
    live: set[tuple[Placement, str]] | None = None,
) -> list[list[PendingWrite]]:
    """Every output of the run in one batch, inside one transaction (all stored, or none).

    A var whose generator switched `share` is removed from its old place in the same transaction
    (clan's StoreBase.set, _types.py).
    """
    vs.check_item_groups(items, groups)
    with vs.transaction(vs.touched_dirs(items)):
        prepared = _prepare_all(vs, items, admin, groups)
        atomic_write_many([w for ws in prepared for w in ws], scratch)  # each file atomic, one sync
        for item in items:
            vs.drop_stale_hash(item)
            vs.drop_toggled(item, live or set())
    return prepared
