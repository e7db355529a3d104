"""clan's generator schema (clan.core.vars.generators.<name>) and where a generator's vars live."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.inventory.catalogue import GeneratorSpec
from dendrite.text import describe_type

NEEDED_FOR = ("partitioning", "activation", "users", "services")
PROMPT_TYPES = ("hidden", "line", "multiline", "multiline-hidden")


@dataclass(frozen=True)
class FileSpec:
    name: str
    secret: bool = True
    deploy: bool = True
    owner: str = "root"
    group: str = "root"
    mode: str = "0400"
    needed_for: str = "services"


@dataclass(frozen=True)
class PromptSpec:
    name: str
    type: str = "line"
    description: str = ""
    persist: bool = False


@dataclass(frozen=True)
class Generator:
    name: str
    files: tuple[FileSpec, ...]
    share: bool = False
    dependencies: tuple[str, ...] = ()
    prompts: tuple[PromptSpec, ...] = ()
    script: str = ""
    runtime_inputs: tuple[str, ...] = ()
    validation: Any = None
    recipe: str | None = None  # a built-in recipe instead of a script
    source: str = ""  # where it was declared (catalogue service, dendrite.toml, nix)

    def file(self, name: str) -> FileSpec | None:
        return next((f for f in self.files if f.name == name), None)

    @property
    def validation_hash(self) -> str | None:
        return validation_hash(self.validation)

    def definition(self) -> tuple[Any, ...]:
        """What must be identical on every machine declaring a shared generator (clan's rule)."""
        return (
            tuple((f.name, f.secret, f.deploy, f.needed_for) for f in self.files),
            self.prompts,
            self.dependencies,
            self.validation_hash,
            self.script,
            self.recipe,
        )


def placement(gen: Generator, machine: str) -> str:
    """The directory below vars/: shared/<gen> or per-machine/<machine>/<gen> (clan's rel_dir).

    The names are checked again here, whatever their source: this is where a name becomes a path.
    """
    names.check("generator", gen.name, gen.source)
    if gen.share:
        return f"shared/{gen.name}"
    return f"per-machine/{names.check('machine', machine)}/{gen.name}"


def nix_to_json(value: Any) -> str:
    """builtins.toJSON: sorted keys, no whitespace, Nix's string escapes."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InputError("validation values cannot be NaN or infinite")
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(nix_to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{nix_to_json(value[k])}" for k in sorted(value))
            + "}"
        )
    raise InputError(f"a validation value of type {type(value).__name__} has no JSON form")


def validation_hash(value: Any) -> str | None:
    """clan's validationHash: null without validation, else sha256 of builtins.toJSON (hex)."""
    if value is None:
        return None
    return hashlib.sha256(nix_to_json(value).encode()).hexdigest()


def from_catalogue(spec: GeneratorSpec, service: str) -> Generator:
    where = f"service {service}" if service else "a service's generator"
    names.check("generator", spec.name, where)
    for f in spec.files:
        names.check("file", f.name, f"{where}: generators.{spec.name}.files")
    for p in spec.prompts:
        names.check("prompt", p.name, f"{where}: generators.{spec.name}.prompts")
    return Generator(
        name=spec.name,
        files=tuple(FileSpec(f.name, f.secret, f.deploy, needed_for=f.needed_for) for f in spec.files),
        share=spec.share,
        dependencies=spec.dependencies,
        prompts=tuple(PromptSpec(p.name, p.type, p.description, p.persist) for p in spec.prompts),
        validation=spec.validation,
        recipe=spec.script,
        source=f"service {service}",
    )


KNOWN_KEYS = frozenset(
    {
        "share",
        "dependencies",
        "files",
        "prompts",
        "script",
        "runtimeInputs",
        "validation",
        "machines",
        "tags",
        "name",
        "validationHash",
        "finalScript",
        "recipe",
    }
)
FILE_KEYS = frozenset({"secret", "deploy", "owner", "group", "mode", "neededFor"})
PROMPT_KEYS = frozenset({"type", "description", "persist"})

_TYPES: dict[str, tuple[type, ...]] = {"bool": (bool,), "str": (str,), "table": (dict,), "list": (list,)}
_ARTICLE = {"bool": "true or false", "str": "a string", "table": "a table", "list": "a list"}


def typed(raw: dict[str, Any], key: str, kind: str, where: str, default: Any) -> Any:
    """raw[key] if it has the type `kind` (default when absent), else one sentence naming the key path.

    Why strict: `share = "false"` is a non-empty string, so `bool()` made it true, and a number where a
    table belongs crashed later with an internal error.
    """
    value = raw.get(key, default)
    if value is default or isinstance(value, _TYPES[kind]):
        return value
    shown = f"the string {value!r}" if isinstance(value, str) else describe_type(value)
    path = f"{where} {key}" if where.endswith(":") else f"{where}.{key}"
    raise InputError(f"{path} must be {_ARTICLE[kind]}, not {shown}")


def str_list(raw: dict[str, Any], key: str, where: str) -> list[str] | None:
    value = typed(raw, key, "list", where, None)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}.{key} must be a list of strings")
    return None if value is None else [str(v) for v in value]


def _unknown(raw: dict[str, Any], known: frozenset[str], where: str) -> None:
    for k in raw:
        if k not in known:
            raise InputError(f"{where} has an unknown key '{k}'", hint="keys: " + ", ".join(sorted(known)))


def _file(fname: str, f: Any, where: str) -> FileSpec:
    at = f"{where}.files.{fname}"
    names.check("file", fname, f"{where}.files")
    if not isinstance(f, dict):
        raise InputError(f"{at} must be a table, not {describe_type(f)}")
    _unknown(f, FILE_KEYS, at)
    needed = typed(f, "neededFor", "str", at, "services")
    if needed not in NEEDED_FOR:
        raise InputError(f"{at}.neededFor is {needed!r}", hint="one of " + ", ".join(NEEDED_FOR))
    mode = typed(f, "mode", "str", at, "0400")
    if len(mode) != 4 or any(c not in "01234567" for c in mode):
        raise InputError(f"{at}.mode {mode!r} is not four octal digits")
    return FileSpec(
        fname,
        typed(f, "secret", "bool", at, True),
        typed(f, "deploy", "bool", at, True),
        typed(f, "owner", "str", at, "root"),
        typed(f, "group", "str", at, "root"),
        mode,
        needed,
    )


def _prompt(pname: str, p: Any, where: str) -> PromptSpec:
    at = f"{where}.prompts.{pname}"
    names.check("prompt", pname, f"{where}.prompts")
    if not isinstance(p, dict):
        raise InputError(f"{at} must be a table, not {describe_type(p)}")
    _unknown(p, PROMPT_KEYS, at)
    ptype = typed(p, "type", "str", at, "line")
    if ptype not in PROMPT_TYPES:
        raise InputError(f"{at}.type is {ptype!r}", hint="one of " + ", ".join(PROMPT_TYPES))
    description = p.get("description")  # nix gives null for an unset description
    description = pname if description is None else typed(p, "description", "str", at, pname)
    return PromptSpec(pname, ptype, description, typed(p, "persist", "bool", at, False))


def from_plain(name: str, raw: dict[str, Any], source: str) -> Generator:
    """A generator from clan's JSON shape (dendrite.toml tables or `nix eval` of the NixOS option).

    Every name is checked by `dendrite.names` and every value's type strictly, each error one sentence
    naming the key path (`dendrite.toml: generators.x.files.y.secret must be true or false ...`).
    """
    names.check("generator", name, f"{source}: generators")
    where = f"{source}: generators.{name}"
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a table, not {describe_type(raw)}")
    _unknown(raw, KNOWN_KEYS, where)
    files = [_file(fname, f, where) for fname, f in typed(raw, "files", "table", where, {}).items()]
    prompts = [_prompt(pname, p, where) for pname, p in typed(raw, "prompts", "table", where, {}).items()]
    for prompt in prompts:
        if prompt.persist and not any(f.name == prompt.name for f in files):
            files.append(FileSpec(prompt.name))  # a persisted prompt declares its file, secret by default
    if not files:
        raise InputError(f"{where} declares no files")
    deps = str_list(raw, "dependencies", where) or []
    for d in deps:
        names.check("generator", d, f"{where}.dependencies")
    inputs = str_list(raw, "runtimeInputs", where) or []
    str_list(raw, "machines", where)
    str_list(raw, "tags", where)
    recipe = typed(raw, "recipe", "str", where, None)
    script = typed(raw, "script", "str", where, "")
    if recipe is not None:
        from dendrite.vars.recipes import RECIPES

        if recipe not in RECIPES:
            raise InputError(
                f"{where}.recipe '{recipe}' is not a built-in",
                hint="built-ins: " + ", ".join(sorted(RECIPES)),
            )
        if script:
            raise InputError(f"{where} has both a script and a recipe", hint="keep one")
    return Generator(
        name=name,
        files=tuple(files),
        share=typed(raw, "share", "bool", where, False),
        dependencies=tuple(deps),
        prompts=tuple(prompts),
        script=script,
        runtime_inputs=tuple(inputs),
        validation=raw.get("validation"),
        source=source,
        recipe=recipe,
    )


@dataclass
class MachineGenerators:
    machine: str
    generators: dict[str, Generator] = field(default_factory=dict)
