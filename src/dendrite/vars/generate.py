"""`vars generate`: run what is missing (or asked for) in dependency order, and store it the clan way.

Every generator's outputs are computed completely (in a 0700 temp dir that is always removed, every
declared file required) before any of its vars is written, so a failing, incomplete or interrupted run
leaves the previous vars as they were. Generators that do not depend on each other run in parallel.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite.errors import DendriteError, InputError
from dendrite.fsutil import PendingWrite, atomic_write_many, detach_forked_worker
from dendrite.inventory.model import did_you_mean
from dendrite.secrets.store import SecretsStore
from dendrite.vars import graph as G
from dendrite.vars.model import Generator, PromptSpec
from dendrite.vars.recipes import RECIPES, RecipeInput
from dendrite.vars.runner import run_generator
from dendrite.vars.sources import default_groups, machine_generators, nix_generators, read_config
from dendrite.vars.storage import VarsStore

Ask = Callable[[Generator, PromptSpec, str], str]  # (generator, prompt, machine) -> answer


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


def plan(
    root: Path,
    machines: list[str] | None = None,
    generator: str | None = None,
    regenerate: bool = False,
    use_nix: bool = False,
    store: VarsStore | None = None,
) -> Plan:
    resolved, per_machine = machine_generators(root)
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
    return None if flat is None else str(flat)


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
        recipe = RECIPES.get(gen.recipe)
        if recipe is None:
            raise InputError(f"generator {label} names an unknown built-in recipe '{gen.recipe}'")
        out = recipe(RecipeInput(job.machine, gen.name, job.inputs, job.prompts, gen.validation))
    else:
        out = run_generator(job.gen, job.machine, job.inputs, job.prompts, sandbox=job.sandbox)
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
    with ProcessPoolExecutor(
        min(cores, len(jobs)), mp_context=mp.get_context("fork"), initializer=_init_worker
    ) as pool:
        return list(pool.map(_compute, jobs))


_PREPARE: tuple[VarsStore, str, list[str]] | None = None
_PARALLEL_PREPARE_FROM = 64

PrepItem = tuple[Generator, list[str], str, dict[str, bytes]]


def _prepare_chunk(items: list[PrepItem]) -> list[list[PendingWrite]]:
    assert _PREPARE is not None
    vs, admin, groups = _PREPARE
    return [
        vs.prepare(gen, declared, machine, result, admin, groups) for gen, declared, machine, result in items
    ]


def _prepare_all(
    vs: VarsStore, items: list[PrepItem], admin: str, groups: list[str]
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
    by_machine: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_machine.setdefault(item[2] if not item[0].share else "", []).append(i)
    shared = by_machine.pop("", [])
    chunks = list(by_machine.values())
    out: list[list[PendingWrite] | None] = [None] * len(items)
    for i, writes in zip(shared, _prepare_chunk([items[i] for i in shared]), strict=True):
        out[i] = writes  # shared vars first, in this process: machines may share their directories
    with ProcessPoolExecutor(cores, mp_context=mp.get_context("fork"), initializer=_init_worker) as pool:
        for idx, results in zip(
            chunks, pool.map(_prepare_chunk, [[items[i] for i in c] for c in chunks]), strict=True
        ):
            for i, writes in zip(idx, results, strict=True):
                out[i] = writes
    return [w if w is not None else [] for w in out]


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
    store: SecretsStore | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    secrets = store or SecretsStore(root)
    vs = VarsStore(root, secrets)
    p = plan(root, machines, generator, regenerate, use_nix, vs)
    report = Report()
    if not p.order:
        return report
    answers = collect_prompts(p, vs, prompt_values or {}, ask, regenerate)
    groups = default_groups(read_config(root))
    needs_secrets = any(f.secret for k in p.order for f in p.graph.nodes[k].files)
    admin = secrets.admin().user if needs_secrets else ""
    # machines receiving deployed secrets need their age key first (clan's ensure_machine_key)
    for key in p.order:
        gen = p.graph.nodes[key]
        if any(f.secret and f.deploy for f in gen.files):
            for m in p.graph.declared_by[key]:
                if not (secrets.layout.machine(m) / "key.json").exists():
                    secrets.add_machine(m, None)
    produced: dict[G.Key, dict[str, bytes]] = {}
    done = 0
    for level in G.levels(p.graph, p.order):
        jobs = []
        for key in level:
            gen = p.graph.nodes[key]
            machine = p.graph.machine_of(key)
            inputs: dict[str, dict[str, bytes]] = {}
            for dep in p.graph.deps[key]:
                dgen = p.graph.nodes[dep]
                inputs[dep[1]] = produced.get(dep) or {
                    f.name: vs.read(dgen, p.graph.machine_of(dep), f.name) for f in dgen.files
                }
            jobs.append(_Job(key, gen, machine, inputs, answers.get(key, {}), sandbox))
        results = _run_level(jobs)
        failure: tuple[str, str, str | None] | None = None
        with secrets.writing() as scratch:
            ok = [
                (job, result)
                for job, result in zip(jobs, results, strict=True)
                if not isinstance(result, tuple)
            ]
            failure = next((r for r in results if isinstance(r, tuple)), None)
            prepared = _prepare_all(
                vs, [(j.gen, p.graph.declared_by[j.key], j.machine, r) for j, r in ok], admin, groups
            )
            batch: list[PendingWrite] = []
            for (job, result), writes in zip(ok, prepared, strict=True):
                batch += writes
                produced[job.key] = result
                report.generated.append(Generated(job.key, job.machine, [w.target for w in writes]))
            atomic_write_many(batch, scratch)  # each file atomic; one filesystem sync per batch
            for job in jobs:
                if job.key in produced:
                    vs.drop_stale_hash(job.gen, job.machine)
                    done += 1
            if progress:
                progress(done, len(p.order))
        if failure is not None:
            _kind, message, hint = failure
            raise DendriteError(message, hint=hint)
    return report
