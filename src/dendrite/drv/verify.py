"""Is a migrated host the same system? Its system derivation before and after, evaluated by the real Nix.

For each host, `nixosConfigurations.<h>.config.system.build.toplevel.drvPath` (or, for a darwin host,
`darwinConfigurations.<h>.system.drvPath`) is evaluated from the old tree and from the new one. The
same path means the same system, bit for bit; different paths are compared with `dendrite.drv.diff`,
which also tells a real change from a move of the flake's own source.

A tree is a directory or a git ref; a ref is materialised with `git archive` into a temporary
directory, removed afterwards. A tree is evaluated as a flake (`builtins.getFlake`, flakes enabled
for the call only) or, with `expr`, through an entry expression: a Nix file holding a function
`{ src }: <outputs>` whose result has the flake's `nixosConfigurations`/`darwinConfigurations`, where
`src` is the tree copied into the store as a flake's `self.outPath` is (`.git` left out). That is how
Nix without flakes, or without network for a flake's inputs, verifies a host.

Hosts are evaluated in parallel, each side of each host one `nix` process with its own timeout. A
problem with one host (missing on a side, an evaluation error, a timeout) is that host's verdict;
a problem with the run (a ref that does not exist, no Nix) is an error before any host is evaluated.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dendrite import boundedjson
from dendrite.drv.diff import Comparison, Differ
from dendrite.drv.store import STORE_DIR, DrvReader
from dendrite.errors import CommandError, CommandTimeout, DendriteError, InputError
from dendrite.process import RunOpts, run

FLAKES = ["--extra-experimental-features", "nix-command flakes"]
ERROR_LINES = 4  # lines of nix's error shown: the message and where it happened
MAX_ARCHIVE = 512 * 1024 * 1024  # a configuration repository is small; a bigger archive is refused


@dataclass(frozen=True)
class Tree:
    """One side: what the user named (a ref or a directory) and the directory evaluated."""

    label: str  # "old" or "new"
    spec: str
    path: Path

    def describe(self) -> str:
        return f"the {self.label} tree ({self.spec})"


@dataclass(frozen=True)
class Evaluated:
    kind: str | None  # "nixos" or "darwin"; None: the host is not defined on this side
    drv_path: str | None
    source: str | None  # the store path of the tree itself (the flake's self.outPath)
    hosts: tuple[str, ...] = ()  # when the host is missing: the hosts this side has


@dataclass(frozen=True)
class HostVerdict:
    """One host's result: a comparison, or the one-sentence error that prevented it."""

    host: str
    kind: str | None = None
    old: str | None = None
    new: str | None = None
    comparison: Comparison | None = None
    error: str | None = None
    detail: tuple[str, ...] = ()  # the first lines of nix's error, when evaluation failed

    @property
    def verdict(self) -> str:
        """ "identical", "same system, sources moved", "different", or "error"."""
        return "error" if self.comparison is None else self.comparison.verdict.value

    @property
    def differences(self) -> int:
        return len(self.comparison.differences) if self.comparison is not None else 0

    def summary(self) -> dict[str, Any]:
        """What a journal records: JSON-able, without the diff tree."""
        found: dict[str, Any] = {"host": self.host, "verdict": self.verdict, "differences": self.differences}
        if self.error is not None:
            found["error"] = self.error
            found["detail"] = list(self.detail)
        return found

    def to_json(self) -> dict[str, Any]:
        found = self.summary() | {"kind": self.kind, "old": self.old, "new": self.new}
        if self.comparison is not None and self.comparison.root is not None:
            found["tree"] = self.comparison.root.to_json()
        return found


def _nix_string(text: str) -> str:
    """A Nix string literal: JSON's, with `${` escaped (a JSON string is otherwise a Nix string)."""
    return json.dumps(text).replace("${", "\\${")


def _nix_path(path: Path) -> str:
    return f"(/. + {_nix_string(str(path.resolve()))})"


def _select(host: str) -> str:
    """The Nix expression, over `outputs` and `source`, giving what `Evaluated` holds."""
    h = _nix_string(host)
    return f"""
  nixos = outputs.nixosConfigurations or {{ }};
  darwin = outputs.darwinConfigurations or {{ }};
in
  if nixos ? {h} then {{ kind = "nixos"; drvPath = nixos.{h}.config.system.build.toplevel.drvPath; inherit source; }}
  else if darwin ? {h} then {{ kind = "darwin"; drvPath = darwin.{h}.system.drvPath; inherit source; }}
  else {{ kind = null; hosts = builtins.attrNames nixos ++ builtins.attrNames darwin; }}
"""


def expr_command(tree: Path, expr: Path, host: str) -> list[str]:
    """nix-instantiate evaluating the entry expression for `host`; read-write so the .drv files are written."""
    program = f"""let
  src = builtins.path {{ path = {_nix_path(tree)}; name = "source"; filter = p: t: baseNameOf p != ".git"; }};
  source = "${{src}}";
  outputs = import {_nix_path(expr)} {{ inherit src; }};
{_select(host)}"""
    return ["nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode", "-E", program]


def flake_command(tree: Path, host: str) -> list[str]:
    program = f"""let
  outputs = builtins.getFlake {_nix_string(str(tree.resolve()))};
  source = outputs.outPath;
{_select(host)}"""
    return ["nix", *FLAKES, "eval", "--json", "--impure", "--expr", program]


def _first_lines(exc: CommandError) -> tuple[str, ...]:
    """Nix's error from its first `error:` line on (the trace before it is noise), a few lines."""
    lines = [ln.rstrip() for ln in exc.stderr_tail.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("warning:")]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("error:")), 0)
    return tuple(lines[start : start + ERROR_LINES])


# What nix needs from the environment; the rest (SOPS_AGE_KEY, tokens, cloud credentials) is not the
# evaluation's business: `builtins.getEnv` in an impure evaluation of the repository's flake reads it
_NIX_ENV = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TERM", "TZ", "LANG", "SSL_CERT_FILE", "SSL_CERT_DIR"}
    | {"XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"}
    | {"XDG_CONFIG_DIRS", "XDG_DATA_DIRS", "http_proxy", "https_proxy", "no_proxy", "all_proxy"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "CURL_CA_BUNDLE"}
)


def nix_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment a nix evaluation of the repository gets: nix's own settings (NIX_*) and the
    basics above, from `env` (default: this process's)."""
    base = os.environ if env is None else env
    return {k: v for k, v in base.items() if k in _NIX_ENV or k.startswith(("NIX_", "LC_"))}


@dataclass(frozen=True)
class Evaluator:
    """How hosts are evaluated: the entry expression (None: as a flake), the time limit, the environment."""

    expr: Path | None = None
    timeout: float = 600.0
    env: dict[str, str] | None = None

    def command(self, tree: Path, host: str) -> list[str]:
        return expr_command(tree, self.expr, host) if self.expr is not None else flake_command(tree, host)

    def evaluate(self, tree: Tree, host: str) -> Evaluated:
        opts = RunOpts(
            check=True,
            timeout=self.timeout,
            env=nix_env(self.env),
            what=f"evaluating host {host} from {tree.describe()}",
            needed_for="migrate verify",
        )
        out = run(self.command(tree.path, host), opts)
        try:
            value = boundedjson.loads(out.stdout, f"nix's answer for host {host}")
        except json.JSONDecodeError:
            raise InputError(f"nix did not print JSON for host {host} from {tree.describe()}") from None
        if not isinstance(value, dict):
            raise InputError(f"nix printed {value!r} for host {host} from {tree.describe()}")
        hosts = value.get("hosts") or []
        return Evaluated(
            value.get("kind"), value.get("drvPath"), value.get("source"), tuple(str(h) for h in hosts)
        )


def check_flakes(tree: Tree, env: dict[str, str] | None) -> None:
    """A tree evaluated as a flake needs flake.nix and a Nix that has flakes (2.4 or later)."""
    if not (tree.path / "flake.nix").is_file():
        raise InputError(
            f"{tree.describe()} has no flake.nix",
            hint="name an entry expression with --expr FILE (a function { src }: outputs)",
        )
    out = run(["nix", "--version"], RunOpts(check=True, timeout=30, env=env, needed_for="migrate verify"))
    m = re.search(r"(\d+)\.(\d+)", out.text)
    if m is None or (int(m.group(1)), int(m.group(2))) < (2, 4):
        raise InputError(
            f"this Nix ({out.text.strip()}) has no flakes, so {tree.describe()} cannot be evaluated as one",
            hint="name an entry expression with --expr FILE (a function { src }: outputs)",
        )


@contextmanager
def materialise(spec: str, label: str, repo_root: Path, env: dict[str, str] | None = None) -> Iterator[Tree]:
    """A directory for `spec`: itself when it is one, else the git ref's tree in a temporary directory."""
    as_dir = Path(spec).expanduser()
    if as_dir.is_dir():
        yield Tree(label, spec, as_dir.resolve())
        return
    # git archive runs the filter drivers `.gitattributes` names: the repository's own config must not
    # choose the program (a `filter.x.smudge` in a hostile .git/config), as for dendrite's commits
    from dendrite.gitcommit import safe_config

    config = safe_config(repo_root)
    git = RunOpts(check=False, timeout=120, cwd=repo_root, env=env, needed_for=f"--{label} {spec}")
    found = run(["git", *config, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"], git)
    if not found.ok:
        raise InputError(
            f"--{label} {spec} is neither a directory nor a commit of the repository {repo_root}",
            hint="give a directory, or a branch, tag or commit that `git log` shows",
        )
    commit = found.text.strip()
    archive = run(
        ["git", *config, "archive", "--format=tar", commit],
        RunOpts(check=True, timeout=300, cwd=repo_root, env=env),
    )
    if len(archive.stdout) > MAX_ARCHIVE:
        raise InputError(f"the tree of {spec} is larger than {MAX_ARCHIVE // 2**20} MiB")
    with tempfile.TemporaryDirectory(prefix=f"dendrite-verify-{label}-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")  # no links out, no devices, no absolute paths
        yield Tree(label, spec, Path(tmp))


def _verdict(
    host: str, old: Evaluated, new: Evaluated, trees: tuple[Tree, Tree], differ: Differ
) -> HostVerdict:
    for ev, tree in ((old, trees[0]), (new, trees[1])):
        if ev.kind is None:
            has = ", ".join(ev.hosts) or "none"
            return HostVerdict(
                host, error=f"host {host} is not defined in {tree.describe()} (its hosts: {has})"
            )
    kinds = (old.kind, new.kind)
    if old.kind != new.kind:
        return HostVerdict(
            host,
            error=f"host {host} is a {kinds[0]} host in the old tree and a {kinds[1]} host in the new one",
        )
    assert old.drv_path is not None and new.drv_path is not None
    differ.old_sources = frozenset({old.source} if old.source else ())
    differ.new_sources = frozenset({new.source} if new.source else ())
    return HostVerdict(host, old.kind, old.drv_path, new.drv_path, differ.compare(old.drv_path, new.drv_path))


def verify_hosts(
    hosts: Sequence[str],
    *,
    old: str = "HEAD",
    new: str = ".",
    repo_root: Path,
    expr: Path | None = None,
    jobs: int = 2,
    timeout: float = 600.0,
    store_dir: Path = STORE_DIR,
    env: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[HostVerdict]:
    """Each host's verdict, in the order given: the two system derivations evaluated and compared.

    `old`/`new` are directories or git refs of the repository at `repo_root` (a relative directory
    is taken from the working directory). Raises a DendriteError only for the run as a whole.
    """
    if not hosts:
        raise InputError(
            "no host to verify", hint="name one or more hosts, e.g. `dendrite migrate verify cinnabar`"
        )
    if expr is not None and not expr.is_file():
        raise InputError(f"the entry expression {expr} is not a file", hint="--expr takes a .nix file")
    evaluator = Evaluator(expr, timeout, env)
    with ExitStack() as stack:
        trees = (
            stack.enter_context(materialise(old, "old", repo_root, env)),
            stack.enter_context(materialise(new, "new", repo_root, env)),
        )
        if expr is None:
            for tree in trees:
                check_flakes(tree, env)
        else:  # nix missing is one sentence for the run, not one per host
            run(
                ["nix-instantiate", "--version"],
                RunOpts(check=True, timeout=30, env=env, needed_for="migrate verify"),
            )
        tasks = [(h, t) for h in hosts for t in trees]
        done = 0

        def one(task: tuple[str, Tree]) -> Evaluated | DendriteError:
            nonlocal done
            try:
                return evaluator.evaluate(task[1], task[0])
            except DendriteError as exc:  # this host's verdict, not the run's end
                return exc
            finally:
                done += 1
                if progress is not None:
                    progress(done, len(tasks))

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            results = dict(zip(tasks, pool.map(one, tasks), strict=True))
    differ = Differ(DrvReader(store_dir))
    verdicts = []
    for host in hosts:
        pair = (results[(host, trees[0])], results[(host, trees[1])])
        failed = next((r for r in pair if isinstance(r, DendriteError)), None)
        if failed is not None:
            verdicts.append(_failure(host, failed))
            continue
        assert isinstance(pair[0], Evaluated) and isinstance(pair[1], Evaluated)
        try:
            verdicts.append(_verdict(host, pair[0], pair[1], trees, differ))
        except DendriteError as exc:
            verdicts.append(_failure(host, exc))
    return verdicts


def _failure(host: str, exc: DendriteError) -> HostVerdict:
    if isinstance(exc, CommandTimeout):
        return HostVerdict(host, error=exc.message)
    if isinstance(exc, CommandError):
        detail = _first_lines(exc)
        return HostVerdict(
            host, error=f"{exc.message.split(' failed with exit code')[0]} failed", detail=detail
        )
    return HostVerdict(host, error=exc.message)
