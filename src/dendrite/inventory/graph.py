"""Which machines meet in which instance, as Mermaid or Graphviz dot."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from dendrite.inventory.model import Inventory
from dendrite.inventory.resolve import Assignment


def _id(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


def mermaid(inv: Inventory, assignments: list[Assignment]) -> str:
    return _render(
        inv,
        assignments,
        ["flowchart LR"],
        machine=lambda name, cls: f'  m_{_id(name)}["{name} ({cls})"]',
        instance=lambda name, module: f'  i_{_id(name)}{{{{"{name}: {module}"}}}}',
        edge=lambda a: (
            f"  i_{_id(a.instance)} {'==>' if a.role == 'controller' else '-->'}|{a.role}| m_{_id(a.machine)}"
        ),
    )


def dot(inv: Inventory, assignments: list[Assignment]) -> str:
    return _render(
        inv,
        assignments,
        ["digraph inventory {", "  rankdir=LR;"],
        machine=lambda name, cls: f'  "m:{name}" [label="{name}\\n{cls}", shape=box];',
        instance=lambda name, module: f'  "i:{name}" [label="{name}\\n{module}", shape=hexagon];',
        edge=lambda a: (
            f'  "i:{a.instance}" -> "m:{a.machine}" [label="{a.role}"'
            f"{', style=bold' if a.role == 'controller' else ''}];"
        ),
        end=["}"],
    )


def _render(
    inv: Inventory,
    assignments: list[Assignment],
    start: list[str],
    *,
    machine: Callable[[str, str], str],
    instance: Callable[[str, str], str],
    edge: Callable[[Assignment], str],
    end: Sequence[str] = (),
) -> str:
    """Machines, then instances, then an edge per role a machine of the inventory has, in a stable order."""
    lines = [*start]
    lines += [machine(name, m.machine_class) for name, m in sorted(inv.machines.items())]
    lines += [instance(name, inst.module_name) for name, inst in sorted(inv.instances.items())]
    placed = sorted(assignments, key=lambda a: (a.instance, a.role, a.machine))
    lines += [edge(a) for a in placed if a.machine in inv.machines]
    return "\n".join([*lines, *end]) + "\n"
