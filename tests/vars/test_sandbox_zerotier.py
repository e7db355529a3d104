"""The sandbox holds (real bwrap); ZeroTier identities, networks and IPs follow ZeroTier and clan."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from dendrite.errors import DendriteError
from dendrite.secrets.store import SecretsStore
from dendrite.sops import decrypt, encrypt, identities_from_text
from dendrite.vars import ops, zerotier
from dendrite.vars.generate import generate
from tests.conftest import Keys

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bwrap (Debian bubblewrap) is not installed"
)

GOOD = (
    "8e4df28b72:0:ac3d46abe0c21f3cfe7a6c8d6a85cfcffcb82fbd55af6a4d6350657c68200843fa2e16f9418bbd9702cae365f2af5"
    "fb4c420908b803a681d4daef6114d78a2d7:bd8dd6e4ce7022d2f812797a80c6ee8ad180dc4ebf301dec8b06d1be08832bddd63a2f1c"
    "fa7b2c504474c75bdc8898ba476ef92e8e2d0509f8441985171ff16e"
)


def _probe_repo(clan: Path, script: str) -> None:
    (clan / "dendrite.toml").write_text(
        "[generators.probe]\nscript = '''"
        + script
        + "'''\nfiles.out = { secret = false }\nmachines = [\"cinnabar\"]\n"
    )


def _run(clan: Path, keys: Keys, sandbox: bool) -> bytes:
    generate(
        clan,
        ["cinnabar"],
        "probe",
        regenerate=True,
        sandbox=sandbox,
        store=SecretsStore(clan, keys.identities),
    )
    return (clan / "vars/per-machine/cinnabar/probe/out/value").read_bytes()


@needs_bwrap
def test_the_sandbox_hides_the_admin_key_and_the_repository(clan: Path, keys: Keys) -> None:
    secret = next((clan / "sops").rglob("key.json"))
    script = (
        f'if cat "{keys.file}" >/dev/null 2>&1; then echo key; fi > "$out/out"\n'
        f'if cat "{secret}" >/dev/null 2>&1; then echo repo >> "$out/out"; fi\n'
        'if [ -n "${HOME:-}" ] && ls "${HOME:-/nonexistent}" >/dev/null 2>&1; then echo home >> "$out/out"; fi\ntrue'
    )
    _probe_repo(clan, script)
    assert _run(clan, keys, sandbox=False).split() == [b"key", b"repo"]  # the probe can see them unsandboxed
    assert _run(clan, keys, sandbox=True) == b""


@needs_bwrap
def test_the_sandbox_has_no_network(clan: Path, keys: Keys) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted: list[bool] = []

    def accept() -> None:
        server.settimeout(20)
        try:
            conn, _ = server.accept()
            accepted.append(True)
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    script = f'if (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; then echo connected; else echo refused; fi > "$out/out"'
    _probe_repo(clan, script)
    try:
        assert _run(clan, keys, sandbox=True) == b"refused\n"
        assert not accepted
        assert _run(clan, keys, sandbox=False) == b"connected\n"  # the listener was reachable
        t.join(5)
        assert accepted
    finally:
        server.close()


def test_bwrap_missing_is_a_sentence_with_the_way_out(
    clan: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dendrite.vars import sandbox

    sandbox._probe.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda cmd: None if cmd == "bwrap" else shutil.which(cmd))
    _probe_repo(clan, 'echo x > "$out/out"')
    try:
        with pytest.raises(DendriteError) as info:
            _run(clan, keys, sandbox=True)
        assert "bwrap" in info.value.message and "--no-sandbox" in (info.value.hint or "")
    finally:
        sandbox._probe.cache_clear()


def test_zerotier_identity_matches_zerotiers_own_vector() -> None:
    assert zerotier.validate_identity(zerotier.parse_identity(GOOD))
    assert not zerotier.validate_identity(zerotier.parse_identity("9" + GOOD[1:]))
    assert zerotier.member_ip("8e4df28b72a1b2c3", "8e4df28b72") == "fd8e:4df2:8b72:a1b2:c399:938e:4df2:8b72"


@pytest.mark.slow
def test_zerotier_vars_follow_clans_formulas(clan: Path, keys: Keys) -> None:
    inv = json.loads((clan / "inventory.json").read_text())
    inv["instances"]["zt"] = {
        "module": {"name": "zerotier"},
        "roles": {"controller": {"machines": {"cinnabar": {}}}, "peer": {"tags": ["all"]}},
    }
    (clan / "inventory.json").write_text(json.dumps(inv))
    (clan / "dendrite.toml").write_text("")
    store = SecretsStore(clan, keys.identities)
    generate(clan, store=store)
    ids = {
        m: zerotier.parse_identity(
            ops.get_var(clan, m, f"zerotier-identity-{m}/identity-secret", store=store).decode()
        )
        for m in ("cinnabar", "orb")
    }
    assert all(zerotier.validate_identity(i) for i in ids.values())
    nwid = ops.get_var(clan, "cinnabar", "zerotier-network-zt/network-id", store=store).decode()
    assert len(nwid) == 16 and nwid.startswith(ids["cinnabar"].address) and nwid[10:] != "000000"
    for m, ident in ids.items():
        ip = ops.get_var(clan, m, f"zerotier-ip-{m}-zt/ip", store=store).decode()
        assert ip == zerotier.member_ip(nwid, ident.address)
    assert not (clan / "vars/shared/zerotier-identity-stibnite").exists()  # darwin peer: no module, no vars


def test_machine_age_keys_decrypt_what_is_encrypted_to_them(clan: Path, keys: Keys) -> None:
    store = SecretsStore(clan, keys.identities)
    generate(clan, ["cinnabar"], store=store, prompt_values={"hello/name": "x"})
    private = store.get("cinnabar-age.key").decode()
    public = json.loads((clan / "sops/machines/cinnabar/key.json").read_text())[0]["publickey"]
    assert decrypt(encrypt(b"for the machine", [public]), identities_from_text(private)) == b"for the machine"
    # and the machine can read its deployed vars with that key alone
    secret = clan / "vars/per-machine/cinnabar/openssh/ssh.id_ed25519/secret"
    assert decrypt(secret.read_bytes(), identities_from_text(private)).startswith(
        b"-----BEGIN OPENSSH PRIVATE KEY"
    )
