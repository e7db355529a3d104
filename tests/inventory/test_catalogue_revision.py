"""The clan-core revision a repository pins in flake.lock decides which services it is checked against."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dendrite.findings import Severity
from dendrite.inventory import analyse, inventory_from_plain, validate
from dendrite.inventory.catalogue import bundled
from dendrite.inventory.revision import choose, nix32, pinned, store_path
from tests.inventory.clanoracle import CLAN_CORE_REV, FIXTURES
from tests.nixlang.oracle import NIX_ENV

OTHER_REV = "0123456789abcdef0123456789abcdef01234567"
NAR = "sha256-" + base64.b64encode(hashlib.sha256(b"a clan-core source").digest()).decode()


def lock(root: Path, rev: str, *, nar: str = NAR, input_name: str = "clan-core", **locked: str) -> None:
    """A flake.lock in the shape `nix flake lock` writes (version 7, root inputs naming nodes)."""
    node = {
        "locked": {
            "lastModified": 1755820800,
            "narHash": nar,
            "owner": "clan",
            "repo": "clan-core",
            "rev": rev,
            "type": "github",
            **locked,
        },
        "original": {"owner": "clan", "repo": "clan-core", "type": "github"},
    }
    data = {
        "nodes": {"clan-core_2": node, "root": {"inputs": {input_name: "clan-core_2"}}},
        "root": "root",
        "version": 7,
    }
    (root / "flake.lock").write_text(json.dumps(data, indent=2))


def test_no_lock_uses_the_bundled_catalogue_and_says_so(tmp_path: Path) -> None:
    c = choose(tmp_path, store=tmp_path / "store")
    assert c.catalogue is bundled() and c.pin is None and c.severity == "info"
    assert CLAN_CORE_REV[:12] in c.message and "pins no clan-core" in c.message


def test_the_same_revision_is_an_info_naming_it(tmp_path: Path) -> None:
    """flake.lock: nodes.<root.inputs.clan-core>.locked.rev (the node key may differ from the input name)."""
    lock(tmp_path, CLAN_CORE_REV)
    c = choose(tmp_path, store=tmp_path / "store")
    assert c.pin is not None and c.pin.rev == CLAN_CORE_REV and c.pin.input == "clan-core"
    assert c.catalogue is bundled() and c.severity == "info" and "the revision flake.lock pins" in c.message


def test_another_revision_without_its_source_is_a_warning_naming_both(tmp_path: Path) -> None:
    lock(tmp_path, OTHER_REV, input_name="clan")
    c = choose(tmp_path, store=tmp_path / "store")
    assert c.catalogue is bundled() and c.severity == "warning"
    assert OTHER_REV[:12] in c.message and CLAN_CORE_REV[:12] in c.message
    assert "error" not in c.message and "outdated" not in c.message
    i = inventory_from_plain({"machines": {"orb": {}}, "instances": {}})
    findings = validate(i, catalogue=c.catalogue, revision=(c.severity, c.message))
    assert [(f.code, f.severity) for f in findings] == [("clan-core-revision", Severity.WARNING)]


def test_the_pinned_source_in_the_store_is_read_with_the_same_extractor(tmp_path: Path) -> None:
    """The store path follows from narHash (a fixed-output, recursive sha256 path named "source")."""
    store = tmp_path / "store"
    src = store_path(NAR, store=store)
    assert src is not None
    shutil.copytree(FIXTURES, src / "clanServices")
    lock(tmp_path, OTHER_REV)
    c = choose(tmp_path, store=store)
    assert c.severity == "info" and str(src) in c.message and OTHER_REV[:12] in c.message
    assert c.catalogue.revision == OTHER_REV and sorted(c.catalogue.services) == ["gone", "keys", "people"]
    i = inventory_from_plain(
        {
            "machines": {"orb": {}},
            "instances": {
                "p": {"module": {"name": "people"}, "roles": {"default": {"machines": {"orb": {}}}}},
                "a": {"module": {"name": "admin"}, "roles": {"default": {"machines": {"orb": {}}}}},
            },
        }
    )
    codes = [f.code for f in validate(i, catalogue=c.catalogue) if f.severity is Severity.ERROR]
    assert codes == ["unknown-service"]  # admin is not in that clan-core; people is


def test_a_path_input_is_read_from_its_path(tmp_path: Path) -> None:
    src = tmp_path / "clan-core-checkout"
    shutil.copytree(FIXTURES, src / "clanServices")
    lock(tmp_path, OTHER_REV, nar="sha256-AAAA", type="path", path=str(src))
    pin = pinned(tmp_path, store=tmp_path / "store")
    assert pin is not None and pin.source == src


def test_analyse_reports_the_revision_in_inventory_validate(tmp_path: Path) -> None:
    lock(tmp_path, OTHER_REV)
    (tmp_path / "inventory.json").write_text(json.dumps({"machines": {"orb": {}}, "instances": {}}))
    r = analyse(tmp_path)
    assert [f.code for f in r.findings if f.code.endswith("revision")] == ["clan-core-revision"]


def _real_store_source() -> tuple[Path, str] | None:
    nix_store = shutil.which("nix-store")
    if nix_store is None or not os.path.isdir("/nix/store"):
        return None
    for p in sorted(Path("/nix/store").glob("*-source"))[:1]:
        proc = subprocess.run(
            [nix_store, "-q", "--hash", str(p)], capture_output=True, text=True, check=False, env=NIX_ENV
        )
        if proc.returncode == 0 and proc.stdout.startswith("sha256:"):
            return p, proc.stdout.strip().removeprefix("sha256:")
    return None


def _from_nix32(text: str) -> bytes:
    alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
    out = bytearray(len(text) * 5 // 8)
    for n, c in enumerate(reversed(text)):
        digit, b = alphabet.index(c), n * 5
        i, j = divmod(b, 8)
        out[i] |= (digit << j) & 0xFF
        if i + 1 < len(out):
            out[i + 1] |= digit >> (8 - j)
    return bytes(out)


def test_store_path_agrees_with_real_nix() -> None:
    """A source in the local store: its NAR hash as `nix-store -q --hash` prints it gives back its path."""
    found = _real_store_source()
    if found is None:
        pytest.skip("no nix-store or no fetched *-source path in /nix/store on this machine")
    path, h = found
    digest = _from_nix32(h)
    assert nix32(digest) == h
    assert store_path("sha256-" + base64.b64encode(digest).decode()) == path


def test_analyse_resolves_against_the_pinned_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`inventory validate`, `inventory machine` and the vars layer all take the assignments of analyse():
    each carries the service of the catalogue chosen from flake.lock."""
    store = tmp_path / "store"
    src = store_path(NAR, store=store)
    assert src is not None
    shutil.copytree(FIXTURES, src / "clanServices")
    monkeypatch.setattr("dendrite.inventory.revision.STORE", store)
    lock(tmp_path, OTHER_REV)
    inventory = {
        "machines": {"orb": {}},
        "instances": {"p": {"module": {"name": "people"}, "roles": {"default": {"machines": {"orb": {}}}}}},
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    r = analyse(tmp_path)
    assert r.catalogue is not None and r.catalogue.revision == OTHER_REV
    (a,) = r.assignments
    assert a.spec is r.catalogue.services["people"] and a.settings["user"] == "p"
    assert [f.code for f in r.findings] == ["catalogue-revision"]


@pytest.mark.parametrize(
    "text",
    [
        "{ not json",
        "[" * 100_000 + "]" * 100_000,
        '{"nodes": [], "root": 3}',
        '{"nodes": {"root": {"inputs": {"clan-core": 7}}}}',
    ],
)
def test_a_broken_lock_falls_back_to_the_bundled_catalogue(tmp_path: Path, text: str) -> None:
    """A lock dendrite cannot read is not a reason to fail validation: the bundled catalogue applies."""
    (tmp_path / "flake.lock").write_text(text)
    c = choose(tmp_path, store=tmp_path / "store")
    assert c.catalogue is bundled() and c.pin is None and c.severity == "info"


def test_a_lock_that_is_a_symlink_out_of_the_repository_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    lock(outside, OTHER_REV)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "flake.lock").symlink_to(outside / "flake.lock")
    assert pinned(repo, store=tmp_path / "store") is None
