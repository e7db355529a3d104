"""Names a package exports, imported from their module when first used.

Why: a package's `__init__` that imports every module makes any import of one of its modules pay for
all of them (`dendrite.secrets.keys` importing the whole SOPS codec and ruamel.yaml through
`dendrite.sops`). The packages list their exports by module and resolve them with PEP 562's module
`__getattr__`; type checkers see the same names through `if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping


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
