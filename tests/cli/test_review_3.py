"""A third review of `secrets get`, its fast path (cli/fast.py) and `sops decrypt`, as an attacker who
writes the repository and as a newcomer; one test per finding.

- `dendrite sops decrypt FILE` read FILE with no check and no cap: a FIFO planted in a repository
  (`sops decrypt sops/secrets/x/secret`, as the README shows with the real sops) waited forever, and a
  link to /dev/zero (git stores links) read until the memory ran out. `--in-place` of a stream
  (`-i /dev/stdin`) would rename a file over /dev/stdin, as root for the whole machine.
- A recipient in a secret file's metadata holding a newline, an ESC and a right-to-left override was
  printed inside the "none of your age identities can decrypt it" error as it was: a second `error:`
  line dendrite never wrote, and text the terminal shows reordered. So was a key of a sops JSON file in
  "value at '…' is not a sops ENC[...] value".
- `secrets get` of a FIFO, link or directory planted as `sops/secrets/x/secret` said the secret "does
  not exist (… is missing)"; `secrets set` over one said "is a other where a file belongs".
- An age entry of 60,000 stanzas (8 MB, labelled with the admin's public key, which sops/users shows)
  kept `secrets get` busy for over a minute: age tries every stanza. 30,000 entries took 3.4 s per
  identity of the admin's key file, and the error listed all 30,000 recipients (1.7 MB).
- A store file of another shape (plain JSON, no `data`) got the sops CLI's hint "check the
  --input-type", an option no `secrets` or `vars` command has.
- Run in a working directory that was removed, or with `-C` naming a symbolic link loop, every command
  that needs a repository (`secrets get` on either path included) was "internal error", exit 70.
- With stdout closed (`>&-`) every command that prints ended in "internal error: AttributeError", exit
  70, as if dendrite had a bug; `--version` in a traceback. A full disk under `>` said "cannot write a
  file". With stderr closed (`2>&-`) a refused command exited 1, not 2.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pyrage
import pytest

from dendrite.cli import fast
from dendrite.cli.console import visible
from dendrite.errors import NoKeyError
from dendrite.sops import age
from dendrite.sops.metadata import AgeEntry
from tests.cli.test_fast import DENDRITE, TYPER
from tests.conftest import Keys

TIMEOUT = 30
SPOOF = "age1evil\x1b]0;pwned\x07\x1b[2J\nerror: GO \u202eOG-ON"


def _run(
    args: list[str], keys: Keys, cwd: Path, *, stdin: bytes | None = None, typer: bool = False
) -> subprocess.CompletedProcess[bytes]:
    argv = [sys.executable, "-c", TYPER, *args] if typer else [DENDRITE, *args]
    return subprocess.run(
        argv, env=keys.env, cwd=cwd, capture_output=True, input=stdin, check=False, timeout=TIMEOUT
    )


def _one_sentence(res: subprocess.CompletedProcess[bytes], *words: str) -> str:
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), err
    assert len(lines) == 1 or lines[1].startswith("hint: "), err
    for w in words:
        assert w in err, (w, err)
    return err


def _limit_memory() -> None:
    """A child that reads without end fails with MemoryError instead of taking the machine's memory."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


# ---- sops decrypt FILE: special files and the size cap ----------------------------------------------


def test_sops_decrypt_refuses_a_fifo_at_once(one_secret_repo: Path, keys: Keys) -> None:
    planted = one_secret_repo / "sops/secrets/db-password/secret"
    planted.unlink()
    os.mkfifo(planted)
    res = _run(["sops", "decrypt", "sops/secrets/db-password/secret"], keys, one_secret_repo)
    _one_sentence(res, "sops/secrets/db-password/secret is a FIFO, not a regular file", "/dev/stdin")


def test_sops_decrypt_refuses_a_link_to_a_device(one_secret_repo: Path, keys: Keys) -> None:
    planted = one_secret_repo / "sops/secrets/db-password/secret"
    planted.unlink()
    planted.symlink_to("/dev/zero")
    res = subprocess.run(
        [DENDRITE, "sops", "decrypt", str(planted)],
        env=keys.env,
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )
    _one_sentence(res, "is a device, not a regular file")


def test_sops_decrypt_refuses_a_file_over_the_cap_without_reading_it(
    one_secret_repo: Path, keys: Keys
) -> None:
    from dendrite.cli.sops_cmd import FILE_LIMIT

    big = one_secret_repo / "big.json"
    with big.open("wb") as f:
        f.truncate(FILE_LIMIT + 1)  # sparse: nothing is written to the disk
    res = _run(["sops", "decrypt", "big.json"], keys, one_secret_repo)
    _one_sentence(res, "big.json is", "over dendrite's limit of 67,108,864")


def test_sops_decrypt_still_reads_a_stream_named_as_one(one_secret_repo: Path, keys: Keys) -> None:
    """`< FILE` as /dev/stdin (and `<(cmd)` as /dev/fd/N) stays a way to give a sops file."""
    data = (one_secret_repo / "sops/secrets/db-password/secret").read_bytes()
    res = _run(["sops", "decrypt", "--input-type", "binary", "/dev/stdin"], keys, one_secret_repo, stdin=data)
    assert (res.returncode, res.stdout) == (0, b"hunter2"), res.stderr


def test_a_stream_is_never_replaced_in_place(one_secret_repo: Path, keys: Keys) -> None:
    """/dev/fd/0 here: without the refusal the write fails inside /proc; /dev/stdin would be replaced."""
    data = (one_secret_repo / "sops/secrets/db-password/secret").read_bytes()
    args = ["sops", "decrypt", "--input-type", "binary", "--in-place", "/dev/fd/0"]
    res = _run(args, keys, one_secret_repo, stdin=data)
    _one_sentence(res, "/dev/fd/0 is a stream and cannot be replaced in place")
    assert res.stdout == b""


# ---- text from a secret file's metadata in an error ------------------------------------------------


def _spoofed(repo: Path) -> Path:
    path = repo / "sops/secrets/db-password/secret"
    doc = json.loads(path.read_text())
    doc["sops"]["age"] = [{"recipient": SPOOF, "enc": doc["sops"]["age"][0]["enc"][:50]}]  # opens for no key
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("typer", [False, True], ids=["fast path", "typer"])
def test_a_recipient_cannot_write_lines_or_reorder_the_error(
    one_secret_repo: Path, keys: Keys, typer: bool
) -> None:
    _spoofed(one_secret_repo)
    args = ["secrets", "get", "db-password"]
    assert fast.request(args, keys.env) is not None
    res = _run(args, keys, one_secret_repo, typer=typer)
    err = _one_sentence(res, "its recipients are 'age1evil", "\\nerror: GO \\u202eOG-ON'")
    assert "\x1b" not in err and "\u202e" not in err, err


def test_sops_decrypt_shows_the_recipient_escaped(one_secret_repo: Path, keys: Keys) -> None:
    path = _spoofed(one_secret_repo)
    res = _run(["sops", "decrypt", str(path)], keys, one_secret_repo)
    err = _one_sentence(res, "its recipients are 'age1evil")
    assert "\x1b" not in err and "\u202e" not in err, err


@pytest.mark.parametrize(
    "value", ["ENC[AES256_GCM,data:zz,iv:a,tag:b,type:str]", "ENC[bogus]"], ids=["bad base64", "no envelope"]
)
def test_a_key_of_a_sops_file_cannot_write_lines(one_secret_repo: Path, keys: Keys, value: str) -> None:
    doc = json.loads((one_secret_repo / "sops/secrets/db-password/secret").read_text())
    (one_secret_repo / "planted.json").write_text(json.dumps({SPOOF: value, "sops": doc["sops"]}))
    res = _run(["sops", "decrypt", "planted.json"], keys, one_secret_repo)
    err = _one_sentence(res, "value at 'age1evil", "\\nerror: GO \\u202eOG-ON:'")
    assert "\x1b" not in err and "\u202e" not in err, err


def test_visible_escapes_characters_that_reorder_or_hide_text() -> None:
    shown = visible("GO\u202eOG-ON \u2066x\u2069 a\u200bb \x1b[2J\x85 tab\tline\n")
    assert shown == "GO\\u202eOG-ON \\u2066x\\u2069 a\\u200bb \\x1b[2J\\x85 tab\tline\n"


# ---- a special file planted as the secret -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["FIFO", "symbolic link", "directory"])
def test_a_planted_secret_file_is_named_for_what_it_is(one_secret_repo: Path, keys: Keys, kind: str) -> None:
    planted = one_secret_repo / "sops/secrets/db-password/secret"
    planted.unlink()
    if kind == "FIFO":
        os.mkfifo(planted)
    elif kind == "symbolic link":
        planted.symlink_to("../../../sops/users/alice/key.json")
    else:
        planted.mkdir()
    args = ["secrets", "get", "db-password"]
    quick, typer = (_run(args, keys, one_secret_repo, typer=t) for t in (False, True))
    assert (quick.returncode, quick.stdout, quick.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    err = _one_sentence(quick, f"sops/secrets/db-password/secret in {one_secret_repo} is a {kind}, not a")
    assert "does not exist" not in err and "missing" not in err, err


def test_secrets_set_over_a_planted_fifo_says_fifo(one_secret_repo: Path, keys: Keys) -> None:
    planted = one_secret_repo / "sops/secrets/db-password/secret"
    planted.unlink()
    os.mkfifo(planted)
    res = _run(["secrets", "set", "db-password"], keys, one_secret_repo, stdin=b"x")
    _one_sentence(res, "is a FIFO where a file belongs; nothing was changed")


# ---- standard output closed or full -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["secrets", "get", "db-password"], ["secrets", "list"], ["--version"]],
    ids=["secrets get (fast path)", "secrets list", "--version"],
)
def test_a_closed_stdout_is_one_sentence(one_secret_repo: Path, keys: Keys, args: list[str]) -> None:
    res = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", DENDRITE, *args],
        env=keys.env,
        cwd=one_secret_repo,
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )
    _one_sentence(res, "cannot write to standard output: it is closed")


def test_a_closed_stdout_is_the_same_on_the_typer_path(one_secret_repo: Path, keys: Keys) -> None:
    args = ["secrets", "get", "db-password"]
    ran = [
        subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *argv, *args],
            env=keys.env,
            cwd=one_secret_repo,
            capture_output=True,
            check=False,
            timeout=TIMEOUT,
        )
        for argv in ([DENDRITE], [sys.executable, "-c", TYPER])
    ]
    assert (ran[0].returncode, ran[0].stderr) == (ran[1].returncode, ran[1].stderr)


@pytest.mark.parametrize("typer", [False, True], ids=["fast path", "typer"])
def test_a_closed_stderr_keeps_the_exit_code(one_secret_repo: Path, keys: Keys, typer: bool) -> None:
    argv = [sys.executable, "-c", TYPER] if typer else [DENDRITE]
    res = subprocess.run(
        ["sh", "-c", 'exec "$@" 2>&-', "sh", *argv, "secrets", "get", "db-pasword"],
        env=keys.env,
        cwd=one_secret_repo,
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )
    assert (res.returncode, res.stdout) == (2, b"")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_stdout_names_standard_output(one_secret_repo: Path, keys: Keys) -> None:
    with open("/dev/full", "wb") as full:
        res = subprocess.run(
            [DENDRITE, "secrets", "get", "db-password"],
            env=keys.env,
            cwd=one_secret_repo,
            stdout=full,
            stderr=subprocess.PIPE,
            check=False,
            timeout=TIMEOUT,
        )
    _one_sentence(res, "cannot write standard output: no space left on device")


# ---- age entries: many stanzas, many entries ---------------------------------------------------------


def _armored(recipients: list[str]) -> str:
    """An age file of a 32-byte key for `recipients` (one stanza each), armored as sops stores it."""
    raw = base64.b64encode(
        pyrage.encrypt(b"k" * 32, [pyrage.x25519.Recipient.from_str(r) for r in recipients])
    )
    body = "\n".join(raw[i : i + 64].decode() for i in range(0, len(raw), 64))
    return f"-----BEGIN AGE ENCRYPTED FILE-----\n{body}\n-----END AGE ENCRYPTED FILE-----\n"


def _with_entries(repo: Path, entries: list[dict[str, str]]) -> None:
    path = repo / "sops/secrets/db-password/secret"
    doc = json.loads(path.read_text())
    doc["sops"]["age"] = entries
    path.write_text(json.dumps(doc))


def _strangers(n: int) -> list[str]:
    return [str(pyrage.x25519.Identity.generate().to_public()) for _ in range(n)]


def test_an_entry_of_thousands_of_stanzas_is_refused_before_age_tries_them(
    one_secret_repo: Path, keys: Keys
) -> None:
    entry = _armored(_strangers(3000))
    _with_entries(one_secret_repo, [{"recipient": keys.a.public, "enc": entry}])
    res = _run(["secrets", "get", "db-password"], keys, one_secret_repo)
    _one_sentence(res, f"the age entry for {keys.a.public} is", "over dendrite's limit of 4,096")


def test_thousands_of_entries_are_named_in_one_short_sentence(one_secret_repo: Path, keys: Keys) -> None:
    enc = _armored(_strangers(1))
    _with_entries(one_secret_repo, [{"recipient": r, "enc": enc} for r in _strangers(300)])
    res = _run(["secrets", "get", "db-password"], keys, one_secret_repo)
    err = _one_sentence(res, "none of your age identities", "and 292 more")
    assert len(err) < 2000, len(err)


def test_only_a_bounded_number_of_entries_is_tried(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted at the real pyrage.decrypt: 300 entries for strangers, 300 more labelled with our key."""
    enc = _armored(_strangers(1))
    entries = [AgeEntry(r, enc) for r in _strangers(300)] + [AgeEntry(keys.a.public, enc)] * 300
    tried = []
    real = pyrage.decrypt

    def counting(data: bytes, identities: list[object]) -> bytes:
        tried.append(len(identities))
        return real(data, identities)

    monkeypatch.setattr(pyrage, "decrypt", counting)
    with pytest.raises(NoKeyError):
        age.unwrap_data_key(entries, keys.identities, "x")
    assert len(tried) == 2 * age.TRIES, len(tried)


# ---- a store file of another shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"not json", b'{"a": 1, "b": 2}', b"\xff\xfe"], ids=["not JSON", "no sops", "not UTF-8"]
)
def test_a_store_file_of_another_shape_gets_a_hint_for_secrets(
    one_secret_repo: Path, keys: Keys, content: bytes
) -> None:
    (one_secret_repo / "sops/secrets/db-password/secret").write_bytes(content)
    err = _one_sentence(_run(["secrets", "get", "db-password"], keys, one_secret_repo), "db-password/secret")
    assert "--input-type" not in err and "--output-type" not in err, err
    assert "hint: a stored secret is a sops binary file" in err, err


# ---- where the repository is looked for --------------------------------------------------------------


@pytest.mark.parametrize("typer", [False, True], ids=["fast path", "typer"])
def test_a_removed_working_directory_is_one_sentence(tmp_path: Path, keys: Keys, typer: bool) -> None:
    argv = [sys.executable, "-c", TYPER] if typer else [DENDRITE]
    res = subprocess.run(
        [
            "sh",
            "-c",
            'mkdir gone && cd gone && rmdir ../gone && exec "$@"',
            "sh",
            *argv,
            "secrets",
            "get",
            "x",
        ],
        env=keys.env,
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )
    _one_sentence(res, "the working directory no longer exists")


@pytest.mark.parametrize("typer", [False, True], ids=["fast path", "typer"])
def test_a_symbolic_link_loop_as_the_repository_is_one_sentence(
    tmp_path: Path, keys: Keys, typer: bool
) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    args = ["-C", str(tmp_path / "a"), "secrets", "get", "x"]
    assert fast.request(args, keys.env) is not None
    res = _run(args, keys, tmp_path, typer=typer)
    _one_sentence(res, f"repository {tmp_path / 'a'} cannot be used: a symbolic link loop")
