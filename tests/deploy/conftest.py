"""A real OpenSSH server on a loopback port and a small clan repository with activation secrets.

The server is Debian's /usr/sbin/sshd, started by the test as root with a throwaway host key and a
throwaway user key (`UsePAM no`, `StrictModes no`, keys in the test's directory). The "machine" it
stands for is this host: its secretUploadDirectory is a directory below the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from tests.conftest import Keys

SSHD = "/usr/sbin/sshd"

needs_sshd = pytest.mark.skipif(
    not (os.path.exists(SSHD) and shutil.which("ssh") and os.geteuid() == 0),
    reason="needs Debian's openssh-server (/usr/sbin/sshd), the ssh client, and root to run sshd",
)


@dataclass(frozen=True)
class Sshd:
    port: int
    dir: Path
    identity: Path
    known_hosts: Path  # holds the server's host key
    host_pub: str
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"root@127.0.0.1:{self.port}"

    @property
    def options(self) -> list[str]:
        """The CLI's -o options that reach this server with strict host key checking."""
        return ["-o", f"IdentityFile={self.identity}", "-o", f"UserKnownHostsFile={self.known_hosts}"]

    @property
    def ssh_options(self) -> tuple[str, ...]:
        return (f"IdentityFile={self.identity}", f"UserKnownHostsFile={self.known_hosts}")

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False)
        return [int(x) for x in out.stdout.split()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def start_sshd(d: Path, nix_conf_dir: Path | None = None) -> Sshd:
    d.mkdir(parents=True, exist_ok=True)
    _keygen(d / "host_key")
    _keygen(d / "user_key")
    shutil.copy(d / "user_key.pub", d / "authorized_keys")
    port = free_port()
    config = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {d / 'host_key'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "PidFile none",
        "UsePAM no",
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "MaxStartups 100",
        "MaxSessions 100",
    ]
    if nix_conf_dir is not None:  # the remote nix commands read the test's nix.conf (no substituters)
        config.append(f"SetEnv NIX_CONF_DIR={nix_conf_dir}")
    (d / "sshd_config").write_text("\n".join(config) + "\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")])
    host_pub = " ".join((d / "host_key.pub").read_text().split()[:2])
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"sshd did not start: {(d / 'sshd.log').read_text()}") from None
            time.sleep(0.05)
    return Sshd(port, d, d / "user_key", d / "known_hosts", host_pub, proc)


def stop_sshd(s: Sshd) -> None:
    for pid in s.session_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    s.proc.terminate()
    s.proc.wait(timeout=10)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    s = start_sshd(tmp_path / "sshd", nix_conf_dir())
    yield s
    stop_sshd(s)


def nix_conf_dir() -> Path:
    """A nix.conf for offline builds as root without build users (Debian's nix-bin in a container)."""
    d = Path(os.environ.get("PYTEST_DEPLOY_NIX_CONF", "/tmp/dendrite-deploy-test-nixconf"))
    d.mkdir(exist_ok=True)
    (d / "nix.conf").write_text(
        "substituters =\nbuild-users-group =\nsandbox = false\nexperimental-features = nix-command flakes\n"
    )
    return d


TOML = """
[secrets]
default_groups = ["admins"]

[generators.disk]
script = 'printf "disk-%s" "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d " \\n")" > "$out/passphrase"'
runtimeInputs = ["head", "od", "tr", "printf"]
files.passphrase = { secret = true, neededFor = "activation", mode = "0440" }

[generators.api]
script = 'printf "token" > "$out/token"'
runtimeInputs = ["printf"]
files.token = { secret = true }

[generators.site]
share = true
script = 'printf "site-secret" > "$out/key"'
runtimeInputs = ["printf"]
files.key = { secret = true, neededFor = "activation" }
"""


def make_clan(root: Path, keys: Keys, target: str | None, extra: dict[str, object] | None = None) -> Path:
    """cinnabar (nixos, deployed to `target`), stibnite (darwin), no service instances."""
    root.mkdir(parents=True)
    machines: dict[str, object] = {
        "cinnabar": {"machineClass": "nixos", "deploy": {"targetHost": target or "root@cinnabar.zt"}},
        "stibnite": {"machineClass": "darwin", "deploy": {"targetHost": "admin@stibnite.local"}},
    }
    machines.update(extra or {})
    (root / "inventory.json").write_text(
        json.dumps({"meta": {"name": "t", "domain": "zt"}, "machines": machines, "instances": {}}, indent=2)
    )
    (root / "dendrite.toml").write_text(TOML)
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.group_add("admins", "users", "alice")
    return root
