"""The one generator model (clan.core.vars.generators.<name>) and where a generator's vars live.

Why here, outside `inventory` and `vars`: the inventory's service catalogue produces generators and the
vars layer reads, runs and stores them (and also reads them from `dendrite.toml` and `nix eval`), and
`vars` imports `inventory`; a model both use must depend on neither. This module depends only on
`dendrite.names` and `dendrite.errors`.

`Placement` follows clan's `Shared | PerMachine` with `rel_dir()`: a generator's directory below vars/
is `shared/<gen>` or `per-machine/<machine>/<gen>`, and the names are checked where they become a path.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from dendrite import names
from dendrite.errors import InputError

NEEDED_FOR = ("partitioning", "activation", "users", "services")
PROMPT_TYPES = ("hidden", "line", "multiline", "multiline-hidden")

SHARED_DIR = "shared"  # below vars/
PER_MACHINE_DIR = "per-machine"


# ---- placement -------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Shared:
    """Stored once for every machine that declares the generator."""

    @property
    def machine(self) -> None:
        return None

    @property
    def base(self) -> str:
        return SHARED_DIR

    def rel_dir(self, generator: str) -> str:
        return f"{self.base}/{names.check('generator', generator)}"


@dataclass(frozen=True, order=True)
class PerMachine:
    """Stored for one machine; the machine name is checked when the placement is made."""

    machine: str

    def __post_init__(self) -> None:
        names.check("machine", self.machine)

    @property
    def base(self) -> str:
        return f"{PER_MACHINE_DIR}/{self.machine}"

    def rel_dir(self, generator: str) -> str:
        return f"{self.base}/{names.check('generator', generator)}"


Placement = Shared | PerMachine
SHARED = Shared()


def sort_key(p: Placement) -> str:
    """Shared first, then machines by name (the order the ("", machine) keys had)."""
    return p.machine or ""


# ---- the model -------------------------------------------------------------------------------------


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
    recipe: str | None = None  # a built-in recipe instead of a script (`dendrite.vars.recipes`)
    # where it was declared (a catalogue service, dendrite.toml, nix): for messages, not part of what
    # the generator is, so the same definition from two sources compares equal
    source: str = field(default="", compare=False)

    def file(self, name: str) -> FileSpec | None:
        return next((f for f in self.files if f.name == name), None)

    @property
    def validation_hash(self) -> str | None:
        return validation_hash(self.validation)

    def placement(self, machine: str) -> Placement:
        """Shared, or per machine for `machine` (checked as a machine name)."""
        return SHARED if self.share else PerMachine(machine)

    def rel_dir(self, machine: str) -> str:
        """The directory below vars/ (clan's rel_dir); the generator's name is checked here again,
        whatever its source: this is where a name becomes a path."""
        names.check("generator", self.name, self.source)
        return self.placement(machine).rel_dir(self.name)

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


def check_names(gen: Generator, where: str) -> Generator:
    """`gen` if its own, its files' and its prompts' names are valid, else NameError_ naming `where`."""
    names.check("generator", gen.name, where)
    for f in gen.files:
        names.check("file", f.name, f"{where}: generators.{gen.name}.files")
    for p in gen.prompts:
        names.check("prompt", p.name, f"{where}: generators.{gen.name}.prompts")
    return gen


# ---- validation hashes -----------------------------------------------------------------------------


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
