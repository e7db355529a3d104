"""clan's `sops/` store (users, machines, groups, secrets) with clan's on-disk layout and semantics.

The exports are imported when first used (`dendrite.lazy`): a module of the package imports only
what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dendrite import lazy

if TYPE_CHECKING:
    from dendrite.secrets.keys import SopsKey, key_from_input, read_keys
    from dendrite.secrets.store import Admin, Membership, SecretsStore

_EXPORTS = {
    **dict.fromkeys(["SopsKey", "key_from_input", "read_keys"], "dendrite.secrets.keys"),
    **dict.fromkeys(["Admin", "Membership", "SecretsStore"], "dendrite.secrets.store"),
}


def __getattr__(name: str) -> object:
    return lazy.export(__name__, _EXPORTS, name, globals())


__all__ = ["Admin", "Membership", "SecretsStore", "SopsKey", "key_from_input", "read_keys"]
