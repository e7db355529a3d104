"""The re-wrap of a large batch on both cores (`rekey._rewrap_all`): the parent and a worker claim
chunks from one pipe; every result must land at its own secret's place, a failure travels back as
that secret's error, whichever process met it."""

from __future__ import annotations

import json
from pathlib import Path

from dendrite.secrets import rekey
from dendrite.sops import encrypt, identities_from_text
from dendrite.sops.document import decrypt_document
from dendrite.sops.stores import store_for
from tests.conftest import AgeKey, clean_env, new_key, run_sops


def _batch() -> tuple[list[rekey.Job], set[int], AgeKey, AgeKey]:
    admin, newcomer, stranger = new_key(), new_key(), new_key()
    n = rekey._PARALLEL_FROM + 3 * rekey._CHUNK + 7  # over the threshold; the last chunk is short
    foreign = {1, n - 2}  # one near the front (a worker's), one at the back (the parent's)
    jobs: list[rekey.Job] = []
    for i in range(n):
        owner = stranger.public if i in foreign else admin.public
        data = encrypt(f"value {i}".encode(), [owner], where=f"s{i}")
        # half the jobs carry the file's JSON as find_drift parsed it, half leave rewrap to parse it
        doc = json.loads(data) if i % 2 else None
        jobs.append((data, sorted([admin.public, newcomer.public]), f"s{i}", doc))
    return jobs, foreign, admin, newcomer


def _check(results: list[rekey.Result], n: int, foreign: set[int], newcomer: AgeKey) -> None:
    assert len(results) == n
    mine = identities_from_text(newcomer.secret)
    for i, result in enumerate(results):
        if i in foreign:
            assert isinstance(result, tuple) and result[0] == "NoKeyError" and f"s{i}" in result[1]
            continue
        assert isinstance(result, bytes), result
        doc = decrypt_document(result, "binary", mine, where=f"s{i}")
        assert store_for("binary").dump_plain(doc.branches) == f"value {i}".encode()


def test_a_large_batch_is_rewrapped_in_order_and_the_real_sops_decrypts_it(
    tmp_path: Path, sops_bin: str
) -> None:
    """clan re-keys with `sops updatekeys` per file (clan_cli/secrets/secrets.py, update_keys); the
    newcomer must decrypt each re-keyed secret to its own value, as the sops binary does."""
    jobs, foreign, admin, newcomer = _batch()
    n = len(jobs)
    results = rekey._rewrap_all(jobs, identities_from_text(admin.secret))
    _check(results, n, foreign, newcomer)
    key_file = tmp_path / "newcomer.txt"
    key_file.write_text(f"{newcomer.secret}\n")
    env = clean_env({"SOPS_AGE_KEY_FILE": str(key_file)}, tmp_path / "home")
    for i in (0, n // 2, n - 1):
        secret = tmp_path / f"s{i}" / "secret"
        secret.parent.mkdir()
        bytes_ = results[i]
        assert isinstance(bytes_, bytes)
        secret.write_bytes(bytes_)
        assert run_sops(sops_bin, ["decrypt", str(secret)], env).stdout == f"value {i}".encode()
