"""clan's inventory schema as typed, frozen dataclasses, checked as clan's Nix options check them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dendrite import names
from dendrite.errors import SchemaError
from dendrite.text import describe_type, did_you_mean

META_NAME = re.compile(r"[a-zA-Z0-9_-]*", re.ASCII)
CLASSES = ("nixos", "darwin")
BUILTIN_TAGS = ("all", "nixos", "darwin")


def _keys(where: str, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SchemaError(f"{where} must be an attribute set, not {describe_type(value)}")
    for k in value:
        if k not in allowed:
            raise SchemaError(f"{where} has an unknown key '{k}'", hint=did_you_mean(k, allowed))
    return value


def _str(where: str, value: Any, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise SchemaError(f"{where} must be a string, not {describe_type(value)}")
    return value


def _str_list(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"{where} must be a list of strings, not {describe_type(value)}")
    return tuple(value)


@dataclass(frozen=True)
class Deploy:
    target_host: str | None = None
    build_host: str | None = None
    forward_agent: bool | None = None


@dataclass(frozen=True)
class Machine:
    name: str
    machine_class: str = "nixos"
    tags: tuple[str, ...] = ()
    description: str | None = None
    icon: str | None = None
    installed_at: int | None = None
    deploy: Deploy = field(default_factory=Deploy)
    label: str | None = None  # inventory.machines.<name>.name: free text, kept as written


@dataclass(frozen=True)
class RoleMember:
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Role:
    machines: Mapping[str, RoleMember] = field(default_factory=dict)
    tags: Mapping[str, RoleMember] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra_modules: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Instance:
    name: str
    module_name: str
    module_input: str | None
    roles: Mapping[str, Role]


@dataclass(frozen=True)
class Meta:
    name: str | None = None
    description: str | None = None
    icon: str | None = None
    domain: str = "clan"


@dataclass(frozen=True)
class Inventory:
    meta: Meta
    machines: Mapping[str, Machine]
    instances: Mapping[str, Instance]
    tags: Mapping[str, tuple[str, ...]]  # inventory.tags: extra tag -> machine names

    _tag_index: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # computed once: resolution asks for a machine's tags once per role of every instance
        extra: dict[str, list[str]] = {}
        for t, members in self.tags.items():
            for name in members:
                extra.setdefault(name, []).append(t)
        for name, m in self.machines.items():
            self._tag_index[name] = tuple(
                dict.fromkeys(["all", m.machine_class, *m.tags, *extra.get(name, [])])
            )

    def machine_tags(self, name: str) -> tuple[str, ...]:
        """A machine's effective tags: declared, from inventory.tags, and the built-in all/nixos/darwin."""
        return self._tag_index[name]

    def tags_in_use(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {t: [] for t in BUILTIN_TAGS}
        for name, tags in self._tag_index.items():
            for t in tags:
                result.setdefault(t, []).append(name)
        return result


def machine_from_plain(name: str, raw: Any) -> Machine:
    where = f"inventory.machines.{name}"
    if not names.is_valid("machine", name):
        raise SchemaError(
            f"machine name {name!r} is not valid",
            hint=names.RULES["machine"].described,
        )
    d = _keys(where, raw, ("name", "description", "icon", "machineClass", "tags", "installedAt", "deploy"))
    # `name` is a free-text `types.str` defaulting to the attribute name (modules/inventoryClass/
    # inventory.nix): a display name, not the machine's identity, so it may differ from the key
    label = _str(f"{where}.name", d.get("name"))
    cls = d.get("machineClass", "nixos")
    if cls not in CLASSES:
        raise SchemaError(f"{where}.machineClass is {cls!r}", hint="clan knows 'nixos' and 'darwin'")
    installed = d.get("installedAt")
    if installed is not None and (not isinstance(installed, int) or isinstance(installed, bool)):
        raise SchemaError(
            f"{where}.installedAt must be an integer (unix time), not {describe_type(installed)}"
        )
    dep = _keys(f"{where}.deploy", d.get("deploy", {}), ("targetHost", "buildHost", "forwardAgent"))
    fwd = dep.get("forwardAgent")
    if fwd is not None and not isinstance(fwd, bool):
        raise SchemaError(f"{where}.deploy.forwardAgent must be a bool, not {describe_type(fwd)}")
    return Machine(
        name=name,
        machine_class=cls,
        tags=tuple(dict.fromkeys(_str_list(f"{where}.tags", d.get("tags", [])))),
        description=_str(f"{where}.description", d.get("description")),
        icon=_str(f"{where}.icon", d.get("icon")),
        installed_at=installed,
        deploy=Deploy(
            _str(f"{where}.deploy.targetHost", dep.get("targetHost")),
            _str(f"{where}.deploy.buildHost", dep.get("buildHost")),
            fwd,
        ),
        label=label if label != name else None,
    )


def _member(where: str, raw: Any) -> RoleMember:
    d = _keys(where, raw, ("settings",))
    settings = d.get("settings", {})
    if not isinstance(settings, dict):
        raise SchemaError(f"{where}.settings must be an attribute set, not {describe_type(settings)}")
    return RoleMember(settings)


def instance_from_plain(name: str, raw: Any) -> Instance:
    where = f"inventory.instances.{name}"
    if not names.is_valid("instance", name):
        raise SchemaError(f"instance name {name!r} is not valid", hint=names.RULES["instance"].described)
    d = _keys(where, raw, ("module", "roles"))
    module = _keys(f"{where}.module", d.get("module", {}), ("name", "input"))
    module_name = _str(f"{where}.module.name", module.get("name", name), optional=False)
    module_input = _str(f"{where}.module.input", module.get("input"))
    roles_raw = d.get("roles", {})
    if not isinstance(roles_raw, dict):
        raise SchemaError(f"{where}.roles must be an attribute set, not {describe_type(roles_raw)}")
    roles = {}
    for rname, rraw in roles_raw.items():
        rwhere = f"{where}.roles.{rname}"
        r = _keys(rwhere, rraw, ("machines", "tags", "settings", "extraModules"))
        machines_raw = r.get("machines", {})
        if not isinstance(machines_raw, dict):
            raise SchemaError(
                f"{rwhere}.machines must be an attribute set, not {describe_type(machines_raw)}"
            )
        tags_raw = r.get("tags", {})
        if isinstance(tags_raw, list):  # clan coerces a plain list of tags to { tag = { }; }
            tags_raw = {t: {} for t in _str_list(f"{rwhere}.tags", tags_raw)}
        if not isinstance(tags_raw, dict):
            raise SchemaError(
                f"{rwhere}.tags must be a list or an attribute set, not {describe_type(tags_raw)}"
            )
        settings = r.get("settings", {})
        if not isinstance(settings, dict):
            raise SchemaError(f"{rwhere}.settings must be an attribute set, not {describe_type(settings)}")
        extra = r.get("extraModules", [])
        if not isinstance(extra, list):
            raise SchemaError(f"{rwhere}.extraModules must be a list, not {describe_type(extra)}")
        roles[rname] = Role(
            machines={m: _member(f"{rwhere}.machines.{m}", v) for m, v in machines_raw.items()},
            tags={t: _member(f"{rwhere}.tags.{t}", v) for t, v in tags_raw.items()},
            settings=settings,
            extra_modules=tuple(extra),
        )
    return Instance(name, module_name or name, module_input, roles)


def inventory_from_plain(raw: Any) -> Inventory:
    d = _keys("inventory", raw, ("meta", "machines", "instances", "tags", "services", "modules"))
    if d.get("services"):
        raise SchemaError(
            "inventory.services was removed from clan",
            hint="move each service to inventory.instances (clan's migration does the same)",
        )
    meta_raw = _keys("inventory.meta", d.get("meta", {}), ("name", "description", "icon", "domain", "tld"))
    name = _str("inventory.meta.name", meta_raw.get("name"))
    if name is not None and not META_NAME.fullmatch(name):
        raise SchemaError(f"inventory.meta.name {name!r} is not valid", hint="letters, digits, '_' and '-'")
    meta = Meta(
        name,
        _str("inventory.meta.description", meta_raw.get("description")),
        _str("inventory.meta.icon", meta_raw.get("icon")),
        _str("inventory.meta.domain", meta_raw.get("domain", meta_raw.get("tld", "clan"))) or "clan",
    )
    machines_raw = d.get("machines", {})
    if not isinstance(machines_raw, dict):
        raise SchemaError(f"inventory.machines must be an attribute set, not {describe_type(machines_raw)}")
    instances_raw = d.get("instances", {})
    if not isinstance(instances_raw, dict):
        raise SchemaError(f"inventory.instances must be an attribute set, not {describe_type(instances_raw)}")
    tags_raw = d.get("tags", {})
    if not isinstance(tags_raw, dict):
        raise SchemaError(f"inventory.tags must be an attribute set, not {describe_type(tags_raw)}")
    return Inventory(
        meta=meta,
        machines={n: machine_from_plain(n, v) for n, v in machines_raw.items()},
        instances={n: instance_from_plain(n, v) for n, v in instances_raw.items()},
        tags={t: tuple(dict.fromkeys(_str_list(f"inventory.tags.{t}", v))) for t, v in tags_raw.items()},
    )


def inventory_to_plain(inv: Inventory) -> dict[str, Any]:
    """The model as clan's inventory JSON (defaults left out, like inventorySerialization)."""
    machines: dict[str, Any] = {}
    for n, m in inv.machines.items():
        d: dict[str, Any] = {"machineClass": m.machine_class, "tags": list(m.tags)}
        for key, value in (
            ("name", m.label),
            ("description", m.description),
            ("icon", m.icon),
            ("installedAt", m.installed_at),
        ):
            if value is not None:
                d[key] = value
        deploy = {
            k: v
            for k, v in (
                ("targetHost", m.deploy.target_host),
                ("buildHost", m.deploy.build_host),
                ("forwardAgent", m.deploy.forward_agent),
            )
            if v is not None
        }
        if deploy:
            d["deploy"] = deploy
        machines[n] = d
    instances: dict[str, Any] = {}
    for n, i in inv.instances.items():
        module: dict[str, Any] = {"name": i.module_name}
        if i.module_input is not None:
            module["input"] = i.module_input
        roles: dict[str, Any] = {}
        for rn, r in i.roles.items():
            rd: dict[str, Any] = {}
            if r.machines:
                rd["machines"] = {
                    m: {"settings": dict(v.settings)} if v.settings else {} for m, v in r.machines.items()
                }
            if r.tags:
                rd["tags"] = {
                    t: {"settings": dict(v.settings)} if v.settings else {} for t, v in r.tags.items()
                }
            if r.settings:
                rd["settings"] = dict(r.settings)
            roles[rn] = rd
        instances[n] = {"module": module, "roles": roles}
    out: dict[str, Any] = {}
    meta = {
        k: v
        for k, v in (("name", inv.meta.name), ("description", inv.meta.description), ("icon", inv.meta.icon))
        if v is not None
    }
    if inv.meta.domain != "clan":
        meta["domain"] = inv.meta.domain
    if meta:
        out["meta"] = meta
    out["machines"] = machines
    out["instances"] = instances
    if inv.tags:
        out["tags"] = {t: list(v) for t, v in inv.tags.items()}
    return out
