"""Names a package exports, and modules a caller uses in few places, imported when first used.

Why: a package's `__init__` that imports every module makes any import of one of its modules pay for
all of them (`dendrite.secrets.keys` importing the whole SOPS codec and ruamel.yaml through
`dendrite.sops`). The packages list their exports by module and resolve them with PEP 562's module
`__getattr__`; type checkers see the same names through `if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any


def export(
    package: str, exports: Mapping[str, str], name: str, namespace: MutableMapping[str, object]
) -> object:
    """`name` from the module `exports` lists it in, kept in the package's namespace after."""
    module = exports.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    namespace[name] = value
    return value


class _Module:
    """Stands for a module until one of its attributes is used, then imports it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def module(name: str) -> Any:
    """The module `name`, imported when one of its attributes is first used.

    For a module a caller needs in some of its functions only: `health = lazy.module(...)` at the top
    keeps every `health.check(...)` as written, and costs nothing until one runs. Callers declare the
    real module under `if TYPE_CHECKING:` so type checkers see its names.
    """
    return _Module(name)
