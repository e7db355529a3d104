"""The service catalogue is data made from clan-core's `clanServices/*.nix` by scripts/gen_catalogue.py with
dendrite's own parser: reproducible, complete, and equal to what the real module system declares."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dendrite.inventory.catalogue import bundled
from dendrite.inventory.clanservices import extract
from tests.inventory.clanoracle import (
    CLAN_CORE,
    CLAN_CORE_DATE,
    CLAN_CORE_REV,
    FIXTURES,
    needs_clan_core,
    needs_nix,
    nix_options,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "dendrite" / "data" / "clan-services.json"
CLAN_SERVICES = [
    "admin",
    "borgbackup",
    "certificates",
    "coredns",
    "data-mesher",
    "dm-dns",
    "dyndns",
    "emergency-access",
    "garage",
    "hello-world",
    "importer",
    "installer",
    "internet",
    "kde",
    "localbackup",
    "matrix-synapse",
    "monitoring",
    "mycelium",
    "ncps",
    "p2p-ssh-iroh",
    "packages",
    "pki",
    "sshd",
    "syncthing",
    "tor",
    "trusted-nix-caches",
    "users",
    "wifi",
    "wireguard",
    "yggdrasil",
    "zerotier",
]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("gen_catalogue", ROOT / "scripts" / "gen_catalogue.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_clan_core
def test_the_committed_json_is_what_the_script_makes_from_clan_core(tmp_path: Path) -> None:
    """Run scripts/gen_catalogue.py against /work/clan-core into a temp file: byte-identical to the data."""
    out = tmp_path / "clan-services.json"
    rc = _script().main(
        [str(CLAN_CORE), "--revision", CLAN_CORE_REV, "--date", CLAN_CORE_DATE, "-o", str(out)]
    )
    assert rc == 0
    assert out.read_bytes() == DATA.read_bytes()


def test_the_data_names_its_clan_core_revision_and_has_every_service() -> None:
    """clan-core registers one `clan.modules.<dir>` per clanServices/<dir> (clanServices/*/flake-module.nix)."""
    data = json.loads(DATA.read_text())
    assert data["clanCore"] == {"revision": CLAN_CORE_REV, "date": CLAN_CORE_DATE}
    assert sorted(data["services"]) == CLAN_SERVICES
    cat = bundled()
    assert cat.revision == CLAN_CORE_REV and sorted(cat.services) == CLAN_SERVICES
    # coredns/default.nix is a `throw`: the service moved to clan-community
    assert "clan-community" in cat.services["coredns"].removed
    assert all(not cat.services[s].removed for s in CLAN_SERVICES if s != "coredns")


def test_the_script_refuses_a_tree_without_clan_services(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = _script().main([str(tmp_path), "--revision", "x", "--date", "y", "-o", str(tmp_path / "o.json")])
    assert rc == 2 and "no clanServices/" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


# ---- the extractor on fixtures in clan's shape ---------------------------------------------------------


def test_fixture_options_constraints_and_classes() -> None:
    """Options through a top-level `let`, nested sets, mkEnableOption, enum and port types; the role
    constraints of `manifest.constraints.roles` (as zerotier's controller has)."""
    s = extract(FIXTURES)
    keys = s["keys"]
    assert keys["manifest"] == "fixture/keys"
    auth, host = keys["roles"]["authority"], keys["roles"]["host"]
    assert (auth["minMachines"], auth["maxMachines"]) == (1, 1)
    assert auth["interface"]["options"]["validity"] == {
        "type": {"type": "nullOr", "of": {"type": "int"}},
        "default": None,
    }
    opts = host["interface"]["options"]
    assert opts["certificate"]["options"]["domains"] == {
        "type": {"type": "listOf", "of": {"type": "str"}},
        "default": [],
    }
    assert opts["rsa"]["options"]["enable"] == {"type": {"type": "bool"}, "default": False}
    assert opts["mode"]["type"] == {"type": "enum", "values": ["strict", "lax"]}
    assert host["classes"] == ["nixos"]


def test_fixture_generators_conditions_imports_and_per_machine() -> None:
    """Generators under `lib.mkIf` keep the condition; imported files (./authority.nix, its ./rsa.nix) count;
    a perMachine `lib.mapAttrs' … (lib.nameValuePair "seen-${machine.name}-${instanceName}" …)` is a template."""
    keys = extract(FIXTURES)["keys"]
    gens = {g["name"]: g for g in keys["roles"]["host"]["generators"]}
    assert sorted(gens) == ["authority", "host-cert", "host-key", "host-rsa"]
    assert gens["host-cert"]["when"] == ["settings.certificate.enable"]
    assert gens["host-cert"]["dependencies"] == ["host-key", "authority"]
    assert gens["host-cert"]["validation"] == {"expr": "{ domains = settings.certificate.domains; }"}
    assert gens["authority"]["share"] is True
    assert gens["authority"]["files"] == {
        "key": {"deploy": False},
        "key.pub": {"secret": False, "deploy": False},
    }
    assert "when" not in gens["host-key"] and gens["host-key"]["files"] == {
        "key": {},
        "key.pub": {"secret": False},
    }
    (seen,) = keys["perMachineGenerators"]
    assert seen["name"] == "seen-${machine.name}-${instanceName}" and seen["share"] is True


def test_fixture_templates_extend_settings_freeform_and_prompts() -> None:
    people = extract(FIXTURES)["people"]["roles"]["default"]
    opts = people["interface"]["options"]
    assert opts["user"].get("defaultFromInstance") is True and "default" not in opts["user"]
    assert opts["extra"]["type"]["freeform"] is True
    (gen,) = people["generators"]
    assert gen["name"] == "secret-${settings.user}"
    assert gen["share"] == {"expr": "settings.share"}
    assert gen["prompts"]["secret"] == {
        "when": "settings.prompt",
        "type": "hidden",
        "persist": True,
        "description": "Leave empty to generate",
    }
    assert extract(FIXTURES)["gone"]["removed"] == "The `gone` service moved to another flake."


# ---- against the real module system ---------------------------------------------------------------------

_NIX_TYPE = {"port": "unsignedInt16", "oneOf": "either", "attrsOf": "attrsOf", "listOf": "listOf"}


def _flat_nix(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for k, v in tree.items():
        if isinstance(v.get("type"), str):
            yield (*prefix, k), v
        else:
            yield from _flat_nix(v, (*prefix, k))


def _flat_ours(
    options: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for k, v in options.items():
        if v.get("type") == "group":
            yield from _flat_ours(v["options"], (*prefix, k))
        else:
            yield (*prefix, k), v


def _compare(ours: dict[str, Any], nix: dict[str, Any]) -> list[str]:
    problems = []
    for service, roles in nix.items():
        for role, tree in roles.items():
            theirs = dict(_flat_nix(tree))
            mine = dict(_flat_ours(ours[service]["roles"][role]["interface"]["options"]))
            if set(theirs) != set(mine):
                problems.append(f"{service}/{role}: options differ: {sorted(set(theirs) ^ set(mine))}")
            for path in theirs.keys() & mine.keys():
                t, m = theirs[path], mine[path]
                kind = m["type"]["type"]
                if kind != "removed" and _NIX_TYPE.get(kind, kind) != t["type"]:
                    problems.append(f"{service}/{role}/{'.'.join(path)}: type {kind} vs {t['type']}")
                nix_default = t.get("default")
                if nix_default is None:
                    if "default" in m:
                        problems.append(f"{service}/{role}/{'.'.join(path)}: a default Nix does not have")
                elif nix_default["success"]:
                    d = m.get("default", "<none>")
                    if not (isinstance(d, dict) and "expr" in d) and d != nix_default["value"]:
                        problems.append(
                            f"{service}/{role}/{'.'.join(path)}: default {d!r} vs {nix_default['value']!r}"
                        )
    return problems


@needs_nix
def test_fixture_interfaces_equal_the_module_system() -> None:
    """Every option, its type and its literal default, as lib.evalModules declares them."""
    nix = nix_options(FIXTURES)
    assert sorted(nix) == ["keys", "people"]  # `gone` throws
    assert _compare(extract(FIXTURES), nix) == []


@needs_nix
@needs_clan_core
def test_clan_core_interfaces_equal_the_module_system() -> None:
    """All of clan-core's service interfaces, evaluated by nixpkgs' module system, against the data."""
    nix = nix_options(CLAN_CORE / "clanServices")
    assert sorted(nix) == [s for s in CLAN_SERVICES if s != "coredns"]
    data = json.loads(DATA.read_text())["services"]
    assert _compare(data, nix) == []
