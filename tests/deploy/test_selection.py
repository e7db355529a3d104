"""`dendrite machines update` without MACHINE: which machines, as clan chooses them.

Parity with clan: clan_cli/machines/update.py `get_machines_for_update` (no names, no tags: every
machine of `list_machines`, sorted as the inventory's attribute set, filtered by
`requires_explicit_update`: `config.clan.deployment.requireExplicitUpdate` true leaves a machine out, an
evaluation error keeps it; the target host check there never runs, `Machine.target_host` being a method,
and clan's `update_test.py` `test_get_machines_for_update_implicit_all` selects machines without one),
its warning when nothing is left, and `update_command` (`run_generators(all_machines)` before any host,
`--target-host` refused for more than one machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite.deploy.selection import select_all
from dendrite.nix import current_system
from tests.conftest import Keys, clean_env, run_cli
from tests.deploy.conftest import Sshd, free_port, make_clan, needs_sshd, nix_conf_dir
from tests.deploy.test_update import FLAKE, deployments, migrating, needs_nix
from tests.inventory.clanoracle import NIX_LIB
from tests.inventory.clanoracle import needs_nix as needs_oracle
from tests.nixlang.oracle import nix_eval_expr

DEMO_MACHINES = ["argentum", "blackphos", "cinnabar", "rosegold", "stibnite"]
GENERATE = "dendrite vars generate   # every machine's missing vars, before any host"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("demo")
    env = clean_env(home=base / "home")
    made = run_cli(["demo", str(base / "fleet")], env)
    assert made.returncode == 0, made.stderr
    return base / "fleet", {**env, "SOPS_AGE_KEY_FILE": str(base / "fleet/.keys/admin-age.txt")}


def _fleet(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    copy = tmp_path / "fleet"
    shutil.copytree(demo[0], copy, symlinks=True)
    return copy


def _write(root: Path, rel: str, text: str) -> None:
    """A Nix file the flake sees: written and added to git (import-tree reads what git tracks)."""
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)
    subprocess.run(["git", "-C", str(root), "add", rel], check=True, capture_output=True)


def _dry_run(root: Path, env: dict[str, str], *args: str) -> tuple[list[str], str]:
    done = run_cli(["--repo", str(root), "machines", "update", "--dry-run", *args], env)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().splitlines(), done.stderr.decode()


def _headers(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("# ")]


def test_no_names_selects_every_machine_in_clans_order_and_lists_each_sequence(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The demo fleet: all five machines, sorted; cinnabar's full sequence, the four darwin machines
    (no deploy.targetHost) named as failing alone, as clan's update of them fails in get_best_remote;
    the vars of every machine generated first, once."""
    root = _fleet(demo, tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    lines, err = _dry_run(root, demo[1])
    assert lines[0] == GENERATE
    assert _headers(lines) == [
        "# argentum: machine 'argentum' has no target host, so its update fails and the others go on "
        "(set inventory.machines.argentum.deploy.targetHost)",
        "# blackphos: machine 'blackphos' has no target host, so its update fails and the others go on "
        "(set inventory.machines.blackphos.deploy.targetHost)",
        "# cinnabar (nixos): target root@cinnabar.zt, build on the target",
        "# rosegold: machine 'rosegold' has no target host, so its update fails and the others go on "
        "(set inventory.machines.rosegold.deploy.targetHost)",
        "# stibnite: machine 'stibnite' has no target host, so its update fails and the others go on "
        "(set inventory.machines.stibnite.deploy.targetHost)",
    ]
    # cinnabar's block is exactly what `machines update cinnabar --dry-run` prints for it
    named, _ = _dry_run(root, demo[1], "cinnabar")
    start = lines.index("# cinnabar (nixos): target root@cinnabar.zt, build on the target")
    assert lines[start : start + len(named) - 1] == named[1:]
    assert "requireExplicitUpdate" not in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # a dry run writes nothing


def test_require_explicit_update_leaves_machines_out(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """`clan.core.deployment.requireExplicitUpdate = true` (and the old path `clan.deployment.…`) in a
    machine's own files or host module; `lib.mkForce false` beats a plain `true`; a definition that
    is not literal is reported and not guessed (the machine stays selected, as an evaluation error
    keeps it in clan)."""
    root = _fleet(demo, tmp_path)
    _write(
        root,
        "machines/stibnite/configuration.nix",
        "{ lib, ... }: { clan.core.deployment.requireExplicitUpdate = lib.mkDefault true; }\n",
    )
    _write(
        root,
        "modules/hosts/argentum.nix",
        '{ flake.modules.darwin."hosts/argentum" = { clan.deployment.requireExplicitUpdate = true; }; }\n',
    )
    _write(
        root,
        "modules/hosts/rosegold.nix",
        "{ lib, ... }: {\n"
        '  flake.modules.darwin."hosts/rosegold".clan.core.deployment = {\n'
        "    requireExplicitUpdate = true;\n  };\n"
        '  flake.modules.darwin."hosts/rosegold".clan.core.deployment.requireExplicitUpdate = lib.mkForce false;\n'
        '  flake.modules.darwin."hosts/blackphos".clan.core.deployment.requireExplicitUpdate = lib.elem "x" [ "x" ];\n'
        "}\n",
    )
    lines, err = _dry_run(root, demo[1])
    assert [h.split(":")[0].split()[1] for h in _headers(lines)] == ["blackphos", "cinnabar", "rosegold"]
    assert "not updated (requireExplicitUpdate): argentum, stibnite" in err
    assert "modules/hosts/rosegold.nix:6:" in err and "is not a literal true or false; use --nix" in err
    # named machines are updated whatever the option says, as clan's explicit update
    named, _ = _dry_run(root, demo[1], "stibnite", "--target-host", "admin@stibnite.local")
    assert _headers(named) == ["# stibnite (darwin): target admin@stibnite.local, build on the target"]
    assert select_all(root, DEMO_MACHINES).ignored == ("argentum", "stibnite")


def test_nothing_left_prints_clans_warning_and_succeeds(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """clan's `get_machines_for_update`: no machine to update and some ignored: its WARNING and their
    names on stderr; the run updates nothing and succeeds."""
    root = _fleet(demo, tmp_path)
    _write(root, "modules/everyone.nix", "{ clan.core.deployment.requireExplicitUpdate = true; }\n")
    lines, err = _dry_run(root, demo[1])
    assert lines == [GENERATE]
    assert (
        "WARNING: No machines to update.\nThe following defined machines were ignored because they\n" in err
    )
    assert "- Require explicit update (see 'requireExplicitUpdate')\n" + "\n".join(DEMO_MACHINES) in err
    assert "--target-host" not in err
    done = run_cli(["--repo", str(root), "machines", "update", "--target-host", "root@x"], demo[1])
    assert done.returncode == 0, done.stderr  # nothing selected: --target-host is for no machine


def test_target_host_with_several_selected_is_refused(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """clan's update_command: "Target Host can only be set for one machines" after the selection."""
    root = _fleet(demo, tmp_path)
    done = run_cli(
        ["--repo", str(root), "machines", "update", "--target-host", "root@x", "--dry-run"], demo[1]
    )
    assert done.returncode == 2 and b"--target-host can only be given for one machine" in done.stderr


@needs_nix
def test_nix_evaluates_require_explicit_update_with_clans_selector(tmp_path: Path, keys: Keys) -> None:
    """--nix: `clanInternals.machines.<system>.<m>.config.clan.deployment.requireExplicitUpdate`, here
    computed (`builtins.elem`), which the static reading cannot see; a machine whose option does not
    evaluate is updated with a note, as clan's `except ClanError: pass`."""
    root = make_clan(tmp_path / "repo", keys, None, {"orb": {"machineClass": "nixos"}})
    (root / "flake.nix").write_text(
        f"{{ outputs = _: {{ clanInternals.machines.{current_system()} = {{\n"
        '  cinnabar.config.clan.deployment.requireExplicitUpdate = builtins.elem "x" [ "x" ];\n'
        "  stibnite.config.clan.deployment.requireExplicitUpdate = false;\n"
        "}; }; }\n"
    )
    env = {**keys.env, "NIX_CONFIG": "build-users-group =", "HOME": str(tmp_path)}
    static, _ = _dry_run(root, env)
    assert [h.split()[1].rstrip(":") for h in _headers(static)] == ["cinnabar", "orb", "stibnite"]
    lines, err = _dry_run(root, env, "--nix")
    assert [h.split()[1].rstrip(":") for h in _headers(lines)] == ["orb", "stibnite"]
    assert "not updated (requireExplicitUpdate): cinnabar" in err
    assert "orb: requireExplicitUpdate could not be evaluated" in err and "updating it" in err


@needs_sshd
@needs_nix
def test_real_update_without_names_on_loopback(tmp_path: Path, keys: Keys, sshd: Sshd) -> None:
    """The whole pipeline for the machines clan selects: cinnabar (loopback sshd) is built here,
    copied into the chroot store standing for the target and switched; orb, without a target host,
    fails alone and is not journalled (no host was touched); flash and stibnite
    (requireExplicitUpdate) are left alone, but their vars are generated, as clan's
    run_generators(all_machines)."""
    record = tmp_path / "activations"
    unreachable = f"root@127.0.0.1:{free_port()}"
    root = make_clan(
        tmp_path / "repo",
        keys,
        sshd.address,
        {
            "orb": {"machineClass": "nixos"},
            "flash": {"machineClass": "nixos", "deploy": {"targetHost": unreachable}},
        },
    )
    (root / "flake.nix").write_text(FLAKE.replace("@RECORD@", str(record)))
    for m in ("flash", "stibnite"):
        (root / "machines" / m).mkdir(parents=True)
        (root / "machines" / m / "configuration.nix").write_text(
            "{ clan.core.deployment.requireExplicitUpdate = true; }\n"
        )
    migrating(root)
    store = tmp_path / "target-store"
    env = {**keys.env, "NIX_CONF_DIR": str(nix_conf_dir()), "DENDRITE_TARGET_STORE": str(store)}
    args = ["--repo", str(root), "machines", "update", "--build-host", "localhost", "--connect-timeout", "3"]
    args += ["--upload-dir", str(tmp_path / "machine/var/lib/sops-nix"), *sshd.options]
    done = run_cli(args, env)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    table = done.stdout.decode()
    assert "cinnabar" in table and "orb" in table and "flash" not in table and "stibnite" not in table
    assert "not updated (requireExplicitUpdate): flash, stibnite" in stderr
    assert "orb: connect FAILED (0.00 s): machine 'orb' has no target host" in stderr
    assert record.read_text() == "boot\nswitch\n"
    (event,) = deployments(root)
    assert event["host"] == "cinnabar" and event["type"] == "deployed"
    assert [s["name"] for s in event["steps"]][:2] == ["generate", "connect"]
    assert event["steps"][0]["command"] == "dendrite vars generate"
    for m in ("cinnabar", "orb", "flash", "stibnite"):  # every machine's vars, the ignored ones too
        assert (root / "vars/per-machine" / m / "disk/passphrase/secret").is_file(), m
    assert json.loads((root / "inventory.json").read_text())["machines"]["flash"]  # untouched inventory
    assert not os.path.exists(tmp_path / "machine/var/lib/sops-nix/flash")


WRAPPERS = {"": "{}", "mkDefault": "lib.mkDefault {}", "mkForce": "lib.mkForce {}"}


@needs_oracle
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(WRAPPERS)), st.booleans()), max_size=4))
def test_static_reading_merges_definitions_as_the_module_system_does(
    tmp_path_factory: pytest.TempPathFactory, defs: list[tuple[str, bool]]
) -> None:
    """Several definitions of one machine's `requireExplicitUpdate`, plain or in `lib.mkDefault` /
    `lib.mkForce`: the static reading leaves the machine out exactly when nixpkgs' own `evalModules`
    (the pinned lib in tests/oracle) merges them to true; where the module system refuses the
    conflicting values (clan's evaluation error, so the machine is updated) it is kept, with a note."""
    root = tmp_path_factory.mktemp("merge")
    (root / "inventory.json").write_text(
        json.dumps({"meta": {"name": "t"}, "machines": {"m": {"machineClass": "nixos"}}, "instances": {}})
    )
    (root / "machines/m").mkdir(parents=True)
    files = []
    for i, (wrapper, value) in enumerate(defs):
        f = root / f"machines/m/d{i}.nix"
        body = WRAPPERS[wrapper].format("true" if value else "false")
        f.write_text(f"{{ lib, ... }}: {{ clan.core.deployment.requireExplicitUpdate = {body}; }}\n")
        files.append(f)
    modules = " ".join(f"(import {f})" for f in files)
    got = nix_eval_expr(
        f"let lib = import {NIX_LIB}; r = lib.evalModules {{ modules = [ {{ options.clan.core.deployment"
        ".requireExplicitUpdate = lib.mkOption { type = lib.types.bool; default = false; }; } "
        f"{modules} ]; }}; t = builtins.tryEval r.config.clan.core.deployment.requireExplicitUpdate; "
        "in { ok = t.success; value = if t.success then t.value else null; }"
    )
    selection = select_all(root, ["m"])
    assert selection.ignored == (("m",) if got == {"ok": True, "value": True} else ())
    assert any("both true and false" in n for n in selection.notes) == (not got["ok"])


def test_nix_with_named_machines_is_refused_before_anything(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """clan_cli/machines/update.py: with names, `requires_explicit_update` is never consulted, so
    `--nix` (which only evaluates that option) would be silently ignored; it is refused instead."""
    root = _fleet(demo, tmp_path)
    before = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"], capture_output=True, check=True
    )
    done = run_cli(["--repo", str(root), "machines", "update", "--nix", "--dry-run", "cinnabar"], demo[1])
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(b"error: --nix only chooses machines when none is named"), done.stderr
    assert b"Traceback" not in done.stderr and done.stdout == b""
    after = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, check=True)
    assert after.stdout == before.stdout
