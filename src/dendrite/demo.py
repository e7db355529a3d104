"""`dendrite demo`: the sample fleet's secret store built end to end in a directory of its own.

The admin key is generated inside the demo directory and handed to the store explicitly, so the demo
never reads or writes the user's real key file.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable
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
from dendrite.layout.discovery import discover
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
BUILDING = "being built by `dendrite demo`"  # the marker's text until the build is committed
DONE = "made by `dendrite demo`; safe to delete\n"
LEGACY_DIR = "nixos-unified"
KEY_FILE = ".keys/admin-age.txt"
# The demo's commits carry a fixed author, committer and date: two builds differ only in their keys.
AUTHOR_NAME = "dendrite demo"
AUTHOR_EMAIL = "demo@dendrite.invalid"
COMMIT_DATE = "2026-01-01T00:00:00+00:00"
COMMIT_MESSAGE = "the dendrite demo fleet, as `dendrite demo` built it"
# Not committed: the admin's private key, and the legacy repository, which is a git repository of its own.
GITIGNORE = (
    f"/.keys/\n/{LEGACY_DIR}/\n/test-clan/\n"  # test-clan: `make demo` builds the Phase 0 repository there
)
STEPS = 9
"""How many steps `build` reports through its progress callback."""

Progress = Callable[[int, int], None] | None


def _git(root: Path, *args: str) -> list[str]:
    # Why these settings: the user's own git configuration must not sign, run hooks or an fsmonitor
    # for the demo's commits, nor make the build depend on the user's name being configured.
    return [
        "git",
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "commit.gpgsign=false",
        "-c",
        f"user.name={AUTHOR_NAME}",
        "-c",
        f"user.email={AUTHOR_EMAIL}",
        "-C",
        str(root),
        *args,
    ]


def _git_env() -> dict[str, str]:
    return {
        **os.environ,
        "LC_ALL": "C",
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_AUTHOR_DATE": COMMIT_DATE,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_DATE": COMMIT_DATE,
    }


def _run_git(root: Path, *args: str, what: str) -> str:
    return run(_git(root, *args), RunOpts(check=True, timeout=60, env=_git_env(), what=what)).text


def _init(root: Path) -> None:
    """Make root a git repository of its own, always: a flake sees only what git tracks, and inside
    another checkout (`make demo` builds ./demo-fleet in the dendrite checkout, which ignores it) the
    files would otherwise be untracked there and invisible to the flake, the inventory and lint."""
    _run_git(root, "init", "-q", "-b", "main", what=f"git init in {root}")
    # dendrite commits its changes as clan does; on a machine where git knows no user (a fresh CI box,
    # root, a test's empty $HOME), every command tried on the demo would stop at "Please tell me who
    # you are". The demo is a sandbox: its commits are the demo author's, set in its own .git/config.
    _run_git(root, "config", "user.name", AUTHOR_NAME, what=f"git config in {root}")
    _run_git(root, "config", "user.email", AUTHOR_EMAIL, what=f"git config in {root}")


def _commit(root: Path) -> None:
    """Commit everything not ignored, with the demo's fixed author and date."""
    _run_git(root, "add", "-A", what=f"git add in {root}")
    _run_git(root, "commit", "-q", "--no-verify", "-m", COMMIT_MESSAGE, what=f"git commit in {root}")


@dataclass(frozen=True)
class Existing:
    """What a directory the demo is asked to build in already holds."""

    root: Path
    demo: bool
    """It carries the demo's marker: `dendrite demo` built it."""
    changes: tuple[str, ...]
    """The user's changes since the build, as `git status --short` lines (paths from root), and
    commits made after the demo's: what a rebuild would lose. Empty: the demo as it was built."""
    incomplete: bool = False
    """A build that was interrupted: nothing in it is the user's, so it is simply built again."""


def inspect(root: Path) -> Existing | None:
    """None when `root` does not exist or is empty; otherwise what it holds."""
    root = root.resolve()
    if not root.exists():
        return None
    if not root.is_dir():
        return Existing(root, False, ())
    if not any(root.iterdir()):
        return None
    if not (root / MARKER).is_file():
        return Existing(root, False, ())
    if (root / MARKER).read_text(errors="replace").startswith(BUILDING):
        return Existing(root, True, (), incomplete=True)
    changes = [*_changes(root, ""), *_changes(root / LEGACY_DIR, LEGACY_DIR + "/")]
    return Existing(root, True, tuple(changes))


def _changes(repo: Path, prefix: str) -> list[str]:
    if not (repo / ".git").is_dir():
        return [f"{prefix or './'} (no longer the demo's git repository)"] if repo.exists() else []
    status = run(
        _git(repo, "status", "--porcelain=v1", "--untracked-files=all"),
        RunOpts(check=False, timeout=60, env=_git_env(), what=f"git status in {repo}"),
    )
    if not status.ok:
        return [f"{prefix or './'} (git status fails there: {status.stderr_tail or 'no reason given'})"]
    lines = [f"{ln[:3]}{prefix}{ln[3:]}" for ln in status.text.splitlines() if ln.strip()]
    log = run(
        _git(repo, "log", "--format=%h %an: %s", "HEAD"),
        RunOpts(check=False, timeout=60, env=_git_env(), what=f"git log in {repo}"),
    )
    ours = [ln for ln in log.text.splitlines() if ln] if log.ok else []
    lines += [f"commit {prefix}{ln}" for ln in ours[:-1]]  # the last (oldest) is the demo's own
    if ours and not ours[-1].split(" ", 1)[1].startswith(AUTHOR_NAME + ":"):
        lines.append(f"commit {prefix}{ours[-1]}")
    return lines


def next_steps(root: Path) -> list[str]:
    """The commands to try next, exactly as a user types them (a test runs every one as printed)."""
    root = root.resolve()
    legacy = shlex.quote(str(root / LEGACY_DIR))
    return [
        f"export SOPS_AGE_KEY_FILE={shlex.quote(str(root / KEY_FILE))}",
        f"cd {shlex.quote(str(root))}",
        "dendrite secrets list",
        "dendrite secrets groups list",
        "dendrite secrets get cinnabar-restic-password",
        "echo s3cret | dendrite secrets set grafana-admin --group admins --machine cinnabar",
        "dendrite secrets users add alice $(python3 -c 'import pyrage;print(pyrage.x25519.Identity.generate().to_public())')",
        "dendrite secrets groups add-user admins alice      # re-keys every admins secret",
        "dendrite secrets check",
        "dendrite inventory validate",
        "dendrite inventory machine cinnabar",
        "dendrite inventory graph --format dot",
        "dendrite machines create orb --class nixos --tag vps",
        f"dendrite migrate scan {legacy}",
        f"dendrite migrate convert {legacy} --out dendritic --dry-run",
        f"dendrite layout lint {shlex.quote(str(root / LEGACY_DIR / 'dendritic'))}",
        "dendrite vars list cinnabar",
        "dendrite vars get cinnabar zerotier-identity-cinnabar/identity-secret",
        "dendrite vars generate --regenerate -g openssh cinnabar",
        "sops decrypt sops/secrets/hetzner-api-token/secret   # the real sops reads it too",
        "git log --oneline                                   # each change above is a commit, as clan makes them",
    ]


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


def build(
    root: Path, fleet: Fleet | None = None, *, replace: bool = False, progress: Progress = None
) -> DemoReport:
    """Build the demo in `root`, which must be new or empty; with `replace`, an earlier demo there is
    deleted first (the caller has shown the user what that loses: `inspect`)."""
    fleet = fleet or sample_fleet()
    root = root.resolve()
    step = _stepper(progress)
    existing = inspect(root)
    if existing is not None:
        if not existing.demo:
            raise InputError(
                f"{root} exists"
                + (
                    ", is not empty and is not a dendrite demo"
                    if root.is_dir()
                    else " and is not a directory"
                )
                + "; nothing was changed",
                hint="choose a new or empty directory",
            )
        if not replace and not existing.incomplete:
            raise InputError(
                f"{root} already holds a demo fleet; nothing was changed",
                hint="rebuild it with --force (your changes there are lost)",
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(BUILDING + "; run it again to finish\n")
    (root / ".gitignore").write_text(GITIGNORE)
    (root / "flake.nix").write_text(
        '{\n  description = "dendrite demo fleet (secrets only so far)";\n  outputs = _: { };\n}\n'
    )
    _init(root)
    step()

    ident = pyrage.x25519.Identity.generate()
    key_file = root / KEY_FILE
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
    step()
    for s in fleet.secrets:
        store.set(s.name, s.value.encode(), machines=s.machines, groups=s.groups)
    step()

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
    _run_git(
        root, "add", "--", "flake.nix", "modules", what=f"git add in {root}"
    )  # the inventory reads tracked files
    resolved = analyse(root)
    step()
    (root / "dendrite.toml").write_text('[secrets]\ndefault_groups = ["admins"]\n')
    generated = generate(
        root, store=store, prompt_values={f"user-password-{fleet.admin_user}/user-password": ""}
    )
    step()
    cinnabar_vars = list_vars(root, "cinnabar", store=store)
    vars_problems = check_vars(root, store=store)
    step()

    legacy = root / LEGACY_DIR
    write_unified_repo(legacy)
    _init(legacy)
    legacy_scan = scan(legacy)
    converted = convert_plan(legacy, Path("dendritic"), with_flake=True)
    write_converted(converted)
    _commit(legacy)
    step()
    converted_lint = lint(legacy, legacy / "dendritic")
    converted_modules = namespace(parse_all(discover(legacy / "dendritic").files))
    step()

    migration_demo.build(root)  # migration/: Phase 0 done, Phase 1 in its window, report.html
    shown = fleet.secrets[0].name
    report = DemoReport(
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
    (root / MARKER).write_text(DONE)
    _commit(root)
    step()
    return report


def _stepper(progress: Progress) -> Callable[[], None]:
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, STEPS)

    return step
