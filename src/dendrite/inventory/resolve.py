"""Which machines play which role, and the settings each gets (clan's distributed-services rules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dendrite.inventory.catalogue import GeneratorContext, GeneratorSpec, ServiceSpec, lookup, with_defaults
from dendrite.inventory.merge import ConflictError, Definition, Location, merge
from dendrite.inventory.model import Instance, Inventory


@dataclass(frozen=True)
class RoleMembers:
    """A role's machines, each with how it got there (`machine` and/or `tag:<t>`)."""

    instance: str
    role: str
    via: dict[str, tuple[str, ...]]


def role_members(inv: Inventory, instance: Instance, role: str) -> RoleMembers:
    r = instance.roles[role]
    via: dict[str, list[str]] = {}
    for m in r.machines:
        via.setdefault(m, []).append("machine")
    if r.tags:
        tag_index = {name: set(inv.machine_tags(name)) for name in inv.machines}
        for t in r.tags:
            for name in sorted(inv.machines):
                if t in tag_index[name]:
                    via.setdefault(name, []).append(f"tag:{t}")
    return RoleMembers(instance.name, role, {m: tuple(v) for m, v in via.items()})


@dataclass(frozen=True)
class Assignment:
    """One machine in one role of one instance, with its merged settings."""

    machine: str
    instance: str
    service: str
    role: str
    via: tuple[str, ...]
    settings: dict[str, Any]
    conflict: str | None = None  # a settings conflict, in one sentence
    generators: tuple[GeneratorSpec, ...] = ()


def merged_settings(inv: Inventory, instance: Instance, role: str, machine: str,
                    spec: ServiceSpec | None) -> tuple[dict[str, Any], str | None]:
    """Role settings, then the machine's, then each of its role tags', merged (not overridden)."""
    r = instance.roles[role]
    base = f"inventory.instances.{instance.name}.roles.{role}"
    defs = [Definition(dict(r.settings), Location(f"{base}.settings"))]
    if machine in r.machines:
        defs.append(Definition(dict(r.machines[machine].settings), Location(f"{base}.machines.{machine}.settings")))
    tags = set(inv.machine_tags(machine)) if machine in inv.machines else set()
    for t, member in r.tags.items():
        if t in tags:
            defs.append(Definition(dict(member.settings), Location(f"{base}.tags.{t}.settings")))
    try:
        value = merge(defs).value
    except ConflictError as exc:
        return {}, exc.message
    if spec is not None and role in spec.roles:
        value = with_defaults(spec.roles[role].settings, value)
        if spec.name == "users":
            value.setdefault("user", instance.name)
    return value, None


def resolve(inv: Inventory) -> list[Assignment]:
    """Every (machine, instance, role) with settings and the generators it brings."""
    out: list[Assignment] = []
    for inst in inv.instances.values():
        spec = lookup(inst.module_name, inst.module_input)
        members = {r: role_members(inv, inst, r) for r in inst.roles}
        by_role = {r: tuple(sorted(m.via)) for r, m in members.items()}
        for role, rm in members.items():
            for machine, via in sorted(rm.via.items()):
                settings, conflict = merged_settings(inv, inst, role, machine, spec)
                gens: tuple[GeneratorSpec, ...] = ()
                role_spec = spec.roles.get(role) if spec is not None else None
                if (conflict is None and role_spec is not None and role_spec.generators is not None
                        and machine in inv.machines and inv.machines[machine].machine_class in role_spec.classes):
                    gens = tuple(role_spec.generators(GeneratorContext(
                        machine, inst.name, role, settings, by_role, inv.meta.domain)))
                out.append(Assignment(machine, inst.name, spec.name if spec else inst.module_name, role, via,
                                      settings, conflict, gens))
    return out


@dataclass
class MachineView:
    name: str
    machine_class: str
    tags: tuple[str, ...]
    assignments: list[Assignment] = field(default_factory=list)

    @property
    def generators(self) -> list[GeneratorSpec]:
        seen: dict[str, GeneratorSpec] = {}
        for a in self.assignments:
            for g in a.generators:
                seen.setdefault(g.name, g)
        return list(seen.values())


def machine_view(inv: Inventory, name: str, assignments: list[Assignment] | None = None) -> MachineView:
    m = inv.machines[name]
    mine = [a for a in (assignments if assignments is not None else resolve(inv)) if a.machine == name]
    return MachineView(name, m.machine_class, inv.machine_tags(name), mine)
