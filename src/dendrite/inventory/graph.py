"""Which machines meet in which instance, as Mermaid or Graphviz dot."""

from __future__ import annotations

import re

from dendrite.inventory.model import Inventory
from dendrite.inventory.resolve import Assignment


def _id(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


def mermaid(inv: Inventory, assignments: list[Assignment]) -> str:
    lines = ["flowchart LR"]
    for name, m in sorted(inv.machines.items()):
        lines.append(f'  m_{_id(name)}["{name} ({m.machine_class})"]')
    for iname, inst in sorted(inv.instances.items()):
        lines.append(f'  i_{_id(iname)}{{{{"{iname}: {inst.module_name}"}}}}')
    for a in sorted(assignments, key=lambda a: (a.instance, a.role, a.machine)):
        if a.machine in inv.machines:
            arrow = "==>" if a.role == "controller" else "-->"
            lines.append(f"  i_{_id(a.instance)} {arrow}|{a.role}| m_{_id(a.machine)}")
    return "\n".join(lines) + "\n"


def dot(inv: Inventory, assignments: list[Assignment]) -> str:
    lines = ["digraph inventory {", "  rankdir=LR;"]
    for name, m in sorted(inv.machines.items()):
        lines.append(f'  "m:{name}" [label="{name}\\n{m.machine_class}", shape=box];')
    for iname, inst in sorted(inv.instances.items()):
        lines.append(f'  "i:{iname}" [label="{iname}\\n{inst.module_name}", shape=hexagon];')
    for a in sorted(assignments, key=lambda a: (a.instance, a.role, a.machine)):
        if a.machine in inv.machines:
            style = ", style=bold" if a.role == "controller" else ""
            lines.append(f'  "i:{a.instance}" -> "m:{a.machine}" [label="{a.role}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
