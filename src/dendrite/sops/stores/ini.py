"""The INI store (read): sections of string values, metadata in a `[sops]` section."""

from __future__ import annotations

import configparser
from typing import Any

from dendrite.errors import SopsError
from dendrite.sops.stores.base import Store, decode_text, flatten, unflatten
from dendrite.sops.tree import Branch
from dendrite.sops.values import Timestamp


def _parse(data: bytes, where: str) -> Branch:
    text = decode_text(data, where, "INI")
    if text.lstrip() and not text.lstrip().startswith(("[", "#", ";")):
        text = "[DEFAULT]\n" + text  # go-ini puts keys before any section into DEFAULT
    cp = configparser.ConfigParser(
        interpolation=None,
        delimiters=("=", ":"),
        comment_prefixes=("#", ";"),
        strict=False,
        default_section="\x00no-default",
        empty_lines_in_values=False,
    )
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        cp.read_string(text, source=where)
    except configparser.Error as exc:
        raise SopsError(f"{where}: invalid INI: {str(exc).splitlines()[0]}") from None
    out = Branch()
    for section in cp.sections():
        out.items.append((section, Branch([(k, v) for k, v in cp.items(section, raw=True)])))
    return out


def _text(v: Any) -> str:
    if isinstance(v, Branch | list):
        raise SopsError("INI holds sections of flat values only", hint="use --output-type yaml")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Timestamp):
        return v.text
    return "" if v is None else str(v)


class IniStore(Store):
    name = "ini"

    def load_plain(self, data: bytes, where: str) -> list[Branch]:
        return [_parse(data, where)]

    def dump_plain(self, branches: list[Branch]) -> bytes:
        lines: list[str] = []
        for b in branches:
            for section, body in b.items:
                if not isinstance(section, str):
                    continue
                if not isinstance(body, Branch):
                    raise SopsError(f"INI needs sections at the top level, but {section!r} is a value")
                if lines:
                    lines.append("")
                lines.append(f"[{section}]")
                lines += [f"{k} = {_text(v)}" for k, v in body.items if isinstance(k, str)]
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""

    def load_encrypted(self, data: bytes, where: str) -> tuple[list[Branch], Any]:
        tree = _parse(data, where)
        meta = tree.get("sops")
        if not isinstance(meta, Branch):
            raise SopsError(f"{where}: no [sops] section found: the file is not encrypted with sops")
        flat = {k: str(v).replace("\\n", "\n") for k, v in meta.items if isinstance(k, str)}
        rest = Branch([(k, v) for k, v in tree.without("sops").items if k != "DEFAULT" or v.items])
        return [rest], unflatten(flat, where)

    def dump_encrypted(self, branches: list[Branch], metadata: dict[str, Any]) -> bytes:
        flat = {k: v.replace("\n", "\\n") for k, v in flatten(metadata, "").items()}
        (branch,) = branches
        return self.dump_plain([Branch([*branch.items, ("sops", Branch(list(flat.items())))])])
