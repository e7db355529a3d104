"""clan-core's services as dendrite checks and resolves them: roles, typed settings, machine classes, and
the vars generators each role brings.

The data is not written by hand: `dendrite/data/clan-services.json` is made from clan-core's own
`clanServices/*.nix` by scripts/gen_catalogue.py (with `dendrite.inventory.clanservices`), and names the
clan-core revision it came from. `dendrite.inventory.revision` reads the same data from the clan-core a
repository pins when that source is in the local Nix store.

What stays here by hand is dendrite's own part: which built-in recipe (`dendrite.vars.recipes`) runs a
clan generator, the two certificate validations, and advice for machine classes a service has no module
for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from dendrite import names
from dendrite.errors import NameError_
from dendrite.generators import FileSpec, Generator, PromptSpec
from dendrite.text import describe_type, did_you_mean

# `module.input` values that name clan-core itself: clan resolves a null input in clan-core's own
# `clan.modules` (lib/resolve-module/default.nix); "clan-core" and "clan" are the names its templates
# give the flake input, which exports the same `clan.modules`.
CLAN_CORE_INPUTS = (None, "clan-core", "clan")
DATA_FILE = "clan-services.json"


# ---- settings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One setting as clan's interface declares it.

    type: str, bool, int, float, port, list, attrs, enum, submodule, null, removed or any (anything dendrite
    does not check: packages, paths, raw, unknown types). `fields` holds a nested option set; `freeform`
    says it also takes keys it does not declare.
    """

    type: str
    default: Any = None
    required: bool = False
    item: Field | None = None  # element type of a list / value type of attrs
    fields: Mapping[str, Field] | None = None
    freeform: bool = False
    nullable: bool = False
    choices: tuple[Any, ...] | None = None  # enum values
    alternatives: tuple[Field, ...] = ()  # oneOf / either: any of them
    removed: str = ""  # mkRemovedOption's message
    from_instance: bool = False  # defaults to the instance's name (`extendSettings`, as users' `user`)


_SCALARS = {
    "str": "str",
    "singleLineStr": "str",
    "nonEmptyStr": "str",
    "lines": "str",
    "commas": "str",
    "separatedString": "str",
    "strMatching": "str",
    "path": "any",  # a string or a path
    "bool": "bool",
    "int": "int",
    "ints": "int",
    "port": "port",
    "number": "float",
    "float": "float",
    "attrs": "attrs",
}


def _field_of_type(t: Mapping[str, Any]) -> Field:
    kind = t.get("type")
    if kind in ("listOf",):
        return Field("list", item=_field_of_type(t["of"]))
    if kind in ("attrsOf", "lazyAttrsOf"):
        return Field("attrs", item=_field_of_type(t["of"]))
    if kind in ("uniq", "unique"):
        return _field_of_type(t["of"])
    if kind == "nullOr":
        inner = _field_of_type(t["of"])
        return Field(
            inner.type,
            item=inner.item,
            fields=inner.fields,
            freeform=inner.freeform,
            nullable=True,
            choices=inner.choices,
            alternatives=inner.alternatives,
        )
    if kind == "enum":
        values = t.get("values")
        return Field("enum", choices=tuple(values)) if isinstance(values, list) else Field("any")
    if kind == "oneOf":
        return Field("any", alternatives=tuple(_field_of_type(x) for x in t.get("of", [])))
    if kind == "submodule":
        return Field("submodule", fields=fields_of(t.get("options", {})), freeform=bool(t.get("freeform")))
    if kind == "removed":
        return Field("removed")
    if isinstance(kind, str) and kind in _SCALARS:
        return Field(_SCALARS[kind])
    if isinstance(kind, str) and kind.startswith("ints"):
        return Field("int")
    return Field("any")


def _field(opt: Mapping[str, Any]) -> Field:
    if opt.get("type") == "group":  # a plain nested set of options
        return Field("submodule", fields=fields_of(opt.get("options", {})))
    base = _field_of_type(opt.get("type", {}))
    if base.type == "removed":
        return Field("removed", removed=str(opt.get("removed", "")))
    default = opt.get("default")
    literal_default = not (isinstance(default, dict) and set(default) == {"expr"})
    has_default = "default" in opt or opt.get("defaultText") or opt.get("defaultFromInstance")
    return Field(
        base.type,
        default=default if literal_default else None,
        required=not has_default,
        item=base.item,
        fields=base.fields,
        freeform=base.freeform,
        nullable=base.nullable,
        choices=base.choices,
        alternatives=base.alternatives,
        from_instance=bool(opt.get("defaultFromInstance")),
    )


def fields_of(options: Mapping[str, Any]) -> dict[str, Field]:
    return {k: _field(v) for k, v in options.items()}


def _matches(f: Field, value: Any) -> bool:
    return not check_value(f, value, "")


def check_value(f: Field, value: Any, where: str) -> list[str]:
    """Type errors of a settings value against its field, as sentences."""
    if value is None and (f.nullable or f.type == "any"):
        return []
    t = f.type
    if f.alternatives:
        if any(_matches(a, value) for a in f.alternatives):
            return []
        return [f"{where} has a value of none of its types ({describe_type(value)})"]
    if t == "submodule":
        if not isinstance(value, dict):
            return [f"{where} must be an attribute set, not {describe_type(value)}"]
        return check_settings(f.fields or {}, value, where, freeform=f.freeform)
    if t == "enum":
        if f.choices is not None and value not in f.choices:
            return [f"{where} is {value!r}, not one of {', '.join(repr(c) for c in f.choices)}"]
        return []
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "port": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535,
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "list": isinstance(value, list),
        "attrs": isinstance(value, dict),
        "removed": True,
        "any": True,
    }.get(t, True)
    if not ok:
        return [f"{where} must be {_article(t)}, not {describe_type(value)}"]
    if t == "list" and f.item:
        return [e for i, v in enumerate(value) for e in check_value(f.item, v, f"{where}[{i}]")]
    if t == "attrs" and f.item:
        return [e for k, v in value.items() for e in check_value(f.item, v, f"{where}.{k}")]
    return []


def check_settings(
    fields: Mapping[str, Field], settings: Mapping[str, Any], where: str, *, freeform: bool = False
) -> list[str]:
    """Unknown settings (unless the set is freeform) and type errors."""
    errors = []
    for k, v in settings.items():
        if k not in fields:
            if not freeform:
                errors.append(f"{where} has an unknown setting '{k}' ({did_you_mean(k, tuple(fields))})")
            continue
        errors += check_value(fields[k], v, f"{where}.{k}")
    return errors


def removed_settings(fields: Mapping[str, Field], settings: Mapping[str, Any], where: str) -> list[str]:
    """Settings clan replaced by `mkRemovedOption`: clan throws its message when the option is read."""
    out = []
    for k, v in settings.items():
        f = fields.get(k)
        if f is None:
            continue
        if f.type == "removed":
            out.append(f"{where}.{k} was removed from clan: {f.removed}")
        elif f.type == "submodule" and isinstance(v, dict):
            out += removed_settings(f.fields or {}, v, f"{where}.{k}")
    return out


def with_defaults(fields: Mapping[str, Field], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Interface defaults under the given settings (defaults have the lowest priority)."""
    out: dict[str, Any] = {}
    for k, f in fields.items():
        if f.type == "submodule" and f.fields is not None and not f.nullable:
            sub = settings.get(k, {})
            out[k] = with_defaults(f.fields, sub if isinstance(sub, dict) else {})
        elif k in settings:
            out[k] = settings[k]
        elif not f.required and f.default is not None:
            out[k] = f.default
    for k, v in settings.items():
        out.setdefault(k, v)
    return out


def missing_required(
    fields: Mapping[str, Field], settings: Mapping[str, Any], where: str, *, top: bool = True
) -> list[str]:
    """Options without a default that are not set. Nix reads an option only when a module uses it, so
    below the top level only the options of an enabled set count (`server.enable = true` makes
    dyndns read `server.domain`); a set that is off or not used is never an error."""
    if not top and settings.get("enable") is not True:
        return []
    out = []
    for k, f in fields.items():
        if f.required and k not in settings and f.type != "removed":
            out.append(f"{where}.{k} is required")
        elif f.type == "submodule" and isinstance(settings.get(k, {}), dict) and not f.nullable:
            out += missing_required(f.fields or {}, settings.get(k, {}), f"{where}.{k}", top=False)
    return out


def _article(t: str) -> str:
    return {
        "str": "a string",
        "bool": "a bool",
        "int": "an integer",
        "port": "a port number (0-65535)",
        "float": "a number",
        "list": "a list",
        "attrs": "an attribute set",
    }.get(t, t)


# ---- generators --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorContext:
    machine: str
    instance: str
    role: str
    settings: Mapping[str, Any]
    role_members: Mapping[str, tuple[str, ...]]  # role -> machines of this instance
    domain: str = "clan"


_SETTING = r"settings((?:\.[A-Za-z_][\w'-]*)+)"
_BOOL = re.compile(rf"^(!?)\s*{_SETTING}$")
_COMPARE = re.compile(rf"^{_SETTING}\s*(!=|==)\s*(\[ *\]|\{{ *\}}|null|true|false|\"[^\"$]*\")$")


def _setting(settings: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    value: Any = settings
    for part in dotted.strip(".").split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def condition(text: str, settings: Mapping[str, Any]) -> bool | None:
    """A `lib.mkIf` condition of a clan service on the role's settings: True, False or None (not known
    without evaluating Nix, such as sshd's `anyCertificateEnabled`)."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    if m := _BOOL.match(text):
        known, value = _setting(settings, m.group(2))
        if not known or not isinstance(value, bool):
            return None
        return value != bool(m.group(1))
    if m := _COMPARE.match(text):
        known, value = _setting(settings, m.group(1))
        if not known:
            return None
        other = json.loads(m.group(3).replace(" ", "")) if m.group(3)[0] != "{" else {}
        equal: bool = value == other
        return equal == (m.group(2) == "==")
    return None


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def render(template: str, ctx: GeneratorContext) -> str | None:
    """A generator name or dependency with its `${…}` filled from the context, or None if one is unknown."""
    values = {
        "instanceName": ctx.instance,
        "machine.name": ctx.machine,
        "name": ctx.machine,  # wireguard's perMachine `name`
        "config.clan.core.settings.machine.name": ctx.machine,
    }
    controllers = ctx.role_members.get("controller", ())
    if controllers:  # zerotier's network generator depends on its controller's identity
        values["controllerName"] = controllers[0]
    unknown = False

    def fill(m: re.Match[str]) -> str:
        nonlocal unknown
        expr = m.group(1).strip()
        if expr in values:
            return values[expr]
        if expr.startswith("settings."):
            known, value = _setting(ctx.settings, expr[len("settings") :])
            if known and isinstance(value, (str, int)) and not isinstance(value, bool):
                return str(value)
        unknown = True
        return ""

    out = _PLACEHOLDER.sub(fill, template)
    return None if unknown else out


# dendrite's built-in recipe for a clan generator (by name as clan writes it); clan runs the script
RECIPES: dict[str, str] = {
    "openssh": "ssh-keygen-ed25519",
    "openssh-rsa": "ssh-keygen-rsa",
    "openssh-ca": "ssh-keygen-ed25519-ca",
    "openssh-cert": "ssh-host-certificate",
    "sshd-root-key": "ssh-keygen-root",
    "root-password": "root-password",
    "emergency-access": "xkcd-password-hash",
    "user-password-${settings.user}": "user-password",
    "zerotier-identity-${machine.name}": "zerotier-identity",
    "zerotier-network-${instanceName}": "zerotier-network",
    "zerotier-ip-${machine.name}-${instanceName}": "zerotier-ip",
}


def _cert_validation(service: str, ctx: GeneratorContext) -> Any:
    """openssh-cert's `validation` (its hash decides whether clan regenerates the certificate):
    sshd: { name; domains = genAttrs ([ meta.domain ] ++ certificate.searchDomains) id; }
    (clanServices/sshd/default.nix); admin: genAttrs certificateSearchDomains (clanServices/admin/ssh.nix)."""
    s = ctx.settings
    if service == "admin":
        domains = list(s.get("certificateSearchDomains", []))
    else:
        cert = s.get("certificate", {})
        domains = [ctx.domain, *(cert.get("searchDomains", []) if isinstance(cert, dict) else [])]
    return {"name": ctx.machine, "domains": {d: d for d in domains}}


VALIDATIONS: dict[tuple[str, str], Callable[[str, GeneratorContext], Any]] = {
    ("admin", "openssh-cert"): _cert_validation,
    ("sshd", "openssh-cert"): _cert_validation,
}


@dataclass(frozen=True)
class GeneratorData:
    """A generator as clan's service declares it (from the catalogue data)."""

    raw: Mapping[str, Any]

    @property
    def template(self) -> str:
        return str(self.raw["name"])

    def build(self, service: str, ctx: GeneratorContext) -> Generator | None:
        """The generator for one machine, or None when its conditions are false or its name unknown."""
        if any(condition(c, ctx.settings) is False for c in self.raw.get("when", [])):
            return None
        name = render(self.template, ctx)
        if name is None:
            return None
        files = []
        for fname, f in self.raw.get("files", {}).items():
            if "when" in f and condition(f["when"], ctx.settings) is False:
                continue
            rendered = render(fname, ctx)
            if rendered is None:
                return None
            files.append(
                FileSpec(
                    rendered,
                    secret=_bool(f.get("secret"), True),
                    deploy=_bool(f.get("deploy"), True),
                    needed_for=f["neededFor"] if isinstance(f.get("neededFor"), str) else "services",
                )
            )
        prompts = tuple(
            PromptSpec(
                pname,
                p["type"] if isinstance(p.get("type"), str) else "line",
                p["description"] if isinstance(p.get("description"), str) else "",
                persist=_bool(p.get("persist"), False),
            )
            for pname, p in self.raw.get("prompts", {}).items()
            if condition(p.get("when", "true"), ctx.settings) is not False
        )
        share = self.raw.get("share", False)
        if isinstance(share, dict):
            share = condition(share.get("expr", ""), ctx.settings) is True
        deps = self.raw.get("dependencies", [])
        rendered_deps = tuple(d for d in (render(x, ctx) for x in deps if isinstance(x, str)) if d)
        validate = VALIDATIONS.get((service, self.template))
        return Generator(
            name,
            tuple(files),
            share=bool(share),
            dependencies=rendered_deps,
            prompts=prompts,
            recipe=RECIPES.get(self.template),
            validation=validate(service, ctx) if validate else None,
        )


def _bool(value: Any, default: bool) -> bool:
    return value if isinstance(value, bool) else default


# ---- services ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleSpec:
    description: str
    settings: Mapping[str, Field] = field(default_factory=dict)
    classes: tuple[str, ...] = ("nixos",)
    min_machines: int | None = None
    max_machines: int | None = None
    freeform: bool = False
    generator_data: tuple[GeneratorData, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # the key of clan-core's `clan.modules` (its directory), what `module.name` says
    manifest: str
    description: str
    roles: Mapping[str, RoleSpec]
    class_note: str = ""  # what to do on a class the service has no module for
    removed: str = ""  # a stub that throws: the service moved out of clan-core
    per_machine: tuple[GeneratorData, ...] = ()

    def generators(self, ctx: GeneratorContext, *, runnable_only: bool = True) -> list[Generator]:
        """The generators a machine in `ctx.role` gets: the role's and the service's perMachine ones.
        `runnable_only`: only those dendrite has a built-in recipe for (the others need clan's script)."""
        role = self.roles.get(ctx.role)
        if role is None:
            return []
        if self.name == "users" and "user" in ctx.settings:  # the user name becomes a path below vars/
            where = f"instances.{ctx.instance}.roles.{ctx.role}.settings.user"
            names.check("user", ctx.settings["user"], where)
        out = []
        for data in (*role.generator_data, *self.per_machine):
            if runnable_only and data.template not in RECIPES:
                continue
            gen = data.build(self.name, ctx)
            if gen is not None:
                out.append(gen)
        return out


# dendrite's advice where clan silently does nothing: the service has no module for the machine's class
CLASS_NOTES = {
    "zerotier": (
        "clan's zerotier service has only a NixOS module; on darwin, install the zerotier-one cask and "
        "join the network as an external member, authorized through the controller's "
        "settings.allowedIps (the member's ZeroTier IPv6) or settings.allowedIds (its node id)"
    ),
    "sshd": "clan's sshd service has only a NixOS module; on darwin, enable Remote Login and manage keys by hand",
    "users": "clan's users service has only a NixOS module; on darwin, users come from nix-darwin's users.users",
}


def _classes(raw: Mapping[str, Any]) -> tuple[str, ...]:
    classes = tuple(raw.get("classes", ()))
    return classes or ("nixos", "darwin")  # no module at all (exports only): nothing to miss anywhere


def service_from_data(name: str, raw: Mapping[str, Any]) -> ServiceSpec:
    roles = {}
    for rname, r in raw.get("roles", {}).items():
        iface = r.get("interface", {})
        roles[rname] = RoleSpec(
            description=r.get("description", ""),
            settings=fields_of(iface.get("options", {})),
            classes=_classes(r),
            min_machines=r.get("minMachines"),
            max_machines=r.get("maxMachines"),
            freeform=bool(iface.get("freeform")),
            generator_data=tuple(GeneratorData(g) for g in r.get("generators", [])),
        )
    classes = sorted({c for r in roles.values() for c in r.classes})
    note = CLASS_NOTES.get(name, f"clan's {name} service has modules for {', '.join(classes)} only")
    return ServiceSpec(
        name=name,
        manifest=raw.get("manifest", name),
        description=raw.get("description", ""),
        roles=roles,
        class_note=note,
        removed=raw.get("removed", ""),
        per_machine=tuple(GeneratorData(g) for g in raw.get("perMachineGenerators", [])),
    )


@dataclass(frozen=True)
class Catalogue:
    """clan-core's services at one revision, and where they were read from."""

    services: Mapping[str, ServiceSpec]
    revision: str
    date: str = ""
    origin: str = "dendrite's bundled catalogue"

    def lookup(self, module_name: str, module_input: str | None) -> ServiceSpec | None:
        """The clan-core service an instance uses; None for another input or an unknown name.
        No aliases: clan looks `module.name` up as written (`user` is not `users`)."""
        if module_input not in CLAN_CORE_INPUTS:
            return None
        return self.services.get(module_name)


def catalogue_from_data(data: Mapping[str, Any], origin: str = "dendrite's bundled catalogue") -> Catalogue:
    clan_core = data.get("clanCore", {})
    services = {n: service_from_data(n, raw) for n, raw in data.get("services", {}).items()}
    return Catalogue(services, str(clan_core.get("revision", "")), str(clan_core.get("date", "")), origin)


@cache
def bundled() -> Catalogue:
    """The catalogue made from clan-core by scripts/gen_catalogue.py, shipped with dendrite."""
    text = resources.files("dendrite.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return catalogue_from_data(json.loads(text))


def lookup(
    module_name: str, module_input: str | None, catalogue: Catalogue | None = None
) -> ServiceSpec | None:
    return (catalogue or bundled()).lookup(module_name, module_input)


def users_setting_errors(settings: Mapping[str, Any], where: str) -> list[str]:
    """The `user` setting of the users service is a path component (`vars/.../user-password-<user>`):
    it must be a valid user name, or `../../..` would store vars outside the repository."""
    user = settings.get("user")
    if not isinstance(user, str):
        return []  # absent, or a type error reported by check_settings
    try:
        names.check("user", user, f"{where}.user")
    except NameError_ as exc:
        return [f"{exc.message} ({exc.hint})" if exc.hint else exc.message]
    return []
