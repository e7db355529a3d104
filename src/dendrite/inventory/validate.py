"""Findings on an inventory: what clan would reject, and what clan would silently ignore."""

from __future__ import annotations

from dataclasses import dataclass

from dendrite.inventory.catalogue import CATALOGUE, check_settings, lookup, missing_required
from dendrite.inventory.merge import Merged
from dendrite.inventory.model import Inventory, did_you_mean
from dendrite.inventory.resolve import Assignment, resolve, role_members


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" | "warning" | "info"
    code: str
    message: str
    where: str = ""
    hint: str = ""


def validate(inv: Inventory, merged: Merged | None = None, assignments: list[Assignment] | None = None) -> list[Finding]:
    def at(*path: str) -> str:
        if merged is None:
            return ""
        return ", ".join(str(loc) for loc in merged.where(tuple(path)))

    out: list[Finding] = []
    assignments = assignments if assignments is not None else resolve(inv)
    tags_in_use = inv.tags_in_use()
    for iname, inst in inv.instances.items():
        spec = lookup(inst.module_name, inst.module_input)
        where = at("instances", iname)
        if spec is None:
            if inst.module_input in (None, "clan-core", "clan"):
                out.append(Finding("error", "unknown-service",
                                   f"instance '{iname}' uses the service '{inst.module_name}', which clan-core does not have",
                                   where, did_you_mean(inst.module_name, tuple(CATALOGUE))))
            else:
                out.append(Finding("info", "external-service",
                                   f"instance '{iname}' uses '{inst.module_name}' from input '{inst.module_input}': "
                                   "its roles and settings are not checked", where))
        for rname, role in inst.roles.items():
            rwhere = at("instances", iname, "roles", rname)
            if spec is not None and rname not in spec.roles:
                out.append(Finding("error", "unknown-role", f"service '{spec.name}' has no role '{rname}' "
                                   f"(instance '{iname}')", rwhere, did_you_mean(rname, tuple(spec.roles))))
                continue
            for m in role.machines:
                if m not in inv.machines:
                    out.append(Finding("error", "unknown-machine",
                                       f"instance '{iname}' role '{rname}' names machine '{m}', which is not in the inventory",
                                       at("instances", iname, "roles", rname, "machines", m),
                                       did_you_mean(m, tuple(inv.machines))))
            for t in role.tags:
                if not tags_in_use.get(t):
                    out.append(Finding("warning", "empty-tag",
                                       f"instance '{iname}' role '{rname}' selects tag '{t}', which no machine carries",
                                       at("instances", iname, "roles", rname, "tags", t)))
            if spec is None:
                continue
            rspec = spec.roles[rname]
            members = role_members(inv, inst, rname).via
            n = len([m for m in members if m in inv.machines])
            if rspec.min_machines is not None and n < rspec.min_machines:
                out.append(Finding("error", "role-cardinality",
                                   f"instance '{iname}' role '{rname}' needs at least {rspec.min_machines} machine(s), has {n}",
                                   rwhere))
            if rspec.max_machines is not None and n > rspec.max_machines:
                out.append(Finding("error", "role-cardinality",
                                   f"instance '{iname}' role '{rname}' allows at most {rspec.max_machines} machine(s), "
                                   f"has {n}: {', '.join(sorted(members))}", rwhere))
            for key, settings in [("settings", role.settings),
                                  *[(f"machines.{m}.settings", v.settings) for m, v in role.machines.items()],
                                  *[(f"tags.{t}.settings", v.settings) for t, v in role.tags.items()]]:
                for err in check_settings(rspec.settings, settings,
                                          f"instances.{iname}.roles.{rname}.{key}"):
                    out.append(Finding("error", "settings-type", err, rwhere))
    for a in assignments:
        where = at("instances", a.instance, "roles", a.role)
        if a.conflict:
            out.append(Finding("error", "settings-conflict", f"{a.machine}: {a.conflict}", where))
            continue
        spec = CATALOGUE.get(a.service)
        if spec is None or a.machine not in inv.machines or a.role not in spec.roles:
            continue
        rspec = spec.roles[a.role]
        for err in missing_required(rspec.settings, a.settings, f"instances.{a.instance}.roles.{a.role}.settings"):
            out.append(Finding("error", "settings-missing", f"{a.machine}: {err}", where))
        cls = inv.machines[a.machine].machine_class
        if cls not in rspec.classes:
            if a.role in ("controller",) or (rspec.min_machines or 0) > 0:
                out.append(Finding("error", "class-unsupported",
                                   f"{a.machine} ({cls}) cannot be the {a.role} of '{a.instance}': {spec.name} has no "
                                   f"{cls} module, so the role would not run at all", where, spec.class_note))
            else:
                out.append(Finding("warning", "class-no-module",
                                   f"{a.machine} ({cls}) is a {a.role} of '{a.instance}', but {spec.name} has no {cls} "
                                   "module: clan silently does nothing there", where, spec.class_note))
    return sorted(out, key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f.severity], f.code, f.message))
