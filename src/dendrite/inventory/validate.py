"""Findings on an inventory: what clan would reject, and what clan would silently ignore."""

from __future__ import annotations

from dataclasses import dataclass

from dendrite.inventory.catalogue import (
    CATALOGUE,
    USERS,
    check_settings,
    lookup,
    missing_required,
    users_setting_errors,
)
from dendrite.inventory.merge import Merged
from dendrite.inventory.model import Inventory
from dendrite.inventory.resolve import Group, resolve_groups
from dendrite.text import did_you_mean


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning" | "info"
    code: str
    message: str
    where: str = ""
    hint: str = ""


def _machines(names: list[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:5])} and {len(names) - 5} more"


def validate(
    inv: Inventory, merged: Merged | None = None, groups: list[Group] | None = None
) -> list[Finding]:
    places: dict[tuple[str, ...], str] = {}

    def at(*path: str) -> str:
        if merged is None:
            return ""
        if path not in places:
            places[path] = ", ".join(str(loc) for loc in merged.where(tuple(path)))
        return places[path]

    out: list[Finding] = []
    groups = groups if groups is not None else resolve_groups(inv)
    tags_in_use = inv.tags_in_use()
    role_machines: dict[tuple[str, str], list[str]] = {}
    class_members: dict[str, set[str]] = {}
    for name, machine in inv.machines.items():
        class_members.setdefault(machine.machine_class, set()).add(name)
    for g in groups:
        role_machines.setdefault((g.instance, g.role), []).extend(g.machines)
    seen: dict[str, str] = {}
    for name in inv.machines:  # clan's machine names are case-insensitive (hostnames)
        other = seen.setdefault(name.lower(), name)
        if other != name:
            out.append(
                Finding(
                    "error",
                    "duplicate-name",
                    f"machines '{other}' and '{name}' differ only in case",
                    f"{at('machines', other)}; {at('machines', name)}",
                    "machine names are hostnames: keep one spelling",
                )
            )
    for iname, inst in inv.instances.items():
        spec = lookup(inst.module_name, inst.module_input)
        where = at("instances", iname)
        if spec is None:
            if inst.module_input in (None, "clan-core", "clan"):
                out.append(
                    Finding(
                        "error",
                        "unknown-service",
                        f"instance '{iname}' uses the service '{inst.module_name}', which clan-core does not have",
                        where,
                        did_you_mean(inst.module_name, tuple(CATALOGUE)),
                    )
                )
            else:
                out.append(
                    Finding(
                        "info",
                        "external-service",
                        f"instance '{iname}' uses '{inst.module_name}' from input '{inst.module_input}': "
                        "its roles and settings are not checked",
                        where,
                    )
                )
        for rname, role in inst.roles.items():
            rwhere = at("instances", iname, "roles", rname)
            if spec is not None and rname not in spec.roles:
                out.append(
                    Finding(
                        "error",
                        "unknown-role",
                        f"service '{spec.name}' has no role '{rname}' (instance '{iname}')",
                        rwhere,
                        did_you_mean(rname, tuple(spec.roles)),
                    )
                )
                continue
            for m in role.machines:
                if m not in inv.machines:
                    out.append(
                        Finding(
                            "error",
                            "unknown-machine",
                            f"instance '{iname}' role '{rname}' names machine '{m}', which is not in the inventory",
                            at("instances", iname, "roles", rname, "machines", m),
                            did_you_mean(m, tuple(inv.machines)),
                        )
                    )
            for t in role.tags:
                if not tags_in_use.get(t):
                    out.append(
                        Finding(
                            "warning",
                            "empty-tag",
                            f"instance '{iname}' role '{rname}' selects tag '{t}', which no machine carries",
                            at("instances", iname, "roles", rname, "tags", t),
                        )
                    )
            if spec is None:
                continue
            rspec = spec.roles[rname]
            members = role_machines.get((iname, rname), [])
            n = len(inv.machines.keys() & members)
            if rspec.min_machines is not None and n < rspec.min_machines:
                out.append(
                    Finding(
                        "error",
                        "role-cardinality",
                        f"instance '{iname}' role '{rname}' needs at least {rspec.min_machines} machine(s), has {n}",
                        rwhere,
                    )
                )
            if rspec.max_machines is not None and n > rspec.max_machines:
                out.append(
                    Finding(
                        "error",
                        "role-cardinality",
                        f"instance '{iname}' role '{rname}' allows at most {rspec.max_machines} machine(s), "
                        f"has {n}: {', '.join(sorted(members))}",
                        rwhere,
                    )
                )
            for key, settings in [
                ("settings", role.settings),
                *[(f"machines.{m}.settings", v.settings) for m, v in role.machines.items()],
                *[(f"tags.{t}.settings", v.settings) for t, v in role.tags.items()],
            ]:
                for err in check_settings(rspec.settings, settings, f"instances.{iname}.roles.{rname}.{key}"):
                    out.append(Finding("error", "settings-type", err, rwhere))
                if spec is USERS:  # its `user` setting becomes a directory name below vars/
                    for err in users_setting_errors(settings, f"instances.{iname}.roles.{rname}.{key}"):
                        out.append(Finding("error", "bad-name", err, rwhere))
    for g in groups:
        where = at("instances", g.instance, "roles", g.role)
        who = _machines(g.machines)
        if g.conflict:
            out.append(Finding("error", "settings-conflict", f"{who}: {g.conflict}", where))
            continue
        spec = CATALOGUE.get(g.service)
        if spec is None or g.role not in spec.roles:
            continue
        rspec = spec.roles[g.role]
        for err in missing_required(
            rspec.settings, g.settings, f"instances.{g.instance}.roles.{g.role}.settings"
        ):
            out.append(Finding("error", "settings-missing", f"{who}: {err}", where))
        for cls, of_class in class_members.items():
            if cls in rspec.classes:
                continue
            machines = sorted(of_class.intersection(g.machines))
            if not machines:
                continue
            names_ = _machines(machines)
            verb = "is" if len(machines) == 1 else "are"
            if (rspec.min_machines or 0) > 0:
                out.append(
                    Finding(
                        "error",
                        "class-unsupported",
                        f"{names_} ({cls}) cannot be the {g.role} of '{g.instance}': {spec.name} has no "
                        f"{cls} module, so the role would not run at all",
                        where,
                        spec.class_note,
                    )
                )
            else:
                out.append(
                    Finding(
                        "warning",
                        "class-no-module",
                        f"{names_} ({cls}) {verb} {g.role} of '{g.instance}', but {spec.name} has no "
                        f"{cls} module: clan silently does nothing there",
                        where,
                        spec.class_note,
                    )
                )
    return sorted(out, key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f.severity], f.code, f.message))
