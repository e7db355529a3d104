"""One Finding, one renderer: the four checking commands in text, --json and --sarif, on the demo fleet
with one planted problem each."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dendrite.cli.findings import as_json, compiler_line, severity_line, subject_line
from dendrite.findings import Finding, Location, Severity
from tests.conftest import clean_env
from tests.hostile.conftest import Fleet, _template, dendrite


@pytest.fixture
def fleet(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    """A copy of the demo fleet, as `tests/hostile`'s fixture of the same name builds it."""
    root = tmp_path / "repo"
    shutil.copytree(_template(tmp_path_factory), root, symlinks=True)
    key = root / ".keys" / "admin-age.txt"
    (tmp_path / "home").mkdir(exist_ok=True)
    return Fleet(root, key, clean_env({"SOPS_AGE_KEY_FILE": str(key)}, tmp_path / "home"))


ZEROTIER = "modules/clan/inventory/services/zerotier.nix"
PUBKEY = "vars/per-machine/cinnabar/openssh/ssh.id_ed25519.pub"


def plant_lint(root: Path) -> None:
    (root / "modules" / "bad.nix").write_text("{\n  boot.loader.grub.enable = true;\n}\n")


def plant_inventory(root: Path) -> None:
    nix = root / ZEROTIER
    nix.write_text(nix.read_text().replace("cinnabar = { };", "cinnabar = { };\n          ghost = { };", 1))


def plant_secrets(root: Path) -> None:
    (root / "sops/secrets/cachix-auth-token/users/ghost").symlink_to("../../../users/ghost")


def plant_vars(root: Path) -> None:
    shutil.rmtree(root / PUBKEY)


# command, planting, the text line expected, the rule, the old --json keys, the file of the location
CASES: dict[str, tuple[list[str], Callable[[Path], None], str, str, tuple[str, ...], str]] = {
    "lint": (
        ["layout", "lint"],
        plant_lint,
        "modules/bad.nix:2:3: error D002: 'boot.…' is a NixOS",
        "D002",
        ("file", "line", "column"),
        "modules/bad.nix",
    ),
    "validate": (
        ["inventory", "validate"],
        plant_inventory,
        "error: unknown-machine: instance 'zerotier' role 'controller' names machine 'ghost'",
        "unknown-machine",
        ("code", "where"),
        ZEROTIER,
    ),
    "secrets": (
        ["secrets", "check"],
        plant_secrets,
        "cachix-auth-token: link: sops/secrets/cachix-auth-token/users/ghost",
        "link",
        ("secret", "kind", "detail"),
        "sops/secrets/cachix-auth-token/users/ghost",
    ),
    "vars": (
        ["vars", "check"],
        plant_vars,
        "cinnabar: openssh/ssh.id_ed25519.pub: missing: not generated yet",
        "missing",
        ("machine", "var", "kind", "detail"),
        PUBKEY,
    ),
}


def run(fleet: Fleet, case: str, *flags: str) -> tuple[int, str, str]:
    args, plant, *_ = CASES[case]
    plant(fleet.root)
    res = dendrite(["--repo", str(fleet.root), *args, *flags], fleet.env)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


@pytest.mark.parametrize("case", CASES)
def test_text(fleet: Fleet, case: str) -> None:
    code, out, err = run(fleet, case)
    assert code == 1, err
    assert CASES[case][2] in out, out
    assert "Traceback" not in err


@pytest.mark.parametrize("case", CASES)
def test_json_has_the_common_shape_and_the_old_keys(fleet: Fleet, case: str) -> None:
    _, _, _, rule, legacy, file = CASES[case]
    code, out, err = run(fleet, case, "--json")
    assert code == 1, err
    found = next(f for f in json.loads(out) if f["rule"] == rule)
    assert {"rule", "severity", "message", "hint", "location", *legacy} <= found.keys()
    assert found["severity"] == "error" and found["location"]["file"].endswith(file)


# A subset of the SARIF 2.1.0 schema: what code-scanning services read.
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "rules"],
                                "properties": {
                                    "name": {"const": "dendrite"},
                                    "rules": {
                                        "type": "array",
                                        "items": {"type": "object", "required": ["id"]},
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message"],
                            "properties": {
                                "level": {"enum": ["error", "warning", "note"]},
                                "message": {"type": "object", "required": ["text"]},
                            },
                        },
                    },
                },
            },
        },
    },
}


def assert_sarif(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The SARIF shape (with jsonschema when it is installed, by hand always); returns the results."""
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:
        pass
    else:
        jsonschema.validate(doc, SARIF_SUBSET)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run_ = doc["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "dendrite"
    ids = [r["id"] for r in driver["rules"]]
    assert ids and len(ids) == len(set(ids))
    for r in driver["rules"]:
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note") and r["help"]["text"]
    for result in run_["results"]:
        assert result["ruleId"] in ids and ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        for loc in result.get("locations", []):
            artifact = loc["physicalLocation"]["artifactLocation"]
            assert not artifact["uri"].startswith(("/", "file:")) and artifact["uriBaseId"] == "SRCROOT"
            region = loc["physicalLocation"].get("region", {})
            assert all(isinstance(v, int) and v >= 1 for v in region.values())
    return list(run_["results"])


@pytest.mark.parametrize("case", CASES)
def test_sarif(fleet: Fleet, case: str) -> None:
    _, _, _, rule, _, file = CASES[case]
    code, out, err = run(fleet, case, "--sarif")
    assert code == 1, err
    doc = json.loads(out)
    results = [r for r in assert_sarif(doc) if r["ruleId"] == rule]
    assert results and results[0]["level"] == "error"
    (loc,) = results[0]["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == file
    if case in ("lint", "validate"):  # the Nix checks know the line
        assert loc["physicalLocation"]["region"]["startLine"] >= 1
    assert doc["runs"][0]["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file://")


def test_a_clean_fleet_is_an_empty_sarif_run(fleet: Fleet) -> None:
    for args in (["layout", "lint"], ["secrets", "check"], ["vars", "check"]):
        res = dendrite(["--repo", str(fleet.root), *args, "--sarif"], fleet.env)
        assert res.returncode == 0, res.stderr.decode()
        assert assert_sarif(json.loads(res.stdout)) == []


# ---- the renderer's pieces, without a fleet ---------------------------------------------------------

F = Finding(
    "missing",
    Severity.ERROR,
    "not generated yet",
    "run it",
    (Location("/r/vars/x", 3, 2), Location("/r/y")),
    (("machine", "orb"), ("var", "g/f")),
)


def test_the_text_lines_of_the_four_commands() -> None:
    assert compiler_line(F) == "/r/vars/x:3:2: error missing: not generated yet"
    assert severity_line(F) == "error: missing: not generated yet (/r/vars/x:3:2, /r/y)"
    assert subject_line(F) == "orb: g/f: missing: not generated yet"


def test_json_and_the_old_names() -> None:
    data = as_json(F, ("kind", "detail"))
    assert data["location"] == {"file": "/r/vars/x", "line": 3, "column": 2}
    assert (data["machine"], data["var"], data["kind"], data["detail"]) == (
        "orb",
        "g/f",
        "missing",
        F.message,
    )
    assert F.severity == "error" and Severity.INFO.sarif_level == "note" and F.code == F.rule == F.kind
