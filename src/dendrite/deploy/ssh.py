"""The one SSH wrapper of dendrite: system OpenSSH, run through `dendrite.process`, with a control master.

As clan's `clan_lib/ssh/remote.py` (`Remote`, `host_connection`, `_ssh_cmd_opts`, `ssh_url`) and
`clan_lib/ssh/host_key.py` (`hostkey_to_ssh_opts`): an address `[user@]host[:port]`, the host key
check mode mapped to the same `-o` options, a control master in a private temporary directory
(ControlMaster=auto, so a dropped master is replaced on the next command) closed with `ssh -O exit`,
and `NIX_SSHOPTS` for the nix commands that open their own connections (without the control master,
as clan's closure copy).

Every connection runs in batch mode (no password or host key prompt: stdin carries data, not a
person) with a connect timeout, so an unreachable host is one clear sentence after a few seconds.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from dendrite import process
from dendrite.errors import CommandError, DendriteError, InputError

HostKeyCheck = Literal["strict", "accept-new", "none"]
HOST_KEY_CHECKS: tuple[HostKeyCheck, ...] = ("strict", "accept-new", "none")
DEFAULT_CONNECT_TIMEOUT = 10.0


class Unreachable(DendriteError):
    """The host could not be reached or refused us (host key, authentication)."""


def hostkey_options(check: HostKeyCheck) -> list[str]:
    """clan's hostkey_to_ssh_opts (clan_lib/ssh/host_key.py), for the modes dendrite offers."""
    if check == "strict":
        return ["-o", "StrictHostKeyChecking=yes"]
    if check == "accept-new":
        return ["-o", "StrictHostKeyChecking=accept-new"]
    if check == "none":
        return ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    raise InputError(f"host key check {check!r} is not known", hint="use strict, accept-new or none")


_ADDRESS = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True)
class Address:
    host: str
    user: str = "root"
    port: int | None = None

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}"

    def __str__(self) -> str:
        if not self.port:
            return self.target
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6: brackets before a port
        return f"{self.user}@{host}:{self.port}"

    def url(self, scheme: str = "ssh") -> str:
        """clan's Remote.ssh_url (IPv6 in brackets, RFC 3986) without the port: the port travels in
        NIX_SSHOPTS (`-p`), which every Nix version reads, where a port in the URL needs a newer Nix."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{self.user}@{host}"


def parse_address(text: str, where: str = "the target") -> Address:
    """`[user@]host[:port]` as clan's `Remote.from_ssh_uri` reads it (user root when not given)."""
    m = _ADDRESS.match(text.strip())
    if not m or (m["port"] and not 0 < int(m["port"]) < 65536):
        raise InputError(
            f"{where} {text!r} is not an ssh address", hint="write [user@]host[:port], e.g. root@10.0.0.1:22"
        )
    host = m["host"]
    # `-Fcfg@h` as ssh's destination argument is the option -F (a config file naming a ProxyCommand)
    if host.startswith("-") or (m["user"] or "").startswith("-"):
        raise InputError(f"{where} {text!r} starts with '-'", hint="write [user@]host[:port]")
    return Address(host.strip("[]"), m["user"] or "root", int(m["port"]) if m["port"] else None)


@dataclass(frozen=True)
class SshConfig:
    """How to reach hosts: the host key mode and extra `-o` options (IdentityFile=…, UserKnownHostsFile=…)."""

    host_key_check: HostKeyCheck = "strict"
    options: tuple[str, ...] = ()  # "Key=Value", passed as -o
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        for opt in self.options:
            if "=" not in opt or opt.startswith("-"):
                raise InputError(
                    f"ssh option {opt!r} is not Key=Value", hint="e.g. -o IdentityFile=~/.ssh/deploy"
                )


@dataclass(frozen=True)
class Connection:
    """An open control master to one host; commands run as the address' user (sudo -n when not root)."""

    address: Address
    config: SshConfig
    control_path: Path | None = None

    def options(self, *, control_master: bool = True) -> list[str]:
        """clan's _ssh_cmd_opts: port, -o options, host key mode, then the control master."""
        opts = ["-p", str(self.address.port)] if self.address.port else []
        for opt in self.config.options:
            opts += ["-o", opt]
        opts += hostkey_options(self.config.host_key_check)
        opts += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, round(self.config.connect_timeout))}"]
        if control_master and self.control_path is not None:
            opts += [
                "-o",
                "ControlMaster=auto",
                "-o",
                "ControlPersist=60",
                "-o",
                f"ControlPath={self.control_path}",
            ]
        return opts

    def nix_sshopts(self) -> str:
        """NIX_SSHOPTS for `nix copy`: each option shell-quoted, as clan's nix_ssh_env, no control master."""
        return " ".join(shlex.quote(o) for o in self.options(control_master=False))

    def become_root(self, argv: Sequence[str]) -> list[str]:
        """clan's become_root: root runs the command itself, another user through sudo (never prompting)."""
        return list(argv) if self.address.user == "root" else ["sudo", "-n", "--", *argv]

    def command(self, argv: Sequence[str], *, root: bool = True) -> list[str]:
        """The local argv that runs `argv` on the host (quoted for the remote shell, as clan's Remote.run)."""
        remote = self.become_root(argv) if root else list(argv)
        return ["ssh", *self.options(), self.address.target, "--", shlex.join(remote)]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool,
        timeout: float,
        input: bytes | None = None,
        what: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> process.CmdOut:
        """Run `argv` on the host; a lost connection (ssh's exit 255) is an Unreachable, never a traceback."""
        cmd = self.command(argv)
        opts = process.RunOpts(check=False, timeout=timeout, input=input, what=what, env=env)
        out = process.run(cmd, opts)
        if out.returncode == 255:
            raise unreachable(self.address, out)
        if check and out.returncode != 0:
            raise process.command_error(
                out, replace(opts, what=what or f"`{shlex.join(argv)}` on {self.address}")
            )
        return out


def unreachable(address: Address, out: process.CmdOut) -> Unreachable:
    last = (out.stderr_tail.splitlines() or ["ssh exited with 255 and wrote nothing"])[-1].strip()
    hint = "check the address, that sshd runs there and that your key is authorized"
    if "Host key verification failed" in out.stderr_tail or "No ED25519 host key is known" in out.stderr_tail:
        hint = "the host key is not in known_hosts: verify it and add it, or pass --host-key-check accept-new"
    return Unreachable(f"cannot reach {address} over ssh: {last}", hint)


@contextlib.contextmanager
def connect(address: Address, config: SshConfig) -> Iterator[Connection]:
    """clan's host_connection: a control master in a private directory, opened now and closed at the end.

    Opening it first checks the host key and the login once; every later command reuses the
    connection (ControlMaster=auto replaces a master that died in between).
    """
    with tempfile.TemporaryDirectory(prefix="dendrite-ssh-") as tmp:
        conn = Connection(address, config, Path(tmp) / "socket")
        start = ["ssh", *conn.options(), "-f", "-N", address.target]
        try:
            out = process.run(start, process.RunOpts(check=False, timeout=config.connect_timeout + 15))
        except CommandError as exc:  # a timeout: the host did not answer at all
            raise Unreachable(
                f"cannot reach {address} over ssh: no answer within {config.connect_timeout + 15:g} s",
                "check the address and the network",
            ) from exc
        if out.returncode != 0:
            raise unreachable(address, out)
        try:
            yield conn
        finally:
            with contextlib.suppress(CommandError):
                process.run(
                    ["ssh", "-o", f"ControlPath={conn.control_path}", "-O", "exit", address.target],
                    process.RunOpts(check=False, timeout=5),
                )
