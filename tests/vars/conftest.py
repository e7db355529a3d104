"""A small clan repository with an admin, an inventory and custom generators, for the vars tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from tests.conftest import Keys

TOML = """
[secrets]
default_groups = ["admins"]

[generators.hello]
script = '''
echo -n "hello $(cat "$prompts/name")" > "$out/greeting"
echo -n "public-$(cat "$prompts/name")" > "$out/banner"
'''
runtimeInputs = ["cat"]
prompts.name = { type = "line", description = "who" }
files.greeting = { secret = true }
files.banner = { secret = false }

[generators.derived]
dependencies = ["hello"]
script = 'cat "$in/hello/banner" "$in/hello/greeting" > "$out/both"'
files.both = { secret = true, deploy = false }
machines = ["cinnabar"]

[generators.site-key]
share = true
script = 'head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n" > "$out/key"'
files.key = { secret = true }
"""


@pytest.fixture
def clan(tmp_path: Path, keys: Keys) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "inventory.json").write_text(
        json.dumps(
            {
                "meta": {"name": "t", "domain": "zt"},
                "machines": {
                    "cinnabar": {"machineClass": "nixos", "tags": ["vps"]},
                    "orb": {"machineClass": "nixos", "tags": ["vps"]},
                    "stibnite": {"machineClass": "darwin", "tags": ["workstation"]},
                },
                "instances": {
                    "sshd": {
                        "module": {"name": "sshd"},
                        "roles": {"server": {"tags": ["vps", "workstation"]}},
                    },
                    "emergency-access": {
                        "module": {"name": "emergency-access"},
                        "roles": {"default": {"tags": ["all"]}},
                    },
                },
            },
            indent=2,
        )
    )
    (root / "dendrite.toml").write_text(TOML)
    store = SecretsStore(root, keys.identities)
    store.add_user("alice", [SopsKey("age", keys.a.public)])
    store.group_add("admins", "users", "alice")
    return root


PROMPTS = {"hello/name": "world", "user-password-crs58/user-password": ""}


def write_two_machine_inventory(root: Path) -> None:
    """inventory.json with two NixOS machines, cinnabar and orb, and nothing else (the parity tests' clan)."""
    inv = {
        "meta": {"name": "t"},
        "machines": {"cinnabar": {"machineClass": "nixos"}, "orb": {"machineClass": "nixos"}},
        "instances": {},
    }
    (root / "inventory.json").write_text(json.dumps(inv))
