"""Which leaves are encrypted: sops' six mutually exclusive crypt rules (`shouldBeEncrypted`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dendrite.errors import SopsError

RULE_FIELDS = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"


@dataclass(frozen=True)
class CryptRule:
    """At most one rule is set; none means the reader's default `_unencrypted` suffix."""

    kind: str | None = None
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in RULE_FIELDS:
            raise SopsError(f"unknown crypt rule {self.kind!r}")
        if self.kind is not None and self.kind.endswith("regex"):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise SopsError(
                    f"{self.kind} {self.value!r} is not a valid regular expression: {exc}"
                ) from None

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> CryptRule:
        present = [f for f in RULE_FIELDS if meta.get(f) not in (None, "")]
        if len(present) > 1:
            raise SopsError(f"the sops metadata sets more than one crypt rule ({', '.join(present)})")
        if not present:
            return _NO_RULE if cls is CryptRule else cls()  # frozen: one instance serves every file
        return cls(present[0], str(meta[present[0]]))

    @property
    def effective(self) -> CryptRule:
        return self if self.kind is not None else CryptRule("unencrypted_suffix", DEFAULT_UNENCRYPTED_SUFFIX)

    @property
    def uses_comments(self) -> bool:
        return self.kind in ("unencrypted_comment_regex", "encrypted_comment_regex")

    def should_encrypt(self, path: Sequence[str], comments: Sequence[Sequence[str]]) -> bool:
        rule = self.effective
        kind, value = rule.kind, rule.value
        if kind == "unencrypted_suffix":
            return not any(p.endswith(value) for p in path)
        if kind == "encrypted_suffix":
            return any(p.endswith(value) for p in path)
        if kind == "unencrypted_regex":
            return not any(re.search(value, p) for p in path)
        if kind == "encrypted_regex":
            return any(re.search(value, p) for p in path)
        flat = [c for level in comments for c in level]
        if kind == "unencrypted_comment_regex":
            return not any(re.search(value, c) for c in flat)
        return any(re.search(value, c) for c in flat)


_NO_RULE = CryptRule()
