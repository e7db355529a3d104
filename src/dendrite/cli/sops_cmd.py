"""`dendrite sops …`: the sops CLI's encrypt/decrypt/updatekeys/rotate, for scripting and interop."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated

import typer

from dendrite import sops
from dendrite.cli.common import write_bytes
from dendrite.errors import InputError
from dendrite.fsutil import atomic_write, read_regular_file
from dendrite.repofs import describe_mode
from dendrite.sops.rules import CryptRule

app = typer.Typer(
    help="Encrypt and decrypt SOPS files natively (age recipients), like the sops CLI.", no_args_is_help=True
)

TypeOpt = typer.Option(help="binary, json, yaml, dotenv or ini (default: from the file extension).")
InPlaceOpt = Annotated[bool, typer.Option("--in-place", "-i", help="Replace the file instead of printing.")]
AgeOpt = typer.Option("--age", help="Comma-separated age recipients (default: $SOPS_AGE_RECIPIENTS).")


# The largest file `dendrite sops` reads: sops files are configuration, and a binary secret of a few
# MiB is already large. Without a cap a link to /dev/zero (git stores links) fills the memory.
FILE_LIMIT = 64 * 1024 * 1024
# A stream named as such (`< file` as /dev/stdin, `<(cmd)` as /dev/fd/63) is read as one: the user
# asked for it. Any other FIFO or device is refused without blocking (a FIFO planted where a sops file
# belongs would wait for a writer forever; /dev/zero never ends).
_STREAM = re.compile(r"/dev/stdin|/dev/fd/[0-9]+|/proc/self/fd/[0-9]+")


def _read(path: Path) -> bytes:
    try:
        if _STREAM.fullmatch(str(path)):
            with path.open("rb") as stream:
                data = stream.read(FILE_LIMIT + 1)
            if len(data) > FILE_LIMIT:
                raise InputError(
                    f"{path} holds more than {FILE_LIMIT:,} bytes, dendrite's limit for a sops file"
                )
            return data
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{path} is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(
                f"{path} is a {describe_mode(st.st_mode)}, not a regular file",
                hint="name a sops file; a stream is read only as /dev/stdin (`< FILE`) or /dev/fd/N",
            )
        return read_regular_file(path, limit=FILE_LIMIT)
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _replaceable(path: Path) -> None:
    """Refuse, before reading anything, to replace a stream in place: `/dev/stdin` is a link in /dev,
    and renaming a file over it (as root) would replace it for every process of the machine."""
    if _STREAM.fullmatch(str(path)):
        raise InputError(
            f"{path} is a stream and cannot be replaced in place", hint="name the sops file itself"
        )


def _recipients(age: str | None) -> list[str]:
    raw = age if age is not None else os.environ.get("SOPS_AGE_RECIPIENTS", "")
    items = [r.strip() for r in raw.split(",") if r.strip()]
    if not items:
        raise InputError(
            "no age recipients given", hint="pass --age age1...,age1... or set SOPS_AGE_RECIPIENTS"
        )
    return items


def _fmt(given: str | None, path: Path) -> str:
    if given is not None and given not in sops.FORMATS:
        raise InputError(f"unknown type {given!r}", hint="use one of: " + ", ".join(sops.FORMATS))
    return given or sops.format_for_path(path)


def _output(path: Path, data: bytes, in_place: bool) -> None:
    if in_place:
        atomic_write(path, data, mode=path.stat().st_mode & 0o777)
    else:
        write_bytes(data)


@app.command("encrypt")
def encrypt(
    file: Path,
    age: Annotated[str | None, AgeOpt] = None,
    input_type: Annotated[str | None, TypeOpt] = None,
    output_type: Annotated[str | None, TypeOpt] = None,
    in_place: InPlaceOpt = False,
    encrypted_regex: Annotated[
        str | None, typer.Option(help="Encrypt only keys matching this regex.")
    ] = None,
    unencrypted_suffix: Annotated[
        str | None, typer.Option(help="Leave keys with this suffix in cleartext.")
    ] = None,
    mac_only_encrypted: Annotated[
        bool, typer.Option(help="Compute the MAC over encrypted values only.")
    ] = False,
) -> None:
    """Encrypt FILE for the age recipients."""
    if in_place:
        _replaceable(file)
    if encrypted_regex and unencrypted_suffix:
        raise InputError(
            "--encrypted-regex and --unencrypted-suffix cannot be combined", hint="sops allows one rule"
        )
    rule = CryptRule()
    if encrypted_regex:
        rule = CryptRule("encrypted_regex", encrypted_regex)
    elif unencrypted_suffix:
        rule = CryptRule("unencrypted_suffix", unencrypted_suffix)
    in_fmt = _fmt(input_type, file)
    data = sops.encrypt(
        _read(file),
        _recipients(age),
        input_format=in_fmt,
        output_format=_fmt(output_type, file) if output_type else in_fmt,
        rule=rule,
        mac_only_encrypted=mac_only_encrypted,
        where=str(file),
    )
    _output(file, data, in_place)


@app.command("decrypt")
def decrypt(
    file: Path,
    input_type: Annotated[str | None, TypeOpt] = None,
    output_type: Annotated[str | None, TypeOpt] = None,
    extract: Annotated[str | None, typer.Option(help='Print one value, e.g. \'["db"]["password"]\'.')] = None,
    in_place: InPlaceOpt = False,
) -> None:
    """Decrypt FILE with your age identities, verifying the MAC."""
    if in_place:
        _replaceable(file)
    in_fmt = _fmt(input_type, file)
    out_fmt = _fmt(output_type, file) if output_type else in_fmt
    data = sops.decrypt(
        _read(file),
        sops.discover_identities(),
        input_format=in_fmt,
        output_format=out_fmt,
        extract_path=sops.parse_extract(extract) if extract else None,
        where=str(file),
    )
    _output(file, data, in_place)


@app.command("updatekeys")
def updatekeys(
    file: Path,
    age: Annotated[str | None, AgeOpt] = None,
    input_type: Annotated[str | None, TypeOpt] = None,
) -> None:
    """Re-wrap FILE's data key for a new recipient set; the values are untouched."""
    _replaceable(file)
    fmt = _fmt(input_type, file)
    new = sops.updatekeys(_read(file), _recipients(age), sops.discover_identities(), fmt=fmt, where=str(file))
    atomic_write(file, new, mode=file.stat().st_mode & 0o777)


@app.command("rotate")
def rotate(
    file: Path,
    input_type: Annotated[str | None, TypeOpt] = None,
    in_place: InPlaceOpt = False,
) -> None:
    """Encrypt FILE again under a fresh data key (same recipients)."""
    if in_place:
        _replaceable(file)
    fmt = _fmt(input_type, file)
    data = sops.rotate(_read(file), sops.discover_identities(), fmt=fmt, where=str(file))
    _output(file, data, in_place)
