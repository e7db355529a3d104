"""A native SOPS codec (age recipients): files the real `sops` binary reads and writes.

Primitives: `values` (canonical leaf bytes), `cipher` (AES-GCM leaves), `codec` (tree walk, MAC),
`age` (data key wrapping, identity discovery), `stores` (file formats). Recipes: `document`.
"""

from dendrite.sops.age import Identities, discover_identities, identities_from_text
from dendrite.sops.document import (
    Decrypted,
    decrypt,
    decrypt_document,
    encrypt,
    parse_extract,
    read_metadata,
    rotate,
    updatekeys,
)
from dendrite.sops.rules import CryptRule
from dendrite.sops.stores import FORMATS, format_for_path

__all__ = [
    "FORMATS",
    "CryptRule",
    "Decrypted",
    "Identities",
    "decrypt",
    "decrypt_document",
    "discover_identities",
    "encrypt",
    "format_for_path",
    "identities_from_text",
    "parse_extract",
    "read_metadata",
    "rotate",
    "updatekeys",
]
