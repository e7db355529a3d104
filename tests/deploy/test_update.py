"""`dendrite machines update`: the exact command sequence (--dry-run) and a real update on loopback.

Parity with clan: clan_lib/machines/update.py (`run_machine_update`, `upload_sources`, `_nixos_build`,
`_copy_closure`, `_nixos_activate`, `_update_darwin`, `_build_darwin_rebuild_cmd`), clan_lib/nix
(`nix_command`, `nix_build`), clan_cli/machines/update.py (`update_command`: --build-host localhost,
--target-host for one machine, vars generated first).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from dendrite.deploy.update import SWITCH_SCRIPT
from dendrite.deploy.upload import REMOTE_SCRIPT
from dendrite.migration import journal, ops
from tests.conftest import Keys, run_cli
from tests.deploy.conftest import Sshd, free_port, make_clan, needs_sshd, nix_conf_dir

NIX = "nix --extra-experimental-features 'nix-command flakes' --option warn-dirty false"
NIX_OPTIONS = "--show-trace --option keep-going true --option accept-flake-config true -L"
SSH = "ssh -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10"


def test_dry_run_prints_the_exact_commands_for_nixos_and_darwin(tmp_path: Path, keys: Keys) -> None:
    """clan's pipeline, built on the target when no build host is given (run_machine_update: the build
    host defaults to the target), and darwin-rebuild for a darwin machine (_update_darwin)."""
    root = make_clan(tmp_path / "repo", keys, None)
    done = run_cli(["--repo", str(root), "machines", "update", "cinnabar", "stibnite", "--dry-run"], keys.env)
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    upload = shlex.join(["sh", "-c", REMOTE_SCRIPT, "dendrite-upload", "/var/lib/sops-nix", "<nonce>"])

    def switch(action: str) -> str:
        argv = ["sh", "-c", SWITCH_SCRIPT, "dendrite-switch", f"dendrite-{action}-cinnabar-<id>"]
        return shlex.join([*argv, "<system>/bin/switch-to-configuration", action])

    def remote(host: str, command: str) -> str:
        return f"{SSH} {host} -- {shlex.quote(command)}"

    cinnabar_build = (
        f"{NIX} build --flake-registry '' --json --print-build-logs --no-link "
        f"'<flake>#nixosConfigurations.\"cinnabar\".config.system.build.toplevel' {NIX_OPTIONS}"
    )
    expected_text = "\n".join(
        [
            "dendrite vars generate   # every machine's missing vars, before any host",
            "# cinnabar (nixos): target root@cinnabar.zt, build on the target",
            f"{NIX} flake metadata --json {root}",
            remote("root@cinnabar.zt", upload),
            f"NIX_SSHOPTS='-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10' "
            f"{NIX} copy --to ssh-ng://root@cinnabar.zt --no-check-sigs '<flake>'",
            remote("root@cinnabar.zt", cinnabar_build),
            remote("root@cinnabar.zt", "test -e '<system>/nixos-version'"),
            remote("root@cinnabar.zt", "nix-env -p /nix/var/nix/profiles/system --set '<system>'"),
            remote("root@cinnabar.zt", switch("boot")),
            remote("root@cinnabar.zt", switch("switch")),
            "# stibnite (darwin): target admin@stibnite.local, build on the target",
            f"{NIX} flake metadata --json {root}",
            remote("admin@stibnite.local", "sudo -n -- " + upload),
            f"NIX_SSHOPTS='-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10' "
            f"{NIX} copy --to 'ssh-ng://admin@stibnite.local?remote-program=bash -lc '\"'\"'exec nix-daemon "
            f"--stdio'\"'\"'' --no-check-sigs '<flake>'",
            remote(
                "admin@stibnite.local",
                f"sudo -n -- /run/current-system/sw/bin/darwin-rebuild switch {NIX_OPTIONS} --flake '<flake>#stibnite'",
            ),
        ]
    )
    assert "\n".join(lines) == expected_text


FLAKE = """{
  outputs = { self }: {
    nixosConfigurations.cinnabar.config.system.build.toplevel = builtins.derivation {
      name = "nixos-system-cinnabar";
      system = "x86_64-linux";
      builder = "/bin/sh";
      PATH = "/bin:/usr/bin";
      record = "@RECORD@";
      args = [ "-c" ''
        mkdir -p $out/bin
        echo 25.05.test > $out/nixos-version
        printf '#!/bin/sh\\necho "$1" >> %s\\n' "$record" > $out/bin/switch-to-configuration
        chmod +x $out/bin/switch-to-configuration
      '' ];
    };
  };
}
"""


def migrating(root: Path) -> None:
    """The repository is being migrated: it has the seed's migration plan (cinnabar is its Phase 1 host)."""
    ops.init(root, record=False)


def deployments(root: Path) -> list[dict[str, Any]]:
    """The update's events, read back by the migration package's own journal reader."""
    j = journal.read(root)
    assert not j.problems, j.problems
    return [e for e in j.events if e["type"] in ("deployed", "deploy-failed")]


needs_nix = pytest.mark.skipif(
    not os.path.exists("/usr/bin/nix") and not os.path.exists("/nix/var/nix/profiles/default/bin/nix"),
    reason="needs the real Nix",
)


@pytest.fixture
def sshd_nix(tmp_path: Path) -> object:
    from tests.deploy.conftest import start_sshd, stop_sshd

    s = start_sshd(tmp_path / "sshd", nix_conf_dir())
    yield s
    stop_sshd(s)


@needs_sshd
@needs_nix
def test_real_update_on_loopback_records_every_step(tmp_path: Path, keys: Keys, sshd_nix: Sshd) -> None:
    """The whole pipeline for real: vars generated, uploaded over ssh, the system built here by the real
    Nix (--build-host localhost), its closure copied over ssh-ng into a separate chroot store standing
    for the target (clan's test store; `?remote-store=`), nixos-version checked, the profile set there,
    then switch-to-configuration boot and switch (no systemd here: run directly). A second machine that
    cannot be reached fails alone: the first completes, the summary shows both, exit 1."""
    sshd = sshd_nix
    record = tmp_path / "activations"
    unreachable = f"root@127.0.0.1:{free_port()}"
    root = make_clan(
        tmp_path / "repo",
        keys,
        sshd.address,
        {"orb": {"machineClass": "nixos", "deploy": {"targetHost": unreachable}}},
    )
    (root / "flake.nix").write_text(FLAKE.replace("@RECORD@", str(record)))
    migrating(root)
    store = tmp_path / "target-store"
    upload_dir = tmp_path / "machine" / "var" / "lib" / "sops-nix"
    env = {**keys.env, "NIX_CONF_DIR": str(nix_conf_dir()), "DENDRITE_TARGET_STORE": str(store)}
    args = ["--repo", str(root), "machines", "update", "cinnabar", "orb", "--build-host", "localhost"]
    args += ["--upload-dir", str(upload_dir), "--connect-timeout", "3", "--jobs", "2", *sshd.options]
    done = run_cli(args, env)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    table = done.stdout.decode()
    assert "cinnabar" in table and "orb" in table and "FAILED" in table

    # the target: the closure in its store, the profile pointing at it, both activations recorded
    by_host = {e["host"]: e for e in deployments(root)}
    assert sorted(by_host) == ["cinnabar", "orb"]
    cinnabar = by_host["cinnabar"]
    assert cinnabar["type"] == "deployed" and cinnabar["note"] == "dendrite machines update"
    steps = [s["name"] for s in cinnabar["steps"]]
    assert steps == [
        "generate",
        "connect",
        "upload",
        "flake",
        "build",
        "copy",
        "check",
        "profile",
        "boot",
        "switch",
    ]
    assert all(s["ok"] for s in cinnabar["steps"])
    system = next(s["detail"] for s in cinnabar["steps"] if s["name"] == "build")
    assert system.startswith("/nix/store/") and system.endswith("-nixos-system-cinnabar")
    assert (store / system.lstrip("/") / "nixos-version").read_text() == "25.05.test\n"
    profile = store / "nix/var/nix/profiles/system"
    assert os.readlink(profile.parent / os.readlink(profile)) == system
    assert record.read_text() == "boot\nswitch\n"
    assert (upload_dir / "key.txt").exists()
    copy = next(s for s in cinnabar["steps"] if s["name"] == "copy")
    assert f"remote-store={store}" in copy["command"] and system in copy["command"]

    orb = by_host["orb"]
    assert orb["type"] == "deploy-failed" and f"cannot reach {unreachable}" in orb["error"]
    assert [s["name"] for s in orb["steps"]] == ["generate", "connect"]
    assert f"cannot reach {unreachable} over ssh" in orb["steps"][-1]["detail"]

    # the migration package reads the update as cinnabar's deployment: its stability clock runs
    status = run_cli(["--repo", str(root), "migrate", "status", "--json"], keys.env)
    assert status.returncode == 0, status.stderr.decode()
    hosts = {h["name"]: h for h in json.loads(status.stdout)["hosts"]}
    assert hosts["cinnabar"]["clock"].startswith("running: 0.0 of 14 days"), hosts["cinnabar"]
    assert hosts["blackphos"]["clock"] == "not deployed"


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path, keys: Keys) -> None:
    """clan's update_command refuses an unknown machine and --target-host for several machines."""
    root = make_clan(tmp_path / "repo", keys, None, {"orb": {"machineClass": "nixos"}})
    migrating(root)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for args, message in [
        (["cinnabr"], b"machine 'cinnabr' is not in the inventory"),
        (["orb"], b"machine 'orb' has no target host"),
        (["cinnabar", "orb", "--target-host", "root@x"], b"--target-host can only be given for one machine"),
        (["cinnabar", "--target-host", "root@-x"], b"starts with '-'"),
        (["cinnabar", "--target-host", "root@a b"], b"is not an ssh address"),
        (["cinnabar", "--upload-dir", "/var"], b"is too shallow"),
    ]:
        done = run_cli(["--repo", str(root), "machines", "update", *args], keys.env)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert b"Traceback" not in done.stderr
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_an_unreachable_host_is_one_sentence_and_exit_2(tmp_path: Path, keys: Keys) -> None:
    """Nothing could be reached, so nothing changed: exit 2, the reason in one sentence, after the
    connect timeout; the attempt is journalled when the repository has a migration plan, and only then."""
    port = free_port()
    root = make_clan(tmp_path / "repo", keys, f"root@127.0.0.1:{port}")
    args = ["--repo", str(root), "machines", "update", "cinnabar", "--connect-timeout", "2"]
    assert run_cli(args, keys.env).returncode == 2
    assert not (root / "migration").exists()  # not being migrated: deploying starts no journal
    migrating(root)
    done = run_cli(args, keys.env)
    assert done.returncode == 2, done.stderr
    assert f"cannot reach root@127.0.0.1:{port} over ssh".encode() in done.stderr
    assert b"no machine could be reached; nothing was changed" in done.stderr
    assert b"Traceback" not in done.stderr
    (event,) = deployments(root)
    journal_file = root / "migration" / "journal.jsonl"
    journal_file.rename(root / "elsewhere.jsonl")
    journal_file.symlink_to(root / "elsewhere.jsonl")  # a planted link is never written through
    again = run_cli(args, keys.env)
    assert again.returncode == 2 and b"Traceback" not in again.stderr, again.stderr
    assert b"warning: cinnabar: not recorded in migration/journal.jsonl: " in again.stderr
    assert len((root / "elsewhere.jsonl").read_text().splitlines()) == 1
    assert event["type"] == "deploy-failed" and [s["name"] for s in event["steps"]] == ["generate", "connect"]


REFUSED_FLAKE = """{
  outputs = { self }: let
    system = name: script: builtins.derivation {
      inherit name;
      system = "x86_64-linux";
      builder = "/bin/sh";
      PATH = "/bin:/usr/bin";
      record = "@RECORD@";
      args = [ "-c" script ];
    };
  in {
    nixosConfigurations.cinnabar.config.system.build.toplevel = system "not-a-nixos-system" ''
      mkdir -p $out/bin
      printf '#!/bin/sh\\necho "cinnabar $1" >> %s\\n' "$record" > $out/bin/switch-to-configuration
      chmod +x $out/bin/switch-to-configuration
    '';
    nixosConfigurations.orb.config.system.build.toplevel = system "nixos-system-orb" ''
      mkdir -p $out/bin
      echo 25.05.test > $out/nixos-version
      printf '#!/bin/sh\\necho "orb $1" >> %s\\n[ "$1" = boot ] || [ -n "$NIXOS_NO_CHECK" ] || { echo "Pre-switch check failed: dbus changed" >&2; exit 1; }\\n' "$record" > $out/bin/switch-to-configuration
      chmod +x $out/bin/switch-to-configuration
    '';
  };
}
"""


@needs_sshd
@needs_nix
def test_a_system_without_nixos_version_is_refused_and_inhibitors_are_reported(
    tmp_path: Path, keys: Keys, sshd_nix: Sshd
) -> None:
    """clan's _nixos_activate: a build output without nixos-version is never set as the profile nor
    activated; a switch refused by switch inhibitors is reported as such after `boot` registered it, and
    not retried (clan retries only other failures); `--no-check` hands NIXOS_NO_CHECK=1 to the switch."""
    sshd = sshd_nix
    record = tmp_path / "activations"
    root = make_clan(
        tmp_path / "repo",
        keys,
        sshd.address,
        {"orb": {"machineClass": "nixos", "deploy": {"targetHost": sshd.address}}},
    )
    (root / "flake.nix").write_text(REFUSED_FLAKE.replace("@RECORD@", str(record)))
    migrating(root)
    store = tmp_path / "target-store"
    env = {**keys.env, "NIX_CONF_DIR": str(nix_conf_dir()), "DENDRITE_TARGET_STORE": str(store)}
    args = [
        "--repo",
        str(root),
        "machines",
        "update",
        "cinnabar",
        "orb",
        "--build-host",
        "localhost",
        "--jobs",
        "1",
    ]
    args += ["--upload-dir", str(tmp_path / "machine" / "var" / "sops-nix"), *sshd.options]
    done = run_cli(args, env)
    assert done.returncode == 1, done.stderr.decode()
    events = {e["host"]: e for e in deployments(root)}
    cinnabar = [(s["name"], s["ok"]) for s in events["cinnabar"]["steps"]]
    assert cinnabar[-2:] == [("copy", True), ("check", False)]
    assert "does not look like a NixOS system" in events["cinnabar"]["steps"][-1]["detail"]
    orb = events["orb"]["steps"]
    assert [(s["name"], s["ok"]) for s in orb][-3:] == [("profile", True), ("boot", True), ("switch", False)]
    assert "blocked by switch inhibitors" in orb[-1]["detail"]
    assert (
        record.read_text() == "orb boot\norb switch\n"
    )  # cinnabar never activated; orb's switch not retried
    profile = store / "nix/var/nix/profiles/system"
    assert "nixos-system-orb" in os.readlink(profile.parent / os.readlink(profile))

    again = [a for a in args if a != "cinnabar"] + ["--no-check"]
    done = run_cli(again, env)
    assert done.returncode == 0, done.stderr.decode()
    assert record.read_text() == "orb boot\norb switch\norb boot\norb switch\n"
