"""`dendrite demo`: the sample fleet's secret store built end to end in a directory of its own.

The admin key is generated inside the demo directory and handed to the store explicitly, so the demo
never reads or writes the user's real key file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from dendrite.errors import InputError
from dendrite.fleet import Fleet, sample_fleet
from dendrite.fsutil import write_private
from dendrite.inventory import Resolved, analyse
from dendrite.inventory.graph import mermaid
from dendrite.inventory.scaffold import write_inventory_modules
from dendrite.layout.convert import plan as convert_plan
from dendrite.layout.convert import write as write_converted
from dendrite.layout.discovery import discover, git_index
from dendrite.layout.fixture import write_unified_repo
from dendrite.layout.lint import lint
from dendrite.layout.namespace import namespace, parse_all
from dendrite.layout.unified import scan
from dendrite.migration import demo as migration_demo
from dendrite.process import RunOpts, run
from dendrite.secrets import health
from dendrite.secrets.keys import SopsKey
from dendrite.secrets.store import SecretsStore
from dendrite.sops.age import identities_from_text
from dendrite.vars.generate import generate
from dendrite.vars.ops import check as check_vars
from dendrite.vars.ops import list_vars

MARKER = ".dendrite-demo"


def _track(root: Path, *paths: str) -> None:
    """Make root a git repository of its own when it sits inside another one, and `git add` paths.

    Why: `make demo` builds ./demo-fleet inside the dendrite checkout, where it is ignored, so its
    `.nix` files would be untracked there and invisible to the flake (and to dendrite's inventory).
    Outside any work tree, nothing is run.
    """
    if not (root / ".git").exists():
        if git_index(root) is None:
            return
        run(["git", "-C", str(root), "init", "-q"], RunOpts(check=True, what=f"git init in {root}"))
    run(["git", "-C", str(root), "add", "--", *paths], RunOpts(check=True, what=f"git add in {root}"))


@dataclass(frozen=True)
class DemoReport:
    root: Path
    key_file: Path
    admin_public: str
    machines: dict[str, str]
    secrets: list[str]
    decrypted_name: str
    decrypted_value: bytes
    recipients: list[str]
    findings: int
    inventory_files: list[Path]
    inventory: Resolved
    graph: str
    generated: int
    cinnabar_vars: list[tuple[str, str]]
    vars_problems: int
    legacy_root: Path
    legacy_entries: int
    legacy_uses: int
    converted_files: int
    converted_errors: int
    namespace: dict[str, list[str]]


def build(root: Path, fleet: Fleet | None = None) -> DemoReport:
    fleet = fleet or sample_fleet()
    root = root.resolve()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise InputError(
                f"{root} exists and is not a dendrite demo directory", hint="choose an empty or new directory"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)  # an empty directory given by the user is fine
    (root / MARKER).write_text("made by `dendrite demo`; safe to delete\n")
    (root / "flake.nix").write_text(
        '{\n  description = "dendrite demo fleet (secrets only so far)";\n  outputs = _: { };\n}\n'
    )

    ident = pyrage.x25519.Identity.generate()
    key_file = root / ".keys" / "admin-age.txt"
    admin_public = str(ident.to_public())
    write_private(key_file, f"# public key: {admin_public}\n{ident}\n".encode())
    store = SecretsStore(root, identities_from_text(key_file.read_text(), str(key_file)))

    store.add_user(fleet.admin_user, [SopsKey("age", admin_public)])
    for g in fleet.admin_groups:
        store.group_add(g, "users", fleet.admin_user)
    machines = {}
    for m in fleet.machines:
        key, _ = store.add_machine(m.name, None)
        machines[m.name] = key.publickey
    for s in fleet.secrets:
        store.set(s.name, s.value.encode(), machines=s.machines, groups=s.groups)

    machines_plain: dict[str, dict[str, Any]] = {
        m.name: {"machineClass": m.machine_class, "tags": list(m.tags), "description": m.description}
        for m in fleet.machines
    }
    machines_plain["cinnabar"]["deploy"] = {"targetHost": "root@cinnabar.zt"}
    files = write_inventory_modules(
        root / "modules" / "clan",
        {"name": fleet.name, "domain": fleet.domain},
        machines_plain,
        fleet.instances,
    )
    _track(root, "flake.nix", "modules")
    resolved = analyse(root)
    (root / "dendrite.toml").write_text('[secrets]\ndefault_groups = ["admins"]\n')
    generated = generate(
        root, store=store, prompt_values={f"user-password-{fleet.admin_user}/user-password": ""}
    )
    cinnabar_vars = list_vars(root, "cinnabar", store=store)
    vars_problems = check_vars(root, store=store)

    legacy = root / "nixos-unified"
    write_unified_repo(legacy)
    legacy_scan = scan(legacy)
    converted = convert_plan(legacy, Path("dendritic"), with_flake=True)
    write_converted(converted)
    _track(legacy, ".")
    converted_lint = lint(legacy, legacy / "dendritic", use_git=False)
    converted_modules = namespace(parse_all(discover(legacy / "dendritic", use_git=False).files))

    migration_demo.build(root)  # migration/: Phase 0 done, Phase 1 in its window, report.html
    shown = fleet.secrets[0].name
    return DemoReport(
        root=root,
        key_file=key_file,
        admin_public=admin_public,
        machines=machines,
        secrets=store.secrets(),
        decrypted_name=shown,
        decrypted_value=store.get(shown),
        recipients=store.recipients(shown),
        findings=len(health.check(store)),
        inventory_files=files,
        inventory=resolved,
        graph=mermaid(resolved.inventory, resolved.assignments),
        generated=len(generated.generated),
        cinnabar_vars=cinnabar_vars,
        vars_problems=len(vars_problems),
        legacy_root=legacy,
        legacy_entries=len(legacy_scan.entries),
        legacy_uses=len(legacy_scan.uses),
        converted_files=len(converted.files),
        converted_errors=sum(1 for f in converted_lint if f.severity == "error"),
        namespace={c: list(names) for c, names in converted_modules.items()},
    )
