"""clan's `sops/` store (users, machines, groups, secrets) with clan's on-disk layout and semantics."""

from dendrite.secrets.keys import SopsKey, key_from_input, read_keys
from dendrite.secrets.store import Admin, Membership, SecretsStore

__all__ = ["Admin", "Membership", "SecretsStore", "SopsKey", "key_from_input", "read_keys"]
