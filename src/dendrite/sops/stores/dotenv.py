"""The dotenv store: flat KEY=VALUE strings, `#` comments, metadata flattened under `sops_`."""

from __future__ import annotations

from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.stores.base import Store, decode_text, flatten, unflatten
from dendrite.sops.tree import Branch
from dendrite.sops.values import Comment, Timestamp

_PREFIX = "sops_"


def _leaf_text(key: str, value: Any) -> str:
    if isinstance(value, Branch | list):
        raise SopsError(
            f"dotenv holds flat values only, but {key!r} is nested", hint="use --output-type yaml"
        )
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Timestamp):
        return value.text
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


class DotenvStore(Store):
    name = "dotenv"

    def load_plain(self, data: bytes, where: str) -> list[Branch]:
        text = decode_text(data, where, "dotenv")
        out = Branch()
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                out.items.append((Comment(line[1:]), None))
                continue
            key, eq, value = line.partition("=")
            if not eq or not key:
                raise SopsError(f"{where}:{n}: invalid dotenv line: expected KEY=VALUE")
            out.items.append((key, value.replace("\\n", "\n")))
        return [out]

    def dump_plain(self, branches: list[Branch]) -> bytes:
        lines = []
        for b in branches:
            for k, v in b.items:
                if isinstance(k, Comment):
                    lines.append("#" + k.text)
                else:
                    value = _leaf_text(k, v).replace("\n", "\\n")
                    lines.append(f"{k}={value}")
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") if lines else b""

    def load_encrypted(self, data: bytes, where: str) -> tuple[list[Branch], Any]:
        (branch,) = self.load_plain(data, where)
        flat = {k[len(_PREFIX) :]: v for k, v in branch.items if isinstance(k, str) and k.startswith(_PREFIX)}
        if not flat:
            raise SopsError(f"{where}: no sops_ metadata found: the file is not encrypted with sops")
        rest = Branch([(k, v) for k, v in branch.items if not (isinstance(k, str) and k.startswith(_PREFIX))])
        return [rest], unflatten(flat, where)

    def dump_encrypted(self, branches: list[Branch], metadata: dict[str, Any]) -> bytes:
        (branch,) = branches
        flat = flatten(metadata, _PREFIX)
        return self.dump_plain([Branch([*branch.items, *flat.items()])])
