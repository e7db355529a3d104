"""Tampering is detected and named; a wrong key says whose keys were tried and who the recipients are."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dendrite import sops
from dendrite.errors import MacMismatchError, NoKeyError, SopsError
from tests.conftest import Keys, new_key, run_sops

SRC = b"db:\n  password: hunter2\n  user: admin\nport: 5432\nnote_unencrypted: hello\nlist: [a, b]\n"


@pytest.fixture
def encrypted(tmp_path: Path, keys: Keys, sops_bin: str) -> Path:
    f = tmp_path / "t.yaml"
    f.write_bytes(SRC)
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env)
    return f


def _decrypt(f: Path, keys: Keys) -> None:
    sops.decrypt(f.read_bytes(), keys.identities, input_format="yaml", where=str(f))


def test_untouched_file_decrypts(encrypted: Path, keys: Keys) -> None:
    _decrypt(encrypted, keys)


def _flip_ciphertext(text: str) -> str:
    m = re.search(r"(password: ENC\[AES256_GCM,data:)([A-Za-z0-9+/]+)", text)
    assert m
    data = m.group(2)
    swapped = ("A" if data[0] != "A" else "B") + data[1:]
    return text.replace(m.group(0), m.group(1) + swapped)


@pytest.mark.parametrize(
    "mutate,error",
    [
        (_flip_ciphertext, SopsError),
        (lambda t: t.replace("note_unencrypted: hello", "note_unencrypted: hellO"), MacMismatchError),
        (lambda t: re.sub(r"\n    user: ENC\[[^\n]*", "", t), MacMismatchError),
        (lambda t: t.replace("port: ENC", "prt: ENC"), SopsError),
        (lambda t: re.sub(r"- ENC\[[^\n]*\n", "", t, count=1), MacMismatchError),
    ],
    ids=["ciphertext", "unencrypted-value", "removed-leaf", "renamed-key", "removed-list-item"],
)
def test_tampering_fails_naming_the_file(encrypted: Path, keys: Keys, mutate, error) -> None:  # type: ignore[no-untyped-def]
    text = encrypted.read_text()
    changed = mutate(text)
    assert changed != text
    encrypted.write_text(changed)
    with pytest.raises(error) as info:
        _decrypt(encrypted, keys)
    assert str(encrypted) in info.value.message


def test_swapped_values_fail_because_the_path_is_the_aad(encrypted: Path, keys: Keys) -> None:
    text = encrypted.read_text()
    pw = re.search(r"password: (ENC\[[^\n]*\])", text).group(1)  # type: ignore[union-attr]
    user = re.search(r"user: (ENC\[[^\n]*\])", text).group(1)  # type: ignore[union-attr]
    encrypted.write_text(
        text.replace(f"password: {pw}", "password: X")
        .replace(f"user: {user}", f"user: {pw}")
        .replace("password: X", f"password: {user}")
    )
    with pytest.raises(SopsError, match="fails authentication"):
        _decrypt(encrypted, keys)


def test_changed_mac_fails(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "m.json"
    f.write_bytes(sops.encrypt(b'{"a": "b"}', [keys.a.public], input_format="json"))
    doc = json.loads(f.read_text())
    doc["sops"]["lastmodified"] = "2020-01-01T00:00:00Z"
    f.write_text(json.dumps(doc))
    with pytest.raises(MacMismatchError, match=re.escape(str(f))):
        sops.decrypt(f.read_bytes(), keys.identities, input_format="json", where=str(f))


def test_wrong_key_names_identities_and_recipients(encrypted: Path, keys: Keys) -> None:
    stranger = new_key()
    ids = sops.identities_from_text(stranger.secret, "stranger.txt")
    with pytest.raises(NoKeyError) as info:
        sops.decrypt(encrypted.read_bytes(), ids, input_format="yaml", where=str(encrypted))
    msg = info.value.message
    assert stranger.public in msg and keys.a.public in msg and str(encrypted) in msg
