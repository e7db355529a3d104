"""The Hetzner server of a clan machine (cinnabar in the seed) as OpenTofu configuration.

One Python value is the configuration: written as OpenTofu JSON (`terraform/main.tf.json`) and, printed
as Nix, as the terranix module `flake.modules.terranix.hetzner` (`modules/terranix/hetzner.nix`). So the
two never disagree: terranix turns the Nix value back into the same JSON. What it holds (spec §4.6):
the hcloud provider, the admin's SSH key, a firewall (22/tcp for SSH, 9993/udp for ZeroTier), the
server, and its addresses as outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dendrite import names
from dendrite.errors import InputError
from dendrite.nixlang.printer import to_nix
from dendrite.text import did_you_mean

MAIN_TF_JSON = "terraform/main.tf.json"
TERRANIX_NIX = "modules/terranix/hetzner.nix"
IMAGE = "debian-12"  # clan installs NixOS over it with `clan machines install` (nixos-anywhere)
WORLD = ["0.0.0.0/0", "::/0"]
FIREWALL_RULES: tuple[dict[str, Any], ...] = (
    {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": WORLD, "description": "ssh"},
    {"direction": "in", "protocol": "udp", "port": "9993", "source_ips": WORLD, "description": "zerotier"},
)


@dataclass(frozen=True)
class Price:
    vcpu: int
    ram_gb: int
    disk_gb: int
    eur_month: float  # the monthly cap, net of VAT, in Germany and Finland


# Hetzner Cloud list prices as published on https://www.hetzner.com/cloud/ (source) on PRICE_DATE:
# shared-vCPU x86 (CX, the generation launched 2025-10) and Arm (CAX), net EUR per month, fsn1/nbg1/hel1.
# Hetzner raised the prices of every cloud server on 2026-04-01 and those of new orders and rescales
# again on 2026-06-15 (https://cloudtally.eu/blog/hetzner-june-2026-price-increase, which quotes the
# announcement). No complete table of the new prices could be confirmed, so the table keeps its date and
# the output says plainly that the prices are older than both increases. One sourced figure shows the
# size of the first: cx33 was EUR 6.49/month net in Hetzner's pricing API (fsn1) on 2026-05-27
# (https://github.com/devantler-tech/platform/commit/cb791c6f), EUR 4.99 here.
PRICE_DATE = "2025-10-01"
PRICE_SOURCE = "https://www.hetzner.com/cloud/"
PRICE_NOTE = "older than Hetzner's increases of 2026-04-01 and 2026-06-15, so the price today is higher"
PRIMARY_IPV4_EUR_MONTH = 0.50  # a server's public IPv4 is billed on top; IPv6 is free
PRICES: dict[str, Price] = {
    "cx23": Price(2, 4, 40, 2.99),
    "cx33": Price(4, 8, 80, 4.99),
    "cx43": Price(8, 16, 160, 9.49),
    "cx53": Price(16, 32, 320, 17.49),
    "cax11": Price(2, 4, 40, 3.79),
    "cax21": Price(4, 8, 80, 6.49),
    "cax31": Price(8, 16, 160, 12.49),
    "cax41": Price(16, 32, 320, 24.49),
}
# The other server types Hetzner Cloud sells (`hcloud server-type list`): AMD shared vCPU (CPX, the
# generation of 2025-10) and dedicated vCPU (CCX). Accepted, without a price: none could be confirmed.
# The generations Hetzner deprecated on 2025-10-16 and removed in January 2026 (cx22…cx52, cpx11…cpx51;
# https://docs.hetzner.cloud/changelog#2025-10-16-server-types-deprecated) are refused, so a typo or an
# old name is caught here rather than by the API at `--apply` or `tofu apply`.
UNPRICED_TYPES = (
    *("cpx12", "cpx22", "cpx32", "cpx42", "cpx52", "cpx62"),
    *("ccx13", "ccx23", "ccx33", "ccx43", "ccx53", "ccx63"),
)
SERVER_TYPES = (*PRICES, *UNPRICED_TYPES)
LOCATIONS = ("fsn1", "nbg1", "hel1", "ash", "hil", "sin")


@dataclass(frozen=True)
class Server:
    machine: str
    server_type: str = "cx43"
    location: str = "fsn1"
    image: str = IMAGE
    clan: str = "test-clan"


@dataclass(frozen=True)
class Cost:
    server_type: str
    server_eur: float | None  # None: the type is not in the table
    ipv4_eur: float
    date: str
    source: str
    note: str = PRICE_NOTE

    @property
    def total(self) -> float | None:
        return None if self.server_eur is None else round(self.server_eur + self.ipv4_eur, 2)


def check(server: Server) -> Server:
    names.machine_name(server.machine)
    if server.location not in LOCATIONS:
        raise InputError(
            f"--location {server.location!r} is not a Hetzner Cloud location",
            hint="one of " + ", ".join(LOCATIONS),
        )
    if server.server_type not in SERVER_TYPES:
        hint = did_you_mean(server.server_type.lower(), SERVER_TYPES)
        raise InputError(
            f"--server-type {server.server_type!r} is not a Hetzner Cloud server type",
            hint=f"{hint} (types Hetzner sells: `hcloud server-type list`)",
        )
    return server


def cost(server_type: str) -> Cost:
    price = PRICES.get(server_type)
    return Cost(
        server_type, price.eur_month if price else None, PRIMARY_IPV4_EUR_MONTH, PRICE_DATE, PRICE_SOURCE
    )


def configuration(server: Server) -> dict[str, Any]:
    """The OpenTofu configuration (JSON syntax) for one server; references are `${…}` expressions."""
    m = check(server).machine
    return {
        "terraform": {
            "required_providers": {"hcloud": {"source": "hetznercloud/hcloud", "version": "~> 1.45"}}
        },
        "variable": {
            "hcloud_token": {"type": "string", "sensitive": True, "description": "Hetzner Cloud API token"},
            "ssh_public_key": {"type": "string", "description": "the admin's SSH public key (one line)"},
        },
        "provider": {"hcloud": {"token": "${var.hcloud_token}"}},
        "resource": {
            "hcloud_ssh_key": {
                "admin": {"name": f"{server.clan}-admin", "public_key": "${var.ssh_public_key}"}
            },
            "hcloud_firewall": {m: {"name": m, "rule": [dict(r) for r in FIREWALL_RULES]}},
            "hcloud_server": {
                m: {
                    "name": m,
                    "server_type": server.server_type,
                    "location": server.location,
                    "image": server.image,
                    "ssh_keys": ["${hcloud_ssh_key.admin.id}"],
                    "firewall_ids": [f"${{hcloud_firewall.{m}.id}}"],
                    "public_net": {"ipv4_enabled": True, "ipv6_enabled": True},
                    "labels": {"clan": server.clan, "machine": m},
                }
            },
        },
        "output": {
            f"{m}_ipv4": {"value": f"${{hcloud_server.{m}.ipv4_address}}"},
            f"{m}_ipv6": {"value": f"${{hcloud_server.{m}.ipv6_address}}"},
        },
    }


def tofu_json(server: Server) -> str:
    return json.dumps(configuration(server), indent=2) + "\n"


def terranix_module(server: Server) -> str:
    """The same configuration as a flake-parts module publishing `flake.modules.terranix.hetzner`."""
    c = cost(server.server_type)
    price = f"about EUR {c.total:.2f}/month" if c.total is not None else "price not in dendrite's table"
    return (
        f"# {server.machine} on Hetzner Cloud ({server.server_type}, {server.location}): {price}, "
        f"from {c.source} as of {c.date}.\n"
        "# Written by `dendrite infra hetzner`; terranix turns it into terraform/config.tf.json.\n"
        "{\n"
        f"  flake.modules.terranix.hetzner = {to_nix(configuration(server), indent=1)};\n"
        "}\n"
    )
