"""`dendrite vars upload` against a real sshd on loopback: what arrives, cut connections, host keys.

Parity with clan: clan_lib/vars/secret_modules/sops.py (`SecretStore.populate_dir`, `upload`),
clan_lib/ssh/upload.py (`upload`: root-owned, directories 0700, files 0400), clan_lib/vars/upload.py
(`upload_secret_vars`, phases activation/users/services), clan_lib/ssh/host_key.py
(`hostkey_to_ssh_opts`). Where dendrite goes further (the switch by one rename), the test says so.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dendrite.deploy.ssh import Connection, SshConfig, Unreachable, connect, parse_address
from dendrite.deploy.upload import Payload, PayloadFile, UploadCut, upload
from dendrite.errors import CommandError
from dendrite.secrets.store import SecretsStore
from dendrite.vars import ops
from tests.conftest import Keys, run_cli
from tests.deploy.conftest import Sshd, make_clan, needs_sshd

pytestmark = needs_sshd


@pytest.fixture
def clan(tmp_path: Path, keys: Keys, sshd: Sshd) -> Path:
    root = make_clan(tmp_path / "repo", keys, sshd.address)
    done = run_cli(["--repo", str(root), "vars", "generate", "cinnabar"], keys.env)
    assert done.returncode == 0, done.stderr.decode()
    return root


def _tree(d: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry below d: relative path -> (content or None for a directory, mode, owner uid)."""
    out: dict[str, tuple[bytes | None, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(d):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
            out[str(p.relative_to(d))] = (data, stat.S_IMODE(st.st_mode), st.st_uid)
    return out


def test_upload_puts_clans_tree_in_place_owned_by_root(
    clan: Path, keys: Keys, sshd: Sshd, tmp_path: Path
) -> None:
    """clan's populate_dir + upload: key.txt, activation/<rel_dir>/<file> for neededFor=activation
    secrets only (not the `services` token), root-owned, dirs 0700, files 0400 whatever the declared
    mode. A directory clan left there (a real directory) is replaced by dendrite's link, in one step."""
    dest = tmp_path / "machine" / "var" / "lib" / "sops-nix"
    dest.mkdir(parents=True)
    (dest / "key.txt").write_text("the key clan uploaded last time")
    done = run_cli(
        ["--repo", str(clan), "vars", "upload", "cinnabar", "--upload-dir", str(dest), *sshd.options],
        keys.env,
    )
    assert done.returncode == 0, done.stderr.decode()
    store = SecretsStore(clan, keys.identities)
    assert dest.is_symlink()
    tree = _tree(dest.resolve())
    assert tree == {
        "key.txt": (store.get("cinnabar-age.key"), 0o400, 0),
        "activation": (None, 0o700, 0),
        "activation/per-machine": (None, 0o700, 0),
        "activation/per-machine/cinnabar": (None, 0o700, 0),
        "activation/per-machine/cinnabar/disk": (None, 0o700, 0),
        "activation/per-machine/cinnabar/disk/passphrase": (
            ops.get_var(clan, "cinnabar", "disk/passphrase", SecretsStore(clan, keys.identities)),
            0o400,
            0,
        ),
        "activation/shared": (None, 0o700, 0),
        "activation/shared/site": (None, 0o700, 0),
        "activation/shared/site/key": (b"site-secret", 0o400, 0),
    }
    assert stat.S_IMODE(dest.resolve().stat().st_mode) == 0o700
    # nothing else beside it: the legacy directory and the staging directory are gone
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted([dest.name, dest.resolve().name])


def test_directory_writes_the_declared_modes_and_refuses_a_non_empty_one(
    clan: Path, keys: Keys, tmp_path: Path
) -> None:
    """clan's `vars upload --directory` = populate_dir: key.txt 0600, each file with its declared mode."""
    out = tmp_path / "out"
    done = run_cli(["--repo", str(clan), "vars", "upload", "cinnabar", "--directory", str(out)], keys.env)
    assert done.returncode == 0, done.stderr.decode()
    assert stat.S_IMODE((out / "key.txt").stat().st_mode) == 0o600
    passphrase = out / "activation/per-machine/cinnabar/disk/passphrase"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o440
    assert passphrase.read_bytes() == ops.get_var(
        clan, "cinnabar", "disk/passphrase", SecretsStore(clan, keys.identities)
    )
    assert not (out / "activation/per-machine/cinnabar/api").exists()  # neededFor = services
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine").write_text("keep")
    done = run_cli(["--repo", str(clan), "vars", "upload", "cinnabar", "--directory", str(busy)], keys.env)
    assert done.returncode == 2
    assert b"is not empty" in done.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["mine"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".busy")) == []


def test_unknown_host_key_is_refused_unless_accept_new(
    clan: Path, keys: Keys, sshd: Sshd, tmp_path: Path
) -> None:
    """clan's hostkey_to_ssh_opts: strict refuses a host missing from known_hosts; accept-new records it."""
    known = tmp_path / "empty_known_hosts"
    known.write_text("")
    dest = tmp_path / "machine" / "sops"
    args = ["--repo", str(clan), "vars", "upload", "cinnabar", "--upload-dir", str(dest)]
    opts = ["-o", f"IdentityFile={sshd.identity}", "-o", f"UserKnownHostsFile={known}"]
    done = run_cli([*args, *opts], keys.env)
    assert done.returncode == 2
    assert b"Host key verification failed" in done.stderr
    assert b"Traceback" not in done.stderr
    assert not dest.exists() and not dest.parent.exists()
    done = run_cli([*args, *opts, "--host-key-check", "accept-new"], keys.env)
    assert done.returncode == 0, done.stderr.decode()
    assert sshd.host_pub.split()[1] in known.read_text()
    assert (dest / "key.txt").exists()


def test_unreachable_host_and_unknown_machine_exit_2(
    clan: Path, keys: Keys, sshd: Sshd, tmp_path: Path
) -> None:
    dest = tmp_path / "machine" / "sops"
    from tests.deploy.conftest import free_port

    port = free_port()  # nothing listens there
    args = ["--repo", str(clan), "vars", "upload", "cinnabar", "--upload-dir", str(dest), *sshd.options]
    done = run_cli([*args, "--target", f"root@127.0.0.1:{port}", "--connect-timeout", "3"], keys.env)
    assert done.returncode == 2
    assert f"cannot reach root@127.0.0.1:{port} over ssh".encode() in done.stderr
    assert b"Traceback" not in done.stderr
    done = run_cli(["--repo", str(clan), "vars", "upload", "cinnabr", *sshd.options], keys.env)
    assert done.returncode == 2
    assert b"machine 'cinnabr' is not in the inventory" in done.stderr
    assert not dest.parent.exists()


# ---- cut connections -------------------------------------------------------------------------------


def _payload(version: int) -> Payload:
    """A set whose every file names its version, with a large file so that the stream takes a while."""
    tag = f"v{version}:".encode()
    return Payload(
        "cinnabar",
        (
            PayloadFile("key.txt", tag + b"AGE-SECRET-KEY", 0o600),
            PayloadFile("activation/per-machine/cinnabar/disk/big", tag + os.urandom(3 * 1024 * 1024), 0o400),
            PayloadFile("activation/shared/site/key", tag + b"site", 0o400),
        ),
    )


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(16)


def _version_of(dest: Path) -> int:
    """The version of the complete set at dest; AssertionError for a mix, a missing file, or nothing."""
    for _ in range(50):  # the generation may be replaced while it is read: read the new one then
        try:
            gen = dest.parent / os.readlink(dest)
            files = sorted(str(p.relative_to(gen)) for p in gen.rglob("*") if p.is_file())
            tags = {p: _head(gen / p).split(b":", 1)[0] for p in files}
        except FileNotFoundError:
            continue
        assert files == [
            "activation/per-machine/cinnabar/disk/big",
            "activation/shared/site/key",
            "key.txt",
        ], files
        assert len(set(tags.values())) == 1, tags
        return int(next(iter(tags.values()))[1:])
    raise AssertionError(f"{dest} kept changing or pointed nowhere")


def _ssh_pids(control: Path) -> list[int]:
    """The local ssh processes of one connection (master and clients), by their ControlPath."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ssh\0") and f"ControlPath={control}".encode() in cmdline:
                pids.append(int(entry.name))
    return pids


def _remote_scripts_running() -> bool:
    out = subprocess.run(["pgrep", "-f", "dendrite-upload"], capture_output=True, check=False)
    return out.returncode == 0


def _attempt(conn: Connection, version: int, dest: Path, outcome: list[BaseException | None]) -> None:
    try:
        upload(conn, _payload(version), str(dest))
        outcome.append(None)
    except (UploadCut, Unreachable, CommandError) as exc:
        outcome.append(exc)


def test_cut_connections_leave_the_old_set_or_the_new_one(sshd: Sshd, tmp_path: Path) -> None:
    """Beyond clan (whose upload empties the directory before extracting): 24 connections cut at random
    moments, alternately by killing the local ssh processes and the server's session processes. After
    each, and at every moment a watcher looks, the destination holds one complete set: the previous
    one or the new one, never a mix, never nothing."""
    dest = tmp_path / "machine" / "var" / "sops-nix"
    address = parse_address(sshd.address)
    config = SshConfig("strict", sshd.ssh_options, 5)
    with connect(address, config) as conn:  # the first set, and how long an uncut upload takes
        started = time.monotonic()
        upload(conn, _payload(0), str(dest))
        whole = time.monotonic() - started
    assert _version_of(dest) == 0

    problems: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                _version_of(dest)
            except (AssertionError, OSError) as exc:
                problems.append(repr(exc))
            time.sleep(0.001)  # look often, but leave the two cores to ssh and sshd

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rng = random.Random(1313)
    current, cut_short = 0, 0
    try:
        for version in range(1, 25):
            outcome: list[BaseException | None] = []
            with connect(address, config) as conn:
                assert conn.control_path is not None
                worker = threading.Thread(target=_attempt, args=(conn, version, dest, outcome))
                worker.start()
                time.sleep(rng.uniform(0, whole * 1.2))
                victims = _ssh_pids(conn.control_path) if version % 2 else sshd.session_pids()
                for pid in victims:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                worker.join(timeout=60)
                assert not worker.is_alive()
            now = _version_of(dest)
            assert now in (current, version), (now, current, version)
            deadline = time.monotonic() + 20  # the remote side may still finish the switch it began
            while _remote_scripts_running() and time.monotonic() < deadline:
                time.sleep(0.05)
            settled = _version_of(dest)
            assert settled in (current, version), (settled, current, version)
            if outcome and outcome[0] is None:
                assert settled == version  # a reported success is a switched set
            cut_short += settled == current
            current = settled
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert problems == []
    assert cut_short >= 1  # the cuts did interrupt uploads: the test exercised the old-set side
    leftovers = [p.name for p in dest.parent.iterdir() if p.name.endswith(".new")]
    if current != 24:  # a later successful upload removes what killed runs left behind
        with connect(address, config) as conn:
            upload(conn, _payload(25), str(dest))
    assert sorted(p.name for p in dest.parent.iterdir()) == sorted([dest.name, os.readlink(dest)]), leftovers
