"""Click commands made from Typer apps one command at a time, when a command is first asked for.

Why: Typer turns a whole app into click commands before it parses anything, reading every command's
signature and annotations (`secrets` has 32 commands; `secrets get` needs one). Here a group is made
without its children, and each child is made, the same way Typer makes it, when the group is asked
for it by name: to run it, to list it for --help, to complete it. Each is made by Typer itself (a
holder app with the root's defaults), so options, help and behaviour are exactly Typer's.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from typer._click import Command

Loader = Callable[[], "Command"]


class LazyCommands(MutableMapping[str, "Command"]):
    """A group's commands, the lazy ones known by name (in order) until first asked for."""

    def __init__(self, loaded: Mapping[str, Command], lazy: Mapping[str, Loader]) -> None:
        self._commands: dict[str, Command | Loader] = {**lazy, **loaded}
        self._lazy = set(lazy) - set(loaded)

    def __getitem__(self, name: str) -> Command:
        entry = self._commands[name]
        if name in self._lazy:
            self._lazy.discard(name)
            entry = self._commands[name] = entry()
        return entry  # type: ignore[return-value]

    def __setitem__(self, name: str, command: Command) -> None:
        self._lazy.discard(name)
        self._commands[name] = command

    def __delitem__(self, name: str) -> None:
        self._lazy.discard(name)
        del self._commands[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._commands)

    def __len__(self) -> int:
        return len(self._commands)


def _holder() -> typer.Typer:
    # the root's defaults (dendrite's root only turns pretty exceptions off, which is not inherited)
    return typer.Typer(pretty_exceptions_enable=False, add_completion=False)


def command(info: CommandInfo) -> Command:
    """One command, as Typer makes it inside a group."""
    holder = _holder()
    holder.registered_commands.append(info)
    return typer.main.get_command(holder)


def _explicit_name(info: TyperInfo) -> str | None:
    return info.name if isinstance(info.name, str) else None


def group(info: TyperInfo) -> Command:
    """A group as Typer makes it, its sub-commands and sub-groups made when first asked for.

    A group with a sub-group added without a name (Typer merges its commands into the parent, or
    names it from its callback) is made all at once, by Typer.
    """
    app = info.typer_instance
    name = _explicit_name(info)
    assert name is not None, "dendrite names every group it adds"
    holder = _holder()
    if app is None or any(_explicit_name(g) is None for g in app.registered_groups):
        holder.registered_groups.append(info)
        made = typer.main.get_command(holder)
        assert isinstance(made, TyperGroup)
        return made.commands[name]
    shallow = copy.copy(app)
    shallow.registered_commands, shallow.registered_groups = [], []
    shallow_info = copy.copy(info)
    shallow_info.typer_instance = shallow
    holder.registered_groups.append(shallow_info)
    made = typer.main.get_command(holder)
    assert isinstance(made, TyperGroup)
    result = made.commands[name]
    assert isinstance(result, TyperGroup)
    children: dict[str, Loader] = {}
    for c in app.registered_commands:  # Typer's order: the commands, then the groups
        assert c.callback is not None
        children[c.name or typer.main.get_command_name(c.callback.__name__)] = functools.partial(command, c)
    for g in app.registered_groups:
        children[str(g.name)] = functools.partial(group, g)
    result.commands = LazyCommands(result.commands, children)
    return result


def subcommand(target: Any, name: str) -> Command:
    """A Typer app (a group) or a function (a command), as `add_typer`/`command` would add it."""
    if isinstance(target, typer.Typer):
        return group(TyperInfo(target, name=name))
    holder = _holder()
    holder.command(name)(target)
    return command(holder.registered_commands[0])
