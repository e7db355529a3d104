"""Which machines play which role, and the settings each gets (clan's distributed-services rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dendrite.errors import ConflictError
from dendrite.generators import Generator
from dendrite.inventory.catalogue import Catalogue, GeneratorContext, ServiceSpec, bundled, with_defaults
from dendrite.inventory.merge import Definition, Location, merge
from dendrite.inventory.model import Instance, Inventory


@dataclass(frozen=True)
class RoleMembers:
    """A role's machines, each with how it got there (`machine` and/or `tag:<t>`)."""

    instance: str
    role: str
    via: dict[str, tuple[str, ...]]


def role_members(
    inv: Inventory, instance: Instance, role: str, tag_members: dict[str, list[str]] | None = None
) -> RoleMembers:
    r = instance.roles[role]
    via: dict[str, list[str]] = {}
    for m in r.machines:
        via.setdefault(m, []).append("machine")
    if r.tags:
        members = tag_members if tag_members is not None else inv.tags_in_use()
        for t in r.tags:
            for name in sorted(members.get(t, ())):
                via.setdefault(name, []).append(f"tag:{t}")
    return RoleMembers(instance.name, role, {m: tuple(v) for m, v in via.items()})


@dataclass(slots=True)
class Assignment:
    """One machine in one role of one instance, with its merged settings (shared by machines that merge alike)."""

    machine: str
    instance: str
    service: str
    role: str
    via: tuple[str, ...]
    settings: dict[str, Any]
    conflict: str | None = None  # a settings conflict, in one sentence
    # the service as the catalogue it was resolved against knows it (the clan-core flake.lock pins),
    # so generators come from the same revision whoever asks for them
    spec: ServiceSpec | None = None


def merged_settings(
    inv: Inventory, instance: Instance, role: str, machine: str, spec: ServiceSpec | None
) -> tuple[dict[str, Any], str | None]:
    """Role settings, then the machine's, then each of its role tags', merged (not overridden)."""
    r = instance.roles[role]
    tags = set(inv.machine_tags(machine)) if machine in inv.machines else set()
    matching = tuple(t for t in r.tags if t in tags)
    return _settings(instance, role, machine if machine in r.machines else None, matching, spec)


def _settings(
    instance: Instance, role: str, explicit: str | None, tags: tuple[str, ...], spec: ServiceSpec | None
) -> tuple[dict[str, Any], str | None]:
    r = instance.roles[role]
    base = f"inventory.instances.{instance.name}.roles.{role}"
    defs = [Definition(dict(r.settings), Location(f"{base}.settings"))]
    if explicit is not None:
        defs.append(
            Definition(dict(r.machines[explicit].settings), Location(f"{base}.machines.{explicit}.settings"))
        )
    for t in tags:
        defs.append(Definition(dict(r.tags[t].settings), Location(f"{base}.tags.{t}.settings")))
    try:
        value = merge(defs).value
    except ConflictError as exc:
        return {}, exc.message
    if spec is not None and role in spec.roles:
        fields = spec.roles[role].settings
        value = with_defaults(fields, value)
        for k, f in fields.items():  # `extendSettings { user = mkOptionDefault instanceName; }`
            if f.from_instance:
                value.setdefault(k, instance.name)
    return value, None


@dataclass(slots=True)
class Group:
    """Machines of one role of one instance that get the same settings: the same explicit entry (if any)
    and the same matching role tags. Resolution works per group, not per machine."""

    instance: str
    service: str
    role: str
    explicit: str | None
    tags: tuple[str, ...]
    machines: list[str]
    settings: dict[str, Any]
    conflict: str | None
    spec: ServiceSpec | None = None


def _partition(
    explicit: Mapping[str, Any], tags: list[str], tag_members: dict[str, list[str]]
) -> dict[tuple[str | None, tuple[str, ...]], list[str]]:
    """Split a role's machines by (explicit entry, matching tags), with set algebra for one or two tags."""
    groups: dict[tuple[str | None, tuple[str, ...]], list[str]] = {}
    sets = [set(tag_members.get(t, ())) for t in tags]
    for m in explicit:
        groups[(m, tuple(t for t, s in zip(tags, sets, strict=True) if m in s))] = [m]
    if len(tags) == 1:
        rest = sets[0].difference(explicit)
        if rest:
            groups[(None, (tags[0],))] = sorted(rest)
    elif len(tags) == 2:
        a, b = sets[0].difference(explicit), sets[1].difference(explicit)
        for key, members in (((tags[0], tags[1]), a & b), ((tags[0],), a - b), ((tags[1],), b - a)):
            if members:
                groups[(None, key)] = sorted(members)
    elif tags:
        matched: dict[str, list[str]] = {}
        for t, s in zip(tags, sets, strict=True):
            for m in s:
                if m not in explicit:
                    matched.setdefault(m, []).append(t)
        for m, ts in sorted(matched.items()):
            groups.setdefault((None, tuple(ts)), []).append(m)
    return groups


def resolve_groups(inv: Inventory, catalogue: Catalogue | None = None) -> list[Group]:
    out: list[Group] = []
    tag_members = inv.tags_in_use()
    catalogue = catalogue or bundled()
    for inst in inv.instances.values():
        spec = catalogue.lookup(inst.module_name, inst.module_input)
        service = spec.name if spec else inst.module_name
        for role, r in inst.roles.items():
            groups = _partition(r.machines, list(r.tags), tag_members)
            for (explicit, tags), machines in groups.items():
                settings, conflict = _settings(inst, role, explicit, tags, spec)
                out.append(
                    Group(inst.name, service, role, explicit, tags, machines, settings, conflict, spec)
                )
    return out


def resolve(
    inv: Inventory, groups: list[Group] | None = None, catalogue: Catalogue | None = None
) -> list[Assignment]:
    """Every (machine, instance, role) with its settings, one entry per machine."""
    out = []
    for g in groups if groups is not None else resolve_groups(inv, catalogue):
        for m in g.machines:
            via = (("machine",) if g.explicit == m else ()) + tuple(f"tag:{t}" for t in g.tags)
            out.append(Assignment(m, g.instance, g.service, g.role, via, g.settings, g.conflict, g.spec))
    return sorted(out, key=lambda a: (a.instance, a.role, a.machine))


@dataclass
class MachineView:
    name: str
    machine_class: str
    tags: tuple[str, ...]
    assignments: list[Assignment] = field(default_factory=list)

    generators: list[Generator] = field(default_factory=list)


def generators(
    inv: Inventory, a: Assignment, members: dict[str, tuple[str, ...]], catalogue: Catalogue | None = None
) -> list[Generator]:
    """The vars generators an assignment brings that dendrite can run (a built-in recipe for clan's
    script): none on a class the service has no module for."""
    inst = inv.instances[a.instance]
    spec = (
        a.spec if a.spec is not None else (catalogue or bundled()).lookup(inst.module_name, inst.module_input)
    )
    role_spec = spec.roles.get(a.role) if spec is not None else None
    if (
        spec is None
        or a.conflict is not None
        or role_spec is None
        or a.machine not in inv.machines
        or inv.machines[a.machine].machine_class not in role_spec.classes
    ):
        return []
    made = spec.generators(
        GeneratorContext(a.machine, a.instance, a.role, a.settings, members, inv.meta.domain)
    )
    return [replace(g, source=f"service {inst.module_name}") for g in made]


Members = dict[str, dict[str, tuple[str, ...]]]  # instance -> role -> machines


def role_members_of(assignments: list[Assignment]) -> Members:
    out: dict[str, dict[str, list[str]]] = {}
    for a in assignments:
        out.setdefault(a.instance, {}).setdefault(a.role, []).append(a.machine)
    return {i: {r: tuple(sorted(ms)) for r, ms in roles.items()} for i, roles in out.items()}


def machine_view(
    inv: Inventory,
    name: str,
    assignments: list[Assignment] | None = None,
    members: Members | None = None,
    catalogue: Catalogue | None = None,
) -> MachineView:
    """One machine resolved; pass `members` (role_members_of) when viewing many machines."""
    m = inv.machines[name]
    every = assignments if assignments is not None else resolve(inv, catalogue=catalogue)
    members = members if members is not None else role_members_of(every)
    mine = [a for a in every if a.machine == name]
    gens: dict[str, Generator] = {}
    for a in mine:
        for g in generators(inv, a, members.get(a.instance, {}), catalogue):
            gens.setdefault(g.name, g)
    return MachineView(name, m.machine_class, inv.machine_tags(name), mine, list(gens.values()))
