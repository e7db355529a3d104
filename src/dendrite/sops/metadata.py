"""The `sops` metadata block: read from any store's plain form, written in sops 3.11's field order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.rules import RULE_FIELDS, CryptRule
from dendrite.text import shown

WRITER_VERSION = "3.11.0"
_OTHER_MASTER_KEYS = ("kms", "gcp_kms", "azure_kv", "hc_vault", "pgp", "hckms")


@dataclass(frozen=True)
class AgeEntry:
    recipient: str
    enc: str


@dataclass(frozen=True)
class Metadata:
    age: tuple[AgeEntry, ...]
    lastmodified: str
    mac: str
    rule: CryptRule = field(default_factory=CryptRule)
    mac_only_encrypted: bool = False
    version: str = WRITER_VERSION
    other_keys: tuple[str, ...] = ()  # kinds of non-age master keys present (pgp, kms...), for messages

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(e.recipient for e in self.age)

    def with_age(self, age: tuple[AgeEntry, ...]) -> Metadata:
        # built directly, not by dataclasses.replace (which looks up the fields each time): a re-key
        # calls this once per secret
        return Metadata(
            age,
            self.lastmodified,
            self.mac,
            self.rule,
            self.mac_only_encrypted,
            self.version,
            self.other_keys,
        )

    @classmethod
    def from_plain(cls, raw: Any, where: str) -> Metadata:
        if not isinstance(raw, dict):
            raise SopsError(f"{where}: the 'sops' metadata is not a mapping")
        groups = raw.get("key_groups")
        source: dict[str, Any] = raw
        if groups:
            if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], dict):
                raise SopsError(
                    f"{where}: the file uses {len(groups) if isinstance(groups, list) else 'malformed'} "
                    "key groups (Shamir secret sharing), which dendrite does not read",
                    hint="decrypt it with the sops binary",
                )
            source = groups[0]
        age_raw = source.get("age") or []
        if not isinstance(age_raw, list):
            raise SopsError(f"{where}: 'sops.age' is not a list")
        entries = []
        for i, item in enumerate(age_raw):
            if not isinstance(item, dict) or not isinstance(item.get("recipient"), str):
                raise SopsError(f"{where}: age entry {i} has no recipient")
            if not isinstance(item.get("enc"), str):
                raise SopsError(f"{where}: age entry {i} ({shown(item['recipient'])}) has no 'enc'")
            entries.append(AgeEntry(item["recipient"], item["enc"]))
        others = tuple(k for k in _OTHER_MASTER_KEYS if source.get(k))
        lastmodified = raw.get("lastmodified")
        if not isinstance(lastmodified, str):
            raise SopsError(f"{where}: the metadata has no 'lastmodified' string")
        mac = raw.get("mac", "")
        if not isinstance(mac, str):
            raise SopsError(f"{where}: 'sops.mac' is not a string")
        moe = raw.get("mac_only_encrypted", False)
        if isinstance(moe, str):  # dotenv and INI flatten every value to a string
            moe = moe.lower() == "true"
        version = raw.get("version", "")
        return cls(
            age=tuple(entries),
            lastmodified=lastmodified,
            mac=mac,
            rule=CryptRule.from_metadata(raw),
            mac_only_encrypted=bool(moe),
            version=str(version),
            other_keys=others,
        )

    def to_plain(self, *, binary: bool) -> dict[str, Any]:
        """The metadata as sops 3.11 writes it (struct order; empty master key lists left out)."""
        out: dict[str, Any] = {
            "age": [{"recipient": e.recipient, "enc": e.enc} for e in self.age],
            "lastmodified": self.lastmodified,
            "mac": self.mac,
        }
        rule = self.rule
        if rule.kind is None and not binary:
            rule = rule.effective
        if rule.kind is not None:
            out[rule.kind] = rule.value
        if self.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        out["version"] = self.version or WRITER_VERSION
        return out


__all__ = ["RULE_FIELDS", "AgeEntry", "Metadata"]
