"""Which generators each machine has: from its services (the inventory's catalogue), from the repository's
dendrite.toml, or with --nix from the clan flake's evaluated NixOS options."""

from __future__ import annotations

import platform
import tomllib
from pathlib import Path
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.generators import Generator, check_names
from dendrite.inventory import Assignment, Resolved, analyse, machine_view
from dendrite.inventory.resolve import role_members_of
from dendrite.nix import eval_flake_json
from dendrite.repofs import RepoFS
from dendrite.text import did_you_mean
from dendrite.vars.model import from_plain, str_list, typed

CONFIG = "dendrite.toml"


class Config(dict[str, Any]):
    """dendrite.toml's tables, and the repository they came from (for what the Nix files add)."""

    root: Path | None = None


def read_config(root: Path) -> dict[str, Any]:
    """dendrite.toml, read without following a link; the sections vars uses are type-checked."""
    fs = RepoFS(root)
    if fs.kind(CONFIG) is None:
        empty = Config()
        empty.root = root
        return empty
    text = fs.read_text(CONFIG, limit=_CONFIG_LIMIT)
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{CONFIG}: {exc}", hint="fix the TOML; nothing was generated") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's cap on int parsing)
        raise InputError(
            f"{CONFIG}: {str(exc).split(';')[0]}", hint="fix the TOML; nothing was generated"
        ) from None
    typed(config, "generators", "table", f"{CONFIG}:", {})
    typed(
        typed(config, "secrets", "table", f"{CONFIG}:", {}),
        "default_groups",
        "list",
        f"{CONFIG}: secrets",
        [],
    )
    out = Config(config)
    out.root = root
    return out


_CONFIG_LIMIT = 4 * 1024 * 1024


def default_groups(config: dict[str, Any]) -> list[str]:
    """dendrite.toml's default groups, and the literal `clan.core.sops.defaultGroups` of the repository's
    Nix files that hold for every machine (see dendrite.secrets.defaults)."""
    groups = str_list(config.get("secrets") or {}, "default_groups", f"{CONFIG}: secrets") or []
    for g in groups:
        names.check("group", g, f"{CONFIG}: secrets.default_groups")
    root = getattr(config, "root", None)
    if root is not None:
        from dendrite.secrets.defaults import static_default_groups

        groups = list(dict.fromkeys((*groups, *static_default_groups(root).everywhere)))
    return groups


def custom_generators(config: dict[str, Any], machine: str, tags: tuple[str, ...]) -> dict[str, Generator]:
    out = {}
    for name, raw in typed(config, "generators", "table", f"{CONFIG}:", {}).items():
        gen = from_plain(name, raw, CONFIG)  # checked whichever machines it is for
        only = str_list(raw, "machines", f"{CONFIG}: generators.{name}")
        want_tags = str_list(raw, "tags", f"{CONFIG}: generators.{name}")
        if only is not None and machine not in only:
            continue
        if want_tags is not None and not set(want_tags) & set(tags):
            continue
        out[name] = gen
    return out


def _check_targets(config: dict[str, Any], machines: tuple[str, ...], tags: tuple[str, ...]) -> None:
    """A custom generator's `machines` and `tags` name what the inventory has: a typo would otherwise
    leave the generator on no machine, silently."""
    for gname, raw in typed(config, "generators", "table", f"{CONFIG}:", {}).items():
        if not isinstance(raw, dict):
            continue  # not a table: `from_plain` says so, in the words it uses for every key
        where = f"{CONFIG}: generators.{gname}"
        for kind, known in (("machines", machines), ("tags", tags)):
            for n in str_list(raw, kind, where) or []:
                if n not in known:
                    what = "machine" if kind == "machines" else "tag"
                    raise InputError(
                        f"{where}.{kind} names the {what} '{n}', which "
                        + ("is not in the inventory" if kind == "machines" else "no machine has"),
                        hint=did_you_mean(n, known),
                    )


def machine_generators(
    root: Path, resolved: Resolved | None = None
) -> tuple[Resolved, dict[str, dict[str, Generator]]]:
    """Every machine's generators: its services' built-ins plus dendrite.toml's custom ones."""
    resolved = resolved or analyse(root)
    config = read_config(root)
    assignments = resolved.assignments
    members = role_members_of(assignments)
    by_machine: dict[str, list[Assignment]] = {}
    for a in assignments:
        by_machine.setdefault(a.machine, []).append(a)
    _check_targets(config, tuple(resolved.inventory.machines), tuple(resolved.inventory.tags_in_use()))
    out: dict[str, dict[str, Generator]] = {}
    for name in resolved.inventory.machines:
        view = machine_view(resolved.inventory, name, by_machine.get(name, []), members)
        gens = {g.name: _checked(g) for g in view.generators}
        for gname, gen in custom_generators(config, name, view.tags).items():
            if gname in gens:
                raise InputError(
                    f"{CONFIG}: generator '{gname}' of {name} is also a built-in of its services"
                )
            gens[gname] = gen
        out[name] = gens
    return resolved, out


def _checked(gen: Generator) -> Generator:
    """A service's generator as the vars layer takes it: its names and its recipe checked."""
    check_names(gen, gen.source)
    if gen.recipe is not None:
        from dendrite.vars.recipes import check_recipe  # the recipes import crypto libraries: only when used

        check_recipe(gen.recipe, f"{gen.source}: generators.{gen.name}.recipe")
    return gen


def nix_generators(
    root: Path, machines: list[str], system: str | None = None
) -> dict[str, dict[str, Generator]]:
    """The generators of a real clan flake, as clan-cli selects them (one nix eval per machine)."""
    system = system or f"{platform.machine().replace('arm64', 'aarch64')}-{platform.system().lower()}"
    out: dict[str, dict[str, Generator]] = {}
    for m in machines:
        data = eval_flake_json(root, f"clanInternals.machines.{system}.{m}.config.clan.core.vars.generators")
        if not isinstance(data, dict):
            raise InputError(f"the generators of {m} are not an attribute set")
        out[m] = {name: from_plain(name, _strip_computed(raw), f"nix {m}") for name, raw in data.items()}
    return out


def _strip_computed(raw: dict[str, Any]) -> dict[str, Any]:
    keep = {"share", "dependencies", "files", "prompts", "script", "runtimeInputs", "validation"}
    out = {k: v for k, v in raw.items() if k in keep}
    out["files"] = {
        f: {k: v for k, v in spec.items() if k in ("secret", "deploy", "owner", "group", "mode", "neededFor")}
        for f, spec in (raw.get("files") or {}).items()
    }
    out["prompts"] = {
        p: {k: v for k, v in spec.items() if k in ("type", "description", "persist")}
        for p, spec in (raw.get("prompts") or {}).items()
    }
    out["runtimeInputs"] = []
    return out
