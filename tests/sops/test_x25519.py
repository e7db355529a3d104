"""`dendrite.sops.x25519`: a data key opened without pyrage is exactly pyrage's, or not answered at all.

The property that makes the fast path safe: for any input, `open_data_key` returns either None (pyrage
then decides, and words any error) or the very bytes pyrage's `decrypt` returns; never a key pyrage
would refuse to give.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyrage
from hypothesis import given, settings
from hypothesis import strategies as st

from dendrite.sops.age import identities_from_text, wrap_data_key
from dendrite.sops.x25519 import open_data_key
from tests.conftest import Keys, new_key, run_sops

OURS = pyrage.x25519.Identity.generate()
SECRET, PUBLIC = str(OURS), str(OURS.to_public())
OTHER = str(pyrage.x25519.Identity.generate().to_public())


def _pyrage(enc: str) -> bytes | None:
    try:
        return bytes(pyrage.decrypt(enc.encode("ascii", "replace"), [OURS]))
    except (pyrage.DecryptError, ValueError, TypeError):
        return None


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_an_entry_as_sops_writes_it_opens_to_pyrages_key(data_key: bytes) -> None:
    (entry,) = wrap_data_key(data_key, [PUBLIC])  # pyrage's armored age file, as sops stores it
    assert open_data_key(entry.enc, SECRET, PUBLIC) == data_key == _pyrage(entry.enc)


@settings(max_examples=600, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=0),
    st.sampled_from(["replace", "delete", "insert"]),
    st.sampled_from("AaZz09+/=-\n >X"),
)
def test_a_changed_entry_is_never_opened_to_anything_pyrage_would_not_give(
    data_key: bytes, where: int, how: str, char: str
) -> None:
    (entry,) = wrap_data_key(data_key, [PUBLIC])
    i = where % len(entry.enc)
    if how == "replace":
        enc = entry.enc[:i] + char + entry.enc[i + 1 :]
    elif how == "delete":
        enc = entry.enc[:i] + entry.enc[i + 1 :]
    else:
        enc = entry.enc[:i] + char + entry.enc[i:]
    got = open_data_key(enc, SECRET, PUBLIC)
    assert got is None or got == _pyrage(enc)


def test_another_recipients_entry_and_a_mismatched_identity_are_not_answered() -> None:
    (theirs,) = wrap_data_key(bytes(32), [OTHER])
    assert open_data_key(theirs.enc, SECRET, PUBLIC) is None
    (mine,) = wrap_data_key(bytes(32), [PUBLIC])
    assert open_data_key(mine.enc, SECRET, OTHER) is None  # the secret does not yield that public key
    assert open_data_key(mine.enc, "AGE-SECRET-KEY-1QQQ", PUBLIC) is None


def test_entries_the_real_sops_wrote_are_opened_by_the_fast_path(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    """sops writes one armored age file per recipient (sops/age/keysource.go, MasterKey.Encrypt):
    the fast path must answer for what sops writes, not leave every real file to pyrage."""
    f = tmp_path / "secret"
    f.write_bytes(b"hunter2")
    third = new_key()
    run_sops(
        sops_bin,
        [
            "encrypt",
            "--input-type",
            "binary",
            "--age",
            f"{keys.a.public},{third.public}",
            "--in-place",
            str(f),
        ],
        keys.env,
    )
    ident = identities_from_text(keys.a.secret).items[0]
    entries = json.loads(f.read_bytes())["sops"]["age"]
    (enc,) = [e["enc"] for e in entries if e["recipient"] == keys.a.public]
    key = open_data_key(enc, str(ident.secret), ident.public)
    assert key is not None and len(key) == 32
    assert key == bytes(pyrage.decrypt(enc.encode(), [ident.secret]))
    (others,) = [e["enc"] for e in entries if e["recipient"] == third.public]
    assert open_data_key(others, str(ident.secret), ident.public) is None
