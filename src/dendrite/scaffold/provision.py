"""`dendrite infra hetzner --apply`: the same server, firewall and SSH key made through Hetzner's official
Python library (PyPI `hcloud`, the `[hetzner]` extra), imported only here.

Idempotent by name, like OpenTofu's plan would be for a fresh state: an SSH key, firewall or server
that already exists under the name is reused, never replaced, so a second run changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dendrite.errors import DendriteError, InputError, ToolMissing
from dendrite.scaffold.hetzner import FIREWALL_RULES, Server, check

if TYPE_CHECKING:
    from hcloud import Client

TOKEN_ENV = "HCLOUD_TOKEN"  # the variable the hcloud CLI and the terraform provider read
ENDPOINT_ENV = "HCLOUD_ENDPOINT"  # the hcloud CLI's override of the API address


@dataclass(frozen=True)
class Provisioned:
    server_id: int
    ipv4: str | None
    ipv6: str | None
    created: tuple[str, ...]  # "ssh key", "firewall", "server": what this run made
    reused: tuple[str, ...]


def client(env: Mapping[str, str] | None = None) -> Client:
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise InputError(
            f"{TOKEN_ENV} is not set, so the Hetzner Cloud API cannot be used; nothing was created",
            hint="create an API token (Cloud Console > Security > API tokens) and export HCLOUD_TOKEN",
        )
    try:
        from hcloud import Client
    except ImportError:
        raise ToolMissing(
            "hcloud", "the hcloud Python library is not installed", hint="pip install 'dendrite[hetzner]'"
        ) from None
    return Client(token=token, api_endpoint=endpoint(env), application_name="dendrite", poll_interval=0.2)


def endpoint(env: Mapping[str, str]) -> str:
    return env.get(ENDPOINT_ENV) or "https://api.hetzner.cloud/v1"


def apply(server: Server, public_key: str, env: Mapping[str, str] | None = None) -> Provisioned:
    """Make (or find) the SSH key, the firewall and the server; wait for the server's create action."""
    check(server)
    if not public_key.strip():
        raise InputError("the SSH public key is empty", hint="give --ssh-key with a .pub file")
    env = os.environ if env is None else env
    c = client(env)
    import requests
    from hcloud import APIException
    from hcloud.firewalls import FirewallRule
    from hcloud.images import Image
    from hcloud.locations import Location
    from hcloud.server_types import ServerType

    created: list[str] = []
    reused: list[str] = []
    try:
        key_name = f"{server.clan}-admin"
        key = c.ssh_keys.get_by_name(key_name)
        if key is None:
            key = c.ssh_keys.create(name=key_name, public_key=public_key.strip())
            created.append("ssh key")
        else:
            reused.append("ssh key")
        firewall = c.firewalls.get_by_name(server.machine)
        if firewall is None:
            rules = [
                FirewallRule(
                    direction=r["direction"],
                    protocol=r["protocol"],
                    port=r["port"],
                    source_ips=list(r["source_ips"]),
                    description=r["description"],
                )
                for r in FIREWALL_RULES
            ]
            firewall = c.firewalls.create(name=server.machine, rules=rules).firewall
            created.append("firewall")
        else:
            reused.append("firewall")
        found = c.servers.get_by_name(server.machine)
        if found is None:
            response = c.servers.create(
                name=server.machine,
                server_type=ServerType(name=server.server_type),
                image=Image(name=server.image),
                location=Location(name=server.location),
                ssh_keys=[key],
                firewalls=[firewall],
                labels={"clan": server.clan, "machine": server.machine},
            )
            response.action.wait_until_finished()
            new_id = response.server.id
            assert new_id is not None  # the API always returns the new server's id
            found = c.servers.get_by_id(new_id)
            created.append("server")
        else:
            reused.append("server")
    except APIException as exc:
        raise DendriteError(
            f"the Hetzner Cloud API refused: {exc.message} ({exc.code})",
            hint="check the token's project and permissions (read & write)",
        ) from None
    except requests.RequestException as exc:
        raise DendriteError(
            f"cannot reach the Hetzner Cloud API at {endpoint(env)}: {type(exc).__name__}",
            hint="check the network, or HCLOUD_ENDPOINT",
        ) from None
    net = found.public_net
    ipv4 = net.ipv4.ip if net is not None and net.ipv4 is not None else None
    ipv6 = net.ipv6.ip if net is not None and net.ipv6 is not None else None
    assert found.id is not None
    return Provisioned(found.id, ipv4, ipv6, tuple(created), tuple(reused))
