"""The clan services the seed uses: roles, typed settings, machine classes, and the vars generators
each contributes (read from clan-core's clanServices). The generators are `dendrite.generators.Generator`,
the same model `dendrite.toml` and `--nix` yield; `recipe` names a built-in of `dendrite.vars.recipes`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dendrite import names
from dendrite.errors import NameError_
from dendrite.generators import FileSpec, Generator, PromptSpec
from dendrite.text import describe_type, did_you_mean

CLAN_CORE_INPUTS = (None, "clan-core", "clan")


@dataclass(frozen=True)
class Field:
    """One setting: its type (str, bool, int, list, attrs, any), default (or required), and sub-fields."""

    type: str
    default: Any = None
    required: bool = False
    item: str | None = None  # element type of a list / value type of attrs
    fields: Mapping[str, Field] | None = None  # a nested option set (e.g. certificate.enable)


def check_value(f: Field, value: Any, where: str) -> list[str]:
    """Type errors of a settings value against its field, as sentences."""
    t = f.type
    if t == "submodule":
        if not isinstance(value, dict):
            return [f"{where} must be an attribute set, not {describe_type(value)}"]
        return check_settings(f.fields or {}, value, where)
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "list": isinstance(value, list),
        "attrs": isinstance(value, dict),
        "any": True,
    }[t]
    if not ok:
        return [f"{where} must be {_article(t)}, not {describe_type(value)}"]
    if t == "list" and f.item:
        return [e for i, v in enumerate(value) for e in check_value(Field(f.item), v, f"{where}[{i}]")]
    if t == "attrs" and f.item:
        return [e for k, v in value.items() for e in check_value(Field(f.item), v, f"{where}.{k}")]
    return []


def check_settings(fields: Mapping[str, Field], settings: Mapping[str, Any], where: str) -> list[str]:
    errors = []
    for k, v in settings.items():
        if k not in fields:
            errors.append(f"{where} has an unknown setting '{k}' ({did_you_mean(k, tuple(fields))})")
            continue
        errors += check_value(fields[k], v, f"{where}.{k}")
    return errors


def with_defaults(fields: Mapping[str, Field], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Interface defaults under the given settings (defaults have the lowest priority)."""
    out: dict[str, Any] = {}
    for k, f in fields.items():
        if f.type == "submodule":
            sub = settings.get(k, {})
            out[k] = with_defaults(f.fields or {}, sub if isinstance(sub, dict) else {})
        elif k in settings:
            out[k] = settings[k]
        elif not f.required and f.default is not None:
            out[k] = f.default
    for k, v in settings.items():
        out.setdefault(k, v)
    return out


def missing_required(fields: Mapping[str, Field], settings: Mapping[str, Any], where: str) -> list[str]:
    out = []
    for k, f in fields.items():
        if f.required and k not in settings:
            out.append(f"{where}.{k} is required")
        elif f.type == "submodule" and isinstance(settings.get(k, {}), dict):
            out += missing_required(f.fields or {}, settings.get(k, {}), f"{where}.{k}")
    return out


def _article(t: str) -> str:
    return {
        "str": "a string",
        "bool": "a bool",
        "int": "an integer",
        "list": "a list",
        "attrs": "an attribute set",
    }.get(t, t)


@dataclass(frozen=True)
class GeneratorContext:
    machine: str
    instance: str
    role: str
    settings: Mapping[str, Any]
    role_members: Mapping[str, tuple[str, ...]]  # role -> machines of this instance
    domain: str = "clan"


@dataclass(frozen=True)
class RoleSpec:
    description: str
    settings: Mapping[str, Field] = field(default_factory=dict)
    classes: tuple[str, ...] = ("nixos",)
    min_machines: int | None = None
    max_machines: int | None = None
    generators: Callable[[GeneratorContext], list[Generator]] | None = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    manifest: str
    description: str
    roles: Mapping[str, RoleSpec]
    class_note: str = ""  # what to do on a class the service has no module for


# ------------------------------------------------------------------------------------------------ zerotier


def _zerotier(ctx: GeneratorContext) -> list[Generator]:
    controllers = ctx.role_members.get("controller", ())
    net = f"zerotier-network-{ctx.instance}"
    gens = [
        Generator(
            f"zerotier-identity-{ctx.machine}",
            (FileSpec("identity-secret"),),
            share=True,
            recipe="zerotier-identity",
        ),
        Generator(
            f"zerotier-ip-{ctx.machine}-{ctx.instance}",
            (FileSpec("ip", secret=False, deploy=False),),
            share=True,
            dependencies=(f"zerotier-identity-{ctx.machine}", net),
            recipe="zerotier-ip",
        ),
    ]
    if controllers:
        gens.append(
            Generator(
                net,
                (FileSpec("network-id", secret=False, deploy=False),),
                share=True,
                dependencies=(f"zerotier-identity-{controllers[0]}",),
                recipe="zerotier-network",
            )
        )
    return gens


ZEROTIER = ServiceSpec(
    name="zerotier",
    manifest="clan-core/zerotier",
    description="A zerotier network with one controller, optional moons and peers",
    roles={
        "controller": RoleSpec(
            "The machine that controls the network and authorizes members",
            {
                "allowedIps": Field("list", [], item="str"),
                "allowedIds": Field("list", [], item="str"),
                "public": Field("bool", False),
            },
            min_machines=1,
            max_machines=1,
            generators=_zerotier,
        ),
        "moon": RoleSpec(
            "A stable relay",
            {"stableEndpoints": Field("list", required=True, item="str")},
            max_machines=4,
            generators=_zerotier,
        ),
        "peer": RoleSpec(
            "A member of the network", {"orbitMoons": Field("list", [], item="str")}, generators=_zerotier
        ),
    },
    class_note=(
        "clan's zerotier service has only a NixOS module; on darwin, install the zerotier-one cask and "
        "join the network as an external member, authorized through the controller's "
        "settings.allowedIps (the member's ZeroTier IPv6) or settings.allowedIds (its node id)"
    ),
)

# ------------------------------------------------------------------------------------------------ sshd

_CERT = {"enable": Field("bool", True), "searchDomains": Field("list", [], item="str")}


def _sshd_server(ctx: GeneratorContext) -> list[Generator]:
    s = ctx.settings
    gens = [
        Generator(
            "openssh",
            (FileSpec("ssh.id_ed25519"), FileSpec("ssh.id_ed25519.pub", secret=False)),
            recipe="ssh-keygen-ed25519",
        )
    ]
    if s.get("hostKeys", {}).get("rsa", {}).get("enable"):
        gens.append(
            Generator(
                "openssh-rsa",
                (FileSpec("ssh.id_rsa"), FileSpec("ssh.id_rsa.pub", secret=False)),
                recipe="ssh-keygen-rsa",
            )
        )
    if s.get("certificate", {}).get("enable", True):
        domains = [ctx.domain, *s.get("certificate", {}).get("searchDomains", [])]
        gens.append(
            Generator(
                "openssh-ca",
                (
                    FileSpec("id_ed25519", deploy=False),
                    FileSpec("id_ed25519.pub", secret=False, deploy=False),
                ),
                share=True,
                recipe="ssh-keygen-ed25519-ca",
            )
        )
        gens.append(
            Generator(
                "openssh-cert",
                (FileSpec("ssh.id_ed25519-cert.pub", secret=False),),
                dependencies=("openssh", "openssh-ca"),
                recipe="ssh-host-certificate",
                validation={"name": ctx.machine, "domains": {d: d for d in domains}},
            )
        )
    if s.get("generateRootKey"):
        gens.append(
            Generator(
                "sshd-root-key",
                (FileSpec("id_ed25519"), FileSpec("id_ed25519.pub", secret=False)),
                recipe="ssh-keygen-root",
            )
        )
    return gens


SSHD = ServiceSpec(
    name="sshd",
    manifest="clan-core/sshd",
    description="OpenSSH server host keys and certificates, and clients that trust them",
    roles={
        "server": RoleSpec(
            "Runs sshd with clan-managed host keys",
            {
                "authorizedKeys": Field("attrs", {}, item="str"),
                "generateRootKey": Field("bool", False),
                "hostKeys": Field(
                    "submodule", fields={"rsa": Field("submodule", fields={"enable": Field("bool", False)})}
                ),
                "certificate": Field("submodule", fields=_CERT),
            },
            generators=_sshd_server,
        ),
        "client": RoleSpec(
            "Trusts the clan's host certificates",
            {"certificate": Field("submodule", fields={"searchDomains": Field("list", [], item="str")})},
        ),
    },
    class_note="clan's sshd service has only a NixOS module; on darwin, enable Remote Login and manage keys by hand",
)

# ------------------------------------------------------------------------------------------------ others

EMERGENCY_ACCESS = ServiceSpec(
    name="emergency-access",
    manifest="clan-core/emergency-access",
    description="A root password for the console, kept out of the machine",
    roles={
        "default": RoleSpec(
            "Sets an emergency root password",
            {},
            generators=lambda ctx: [
                Generator(
                    "emergency-access",
                    (FileSpec("password", deploy=False), FileSpec("password-hash", secret=False)),
                    recipe="xkcd-password-hash",
                )
            ],
        )
    },
    class_note="clan's emergency-access service has only a NixOS module",
)


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


def _users(ctx: GeneratorContext) -> list[Generator]:
    user = ctx.settings.get("user", ctx.instance)
    if "user" in ctx.settings:
        names.check("user", user, f"instances.{ctx.instance}.roles.{ctx.role}.settings.user")
    prompts = (
        (PromptSpec("user-password", "hidden", "Leave empty to generate automatically", persist=True),)
        if ctx.settings.get("prompt", True)
        else ()
    )
    return [
        Generator(
            f"user-password-{user}",
            (FileSpec("user-password", deploy=False), FileSpec("user-password-hash", needed_for="users")),
            share=bool(ctx.settings.get("share", False)),
            prompts=prompts,
            recipe="user-password",
        )
    ]


USERS = ServiceSpec(
    name="users",
    manifest="clan-core/user",
    description="A user account with a generated or prompted password",
    roles={
        "default": RoleSpec(
            "Creates the user",
            {
                "user": Field("str"),
                "prompt": Field("bool", True),
                "groups": Field("list", [], item="str"),
                "share": Field("bool", False),
                "openssh": Field("submodule", fields={"authorizedKeys": Field("list", [], item="str")}),
            },
            generators=_users,
        )
    },
    class_note="clan's users service has only a NixOS module; on darwin, users come from nix-darwin's users.users",
)


def _admin(ctx: GeneratorContext) -> list[Generator]:
    return [
        Generator(
            "root-password",
            (FileSpec("password", deploy=False), FileSpec("password-hash", needed_for="users")),
            prompts=(
                PromptSpec("password", "hidden", "Leave empty to generate automatically", persist=True),
            ),
            recipe="root-password",
        )
    ]


ADMIN = ServiceSpec(
    name="admin",
    manifest="clan-core/admin",
    description="A root user with ssh access (deprecated in clan in favour of sshd + users)",
    roles={
        "default": RoleSpec(
            "Adds root ssh access",
            {
                "allowedKeys": Field("attrs", {}, item="str"),
                "rsaHostKey": Field("submodule", fields={"enable": Field("bool", False)}),
                "certificateSearchDomains": Field("list", [], item="str"),
            },
            generators=_admin,
        )
    },
    class_note="clan's admin service has only a NixOS module",
)

INTERNET = ServiceSpec(
    name="internet",
    manifest="clan-core/internet",
    description="Reach machines at fixed addresses (no vars)",
    roles={
        "default": RoleSpec(
            "A machine with a public address",
            {"host": Field("str", required=True)},
            classes=("nixos", "darwin"),
        )
    },
)

CATALOGUE: dict[str, ServiceSpec] = {
    s.name: s for s in (ZEROTIER, SSHD, EMERGENCY_ACCESS, USERS, ADMIN, INTERNET)
}
# clan's own module names differ from the instance names people use; `module.name` is what counts
ALIASES = {"user": "users"}


def lookup(module_name: str, module_input: str | None) -> ServiceSpec | None:
    if module_input not in CLAN_CORE_INPUTS:
        return None
    return CATALOGUE.get(ALIASES.get(module_name, module_name))
