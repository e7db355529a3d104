"""Generators read from clan's JSON shape: `dendrite.toml` tables and `nix eval` of the NixOS option.

The model itself (`Generator`, `FileSpec`, `PromptSpec`, `Placement`) lives in `dendrite.generators`,
shared with the inventory's service catalogue; it is re-exported here for the callers that read it
from the vars layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.generators import NEEDED_FOR as NEEDED_FOR
from dendrite.generators import PROMPT_TYPES as PROMPT_TYPES
from dendrite.generators import FileSpec as FileSpec
from dendrite.generators import Generator as Generator
from dendrite.generators import PromptSpec as PromptSpec
from dendrite.generators import nix_to_json as nix_to_json
from dendrite.generators import validation_hash as validation_hash
from dendrite.text import describe_type

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
    files, prompts = _files_and_prompts(raw, where)
    deps = str_list(raw, "dependencies", where) or []
    for d in deps:
        names.check("generator", d, f"{where}.dependencies")
    inputs = str_list(raw, "runtimeInputs", where) or []
    str_list(raw, "machines", where)
    str_list(raw, "tags", where)
    recipe, script = _recipe_and_script(raw, where)
    return Generator(
        name=name,
        files=files,
        share=typed(raw, "share", "bool", where, False),
        dependencies=tuple(deps),
        prompts=prompts,
        script=script,
        runtime_inputs=tuple(inputs),
        validation=raw.get("validation"),
        source=source,
        recipe=recipe,
    )


def _files_and_prompts(
    raw: dict[str, Any], where: str
) -> tuple[tuple[FileSpec, ...], tuple[PromptSpec, ...]]:
    """The declared files, plus one per persisted prompt that declares none (secret by default)."""
    files = [_file(fname, f, where) for fname, f in typed(raw, "files", "table", where, {}).items()]
    prompts = [_prompt(pname, p, where) for pname, p in typed(raw, "prompts", "table", where, {}).items()]
    for prompt in prompts:
        if prompt.persist and not any(f.name == prompt.name for f in files):
            files.append(FileSpec(prompt.name))
    if not files:
        raise InputError(f"{where} declares no files")
    return tuple(files), tuple(prompts)


def _recipe_and_script(raw: dict[str, Any], where: str) -> tuple[str | None, str]:
    """A built-in recipe (checked against `dendrite.vars.recipes`) or a script, never both."""
    recipe = typed(raw, "recipe", "str", where, None)
    script = typed(raw, "script", "str", where, "")
    if recipe is not None:
        from dendrite.vars.recipes import check_recipe  # the recipes import crypto libraries: only when named

        check_recipe(recipe, f"{where}.recipe")
        if script:
            raise InputError(f"{where} has both a script and a recipe", hint="keep one")
    return recipe, script


@dataclass
class MachineGenerators:
    machine: str
    generators: dict[str, Generator] = field(default_factory=dict)
