"""A native SOPS codec (age recipients): files the real `sops` binary reads and writes.

Primitives: `values` (canonical leaf bytes), `cipher` (AES-GCM leaves), `codec` (tree walk, MAC),
`age` (data key wrapping, identity discovery), `stores` (file formats). Recipes: `document`.
The exports below are imported when first used (`dendrite.lazy`): `dendrite.sops.age` alone does not
pull in the codec and every file format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dendrite import lazy

if TYPE_CHECKING:
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

_EXPORTS = {
    **dict.fromkeys(["Identities", "discover_identities", "identities_from_text"], "dendrite.sops.age"),
    **dict.fromkeys(
        [
            "Decrypted",
            "decrypt",
            "decrypt_document",
            "encrypt",
            "parse_extract",
            "read_metadata",
            "rotate",
            "updatekeys",
        ],
        "dendrite.sops.document",
    ),
    "CryptRule": "dendrite.sops.rules",
    "FORMATS": "dendrite.sops.stores",
    "format_for_path": "dendrite.sops.stores",
}


def __getattr__(name: str) -> object:
    return lazy.export(__name__, _EXPORTS, name, globals())


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
