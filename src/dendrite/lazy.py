"""Names a package exports, and modules a caller uses in few places, imported when first used.

Why: a package's `__init__` that imports every module makes any import of one of its modules pay for
all of them (`dendrite.secrets.keys` importing the whole SOPS codec and ruamel.yaml through
`dendrite.sops`). The packages list their exports by module and resolve them with PEP 562's module
`__getattr__`; type checkers see the same names through `if TYPE_CHECKING:` imports.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping, MutableMapping
from types import ModuleType


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


def module(name: str) -> ModuleType:
    """The module `name`, run when one of its attributes is first used (importlib's LazyLoader).

    For a module a caller needs in some of its functions only: `health = lazy.module(...)` at the top
    keeps every `health.check(...)` as written, and costs nothing until one runs.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    made = importlib.util.module_from_spec(spec)
    sys.modules[name] = made
    loader.exec_module(made)
    return made
