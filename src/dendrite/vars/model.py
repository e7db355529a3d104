"""clan's generator schema (clan.core.vars.generators.<name>) and where a generator's vars live."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dendrite.errors import InputError
from dendrite.inventory.catalogue import GeneratorSpec

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
    """The directory below vars/: shared/<gen> or per-machine/<machine>/<gen> (clan's rel_dir)."""
    return f"shared/{gen.name}" if gen.share else f"per-machine/{machine}/{gen.name}"


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


def from_plain(name: str, raw: dict[str, Any], source: str) -> Generator:
    """A generator from clan's JSON shape (dendrite.toml tables or `nix eval` of the NixOS option)."""
    where = f"{source}: generator '{name}'"
    known = {
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
    for k in raw:
        if k not in known:
            raise InputError(f"{where} has an unknown key '{k}'", hint="keys: " + ", ".join(sorted(known)))
    files = []
    for fname, f in (raw.get("files") or {}).items():
        if not isinstance(f, dict):
            raise InputError(f"{where}: files.{fname} must be a table")
        needed = f.get("neededFor", "services")
        if needed not in NEEDED_FOR:
            raise InputError(
                f"{where}: files.{fname}.neededFor is {needed!r}", hint="one of " + ", ".join(NEEDED_FOR)
            )
        mode = str(f.get("mode", "0400"))
        if len(mode) != 4 or any(c not in "01234567" for c in mode):
            raise InputError(f"{where}: files.{fname}.mode {mode!r} is not four octal digits")
        files.append(
            FileSpec(
                fname,
                bool(f.get("secret", True)),
                bool(f.get("deploy", True)),
                str(f.get("owner", "root")),
                str(f.get("group", "root")),
                mode,
                needed,
            )
        )
    prompts = []
    for pname, p in (raw.get("prompts") or {}).items():
        ptype = p.get("type", "line")
        if ptype not in PROMPT_TYPES:
            raise InputError(
                f"{where}: prompts.{pname}.type is {ptype!r}", hint="one of " + ", ".join(PROMPT_TYPES)
            )
        prompt = PromptSpec(pname, ptype, str(p.get("description", pname)), bool(p.get("persist", False)))
        prompts.append(prompt)
        if prompt.persist and not any(f.name == pname for f in files):
            files.append(FileSpec(pname))  # a persisted prompt declares its file, secret by default
    if not files:
        raise InputError(f"{where} declares no files")
    deps = raw.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise InputError(f"{where}: dependencies must be a list of generator names")
    inputs = raw.get("runtimeInputs", [])
    recipe = raw.get("recipe")
    if recipe is not None:
        from dendrite.vars.recipes import RECIPES

        if recipe not in RECIPES:
            raise InputError(
                f"{where}: recipe '{recipe}' is not a built-in",
                hint="built-ins: " + ", ".join(sorted(RECIPES)),
            )
        if raw.get("script"):
            raise InputError(f"{where} has both a script and a recipe", hint="keep one")
    return Generator(
        name=name,
        files=tuple(files),
        share=bool(raw.get("share", False)),
        dependencies=tuple(deps),
        prompts=tuple(prompts),
        script=str(raw.get("script", "")),
        runtime_inputs=tuple(str(i) for i in inputs),
        validation=raw.get("validation"),
        source=source,
        recipe=recipe,
    )


@dataclass
class MachineGenerators:
    machine: str
    generators: dict[str, Generator] = field(default_factory=dict)
