"""Findings on an inventory: what clan would reject, and what clan would silently ignore.

One function per kind of check, each yielding `dendrite.findings.Finding`s located at the files that
defined the offending part of the inventory (when the inventory was merged from files).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from dendrite.findings import Finding, Location, Rule, Severity, catalogue
from dendrite.inventory.catalogue import (
    Catalogue,
    RoleSpec,
    ServiceSpec,
    bundled,
    check_settings,
    missing_required,
    removed_settings,
    users_setting_errors,
)
from dendrite.inventory.merge import Merged
from dendrite.inventory.model import Instance, Inventory, Role
from dendrite.inventory.resolve import Group, resolve_groups
from dendrite.text import did_you_mean

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
RULES = catalogue(
    [
        Rule("duplicate-name", E, "two machine names differ only in case", "keep one spelling"),
        Rule("unknown-service", E, "an instance uses a service clan-core does not have"),
        Rule("removed-service", E, "an instance uses a service clan-core moved out (its module throws)"),
        Rule("external-service", INFO, "an instance uses a service from another input: not checked"),
        Rule(
            "catalogue-revision", INFO, "the clan-core revision settings and generators are checked against"
        ),
        Rule(
            "clan-core-revision",
            W,
            "flake.lock pins another clan-core than the service catalogue was made from",
            "services may differ; put the pinned source in the Nix store (nix flake archive) to check against it",
        ),
        Rule("unknown-role", E, "a role the service does not have"),
        Rule("unknown-machine", E, "a role names a machine that is not in the inventory"),
        Rule("empty-tag", W, "a role selects a tag that no machine carries"),
        Rule("role-cardinality", E, "a role has fewer or more machines than the service allows"),
        Rule("settings-type", E, "a setting of the wrong type, or one the role does not have"),
        Rule("bad-name", E, "a setting that becomes a path is not a valid name"),
        Rule("settings-conflict", E, "machines of one role get conflicting settings"),
        Rule("settings-missing", E, "a required setting is not set"),
        Rule("removed-setting", W, "a setting clan replaced by mkRemovedOption: clan throws when it is read"),
        Rule("class-unsupported", E, "a required role on a machine class the service has no module for"),
        Rule(
            "class-no-module", W, "a role on a machine class the service has no module for: clan ignores it"
        ),
    ]
)
__all__ = ["RULES", "Finding", "validate"]  # Finding re-exported: older imports keep working


def _finding(code: str, message: str, where: tuple[Location, ...] = (), hint: str = "") -> Finding:
    return Finding(code, RULES[code].severity, message, hint, where)


def _machines(names: list[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if len(names) <= 6 else f"{', '.join(names[:5])} and {len(names) - 5} more"


@dataclass(frozen=True)
class _Context:
    """What every check reads, computed once: the inventory, where its parts were written, tag members,
    and the machines each (instance, role) resolved to."""

    inv: Inventory
    at: _Places
    catalogue: Catalogue
    tags_in_use: dict[str, list[str]]
    role_machines: dict[tuple[str, str], list[str]]


@dataclass
class _Places:
    """Where each inventory path was defined, looked up once: provenance is computed lazily and costs."""

    merged: Merged | None
    cache: dict[tuple[str, ...], tuple[Location, ...]] = field(default_factory=dict)

    def __call__(self, *path: str) -> tuple[Location, ...]:
        if self.merged is None:
            return ()
        if path not in self.cache:
            self.cache[path] = tuple(Location(loc.file, loc.line) for loc in self.merged.where(path))
        return self.cache[path]


def validate(
    inv: Inventory,
    merged: Merged | None = None,
    groups: list[Group] | None = None,
    catalogue: Catalogue | None = None,
    revision: tuple[str, str] | None = None,
) -> list[Finding]:
    """Every finding on the inventory, errors first. `catalogue`: the clan-core services to check
    against (the bundled ones by default); `revision`: (severity, sentence) on which revision that is."""
    at = _Places(merged)
    catalogue = catalogue or bundled()
    groups = groups if groups is not None else resolve_groups(inv, catalogue)
    role_machines: dict[tuple[str, str], list[str]] = {}
    for g in groups:
        role_machines.setdefault((g.instance, g.role), []).extend(g.machines)
    ctx = _Context(inv, at, catalogue, inv.tags_in_use(), role_machines)
    out = [*_duplicate_names(inv, at)]
    if revision is not None:
        code = "clan-core-revision" if revision[0] == "warning" else "catalogue-revision"
        out.append(_finding(code, revision[1]))
    for iname, inst in inv.instances.items():
        out += _instance(ctx, iname, inst)
    out += _groups(inv, groups, at, catalogue)
    return sorted(out, key=lambda f: (f.severity.rank, f.code, f.message))


def _duplicate_names(inv: Inventory, at: _Places) -> Iterator[Finding]:
    """clan's machine names are case-insensitive (they are hostnames)."""
    seen: dict[str, str] = {}
    for name in inv.machines:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            yield _finding(
                "duplicate-name",
                f"machines '{other}' and '{name}' differ only in case",
                at("machines", other) + at("machines", name),
                "machine names are hostnames: keep one spelling",
            )


def _instance(ctx: _Context, iname: str, inst: Instance) -> list[Finding]:
    """The service an instance uses, then each of its roles."""
    spec = ctx.catalogue.lookup(inst.module_name, inst.module_input)
    out = [*_service(ctx, iname, inst, spec)]
    if spec is not None and spec.removed:
        return out
    for rname, role in inst.roles.items():
        out += _role(ctx, iname, rname, role, spec)
    return out


def _service(ctx: _Context, iname: str, inst: Instance, spec: ServiceSpec | None) -> Iterator[Finding]:
    """clan resolves `module.name` in clan-core's `clan.modules` when `module.input` is null and throws
    for a name it does not have (lib/resolve-module/default.nix); another input is not checked."""
    at = ctx.at
    if spec is not None:
        if spec.removed:
            yield _finding(
                "removed-service",
                f"instance '{iname}' uses '{inst.module_name}', which clan-core no longer has: {spec.removed}",
                at("instances", iname),
            )
        return
    if inst.module_input in (None, "clan-core", "clan"):
        known = tuple(n for n, s in ctx.catalogue.services.items() if not s.removed)
        yield _finding(
            "unknown-service",
            f"instance '{iname}' uses the service '{inst.module_name}', which clan-core "
            f"{ctx.catalogue.revision[:12]} does not have",
            at("instances", iname),
            did_you_mean(inst.module_name, known),
        )
    else:
        yield _finding(
            "external-service",
            f"instance '{iname}' uses '{inst.module_name}' from input '{inst.module_input}': "
            "its roles and settings are not checked",
            at("instances", iname),
        )


def _role(ctx: _Context, iname: str, rname: str, role: Role, spec: ServiceSpec | None) -> list[Finding]:
    """A role: known to the service, its machines and tags exist, its size, its settings' types."""
    if spec is not None and rname not in spec.roles:
        return [
            _finding(
                "unknown-role",
                f"service '{spec.name}' has no role '{rname}' (instance '{iname}')",
                ctx.at("instances", iname, "roles", rname),
                did_you_mean(rname, tuple(spec.roles)),
            )
        ]
    out = [*_role_members(ctx, iname, rname, role)]
    if spec is not None:
        where = ctx.at("instances", iname, "roles", rname)
        rspec = spec.roles[rname]
        members = ctx.role_machines.get((iname, rname), [])
        out += _cardinality(iname, rname, rspec, len(ctx.inv.machines.keys() & members), members, where)
        out += _settings_types(spec, rspec, iname, rname, role, where)
    return out


def _role_members(ctx: _Context, iname: str, rname: str, role: Role) -> Iterator[Finding]:
    for m in role.machines:
        if m not in ctx.inv.machines:
            yield _finding(
                "unknown-machine",
                f"instance '{iname}' role '{rname}' names machine '{m}', which is not in the inventory",
                ctx.at("instances", iname, "roles", rname, "machines", m),
                did_you_mean(m, tuple(ctx.inv.machines)),
            )
    for t in role.tags:
        if not ctx.tags_in_use.get(t):
            yield _finding(
                "empty-tag",
                f"instance '{iname}' role '{rname}' selects tag '{t}', which no machine carries",
                ctx.at("instances", iname, "roles", rname, "tags", t),
            )


def _cardinality(
    iname: str, rname: str, rspec: RoleSpec, n: int, members: list[str], where: tuple[Location, ...]
) -> Iterator[Finding]:
    if rspec.min_machines is not None and n < rspec.min_machines:
        yield _finding(
            "role-cardinality",
            f"instance '{iname}' role '{rname}' needs at least {rspec.min_machines} machine(s), has {n}",
            where,
        )
    if rspec.max_machines is not None and n > rspec.max_machines:
        yield _finding(
            "role-cardinality",
            f"instance '{iname}' role '{rname}' allows at most {rspec.max_machines} machine(s), "
            f"has {n}: {', '.join(sorted(members))}",
            where,
        )


def _settings_types(
    spec: ServiceSpec, rspec: RoleSpec, iname: str, rname: str, role: Role, where: tuple[Location, ...]
) -> Iterator[Finding]:
    """Settings at all three levels: the role's, each machine's, each tag's."""
    for key, settings in [
        ("settings", role.settings),
        *[(f"machines.{m}.settings", v.settings) for m, v in role.machines.items()],
        *[(f"tags.{t}.settings", v.settings) for t, v in role.tags.items()],
    ]:
        path = f"instances.{iname}.roles.{rname}.{key}"
        for err in check_settings(rspec.settings, settings, path, freeform=rspec.freeform):
            yield _finding("settings-type", err, where)
        for err in removed_settings(rspec.settings, settings, path):
            yield _finding("removed-setting", err, where)
        if spec.name == "users":  # its `user` setting becomes a directory name below vars/
            for err in users_setting_errors(settings, path):
                yield _finding("bad-name", err, where)


def _groups(inv: Inventory, groups: list[Group], at: _Places, catalogue: Catalogue) -> Iterator[Finding]:
    """Per group of machines with the same settings: conflicts, required settings, machine classes."""
    class_members: dict[str, set[str]] = {}
    for name, machine in inv.machines.items():
        class_members.setdefault(machine.machine_class, set()).add(name)
    for g in groups:
        where = at("instances", g.instance, "roles", g.role)
        if g.conflict:
            yield _finding("settings-conflict", f"{_machines(g.machines)}: {g.conflict}", where)
            continue
        spec = catalogue.services.get(g.service)
        if spec is None or spec.removed or g.role not in spec.roles:
            continue
        rspec = spec.roles[g.role]
        path = f"instances.{g.instance}.roles.{g.role}.settings"
        for err in missing_required(rspec.settings, g.settings, path):
            yield _finding("settings-missing", f"{_machines(g.machines)}: {err}", where)
        yield from _classes(g, spec, rspec, class_members, where)


def _classes(
    g: Group,
    spec: ServiceSpec,
    rspec: RoleSpec,
    class_members: dict[str, set[str]],
    where: tuple[Location, ...],
) -> Iterator[Finding]:
    """Machines of a class the service has no module for: fatal for a required role, ignored otherwise."""
    for cls, of_class in class_members.items():
        machines = sorted(of_class.intersection(g.machines))
        if cls in rspec.classes or not machines:
            continue
        names = _machines(machines)
        if (rspec.min_machines or 0) > 0:
            yield _finding(
                "class-unsupported",
                f"{names} ({cls}) cannot be the {g.role} of '{g.instance}': {spec.name} has no "
                f"{cls} module, so the role would not run at all",
                where,
                spec.class_note,
            )
        else:
            verb = "is" if len(machines) == 1 else "are"
            yield _finding(
                "class-no-module",
                f"{names} ({cls}) {verb} {g.role} of '{g.instance}', but {spec.name} has no "
                f"{cls} module: clan silently does nothing there",
                where,
                spec.class_note,
            )
