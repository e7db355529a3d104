"""Dendritic lint: the checks of spec §2.7 and the seed's mistakes (§4.12) that a static check can find.

Every rule has a stable id, a severity, a place (file:line:col) and a fix hint; the findings are
`dendrite.findings.Finding`s, rendered by the CLI. A line comment
`# dendrite: ignore D00N` (on the line or the one before) silences a finding; `dendrite.toml`'s
`[lint]` can disable rules or change their severity.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from dendrite import workers
from dendrite.errors import DendriteError, InputError, UnsafePathError
from dendrite.findings import Finding, Location, Rule, Severity, catalogue
from dendrite.layout.discovery import Discovery, discover, import_root, inside_repo
from dendrite.layout.namespace import definitions, door, read_parsed
from dendrite.nixlang import ParsedFile
from dendrite.nixlang import syntax as S
from dendrite.nixlang.query import flat_bindings, module_body
from dendrite.nixlang.scope import free_variables
from dendrite.nixlang.source import MAX_FILE_BYTES
from dendrite.nixlang.syntax import Node
from dendrite.repo import MACHINES_DIR, Repo
from dendrite.repofs import RepoFS

E, W = Severity.ERROR, Severity.WARNING
RULES = catalogue(
    [
        Rule(
            "D001",
            E,
            "the file does not parse",
            "fix the syntax error; import-tree imports every .nix file",
        ),
        Rule(
            "D002",
            E,
            "a lower-level module at the top level",
            "wrap it as flake.modules.<class>.<name> = { … }, or move it under a `_`-prefixed path",
        ),
        Rule(
            "D003",
            E,
            "flake.modules is written but flakeModules.modules is never imported",
            "add `imports = [ inputs.flake-parts.flakeModules.modules ];` to one module",
        ),
        Rule(
            "D004",
            E,
            "a flake.<x> output written from several files without options.flake.<x>",
            "declare it: options.flake.<x> = lib.mkOption { type = lib.types.lazyAttrsOf lib.types.anything; };",
        ),
        Rule(
            "D005",
            E,
            "a module of one class used in another class",
            "use config.flake.modules.<the evaluator's class>.*; darwin modules cannot go into nixosSystem",
        ),
        Rule(
            "D006",
            E,
            "an attribute-set module refers to a lower-level argument",
            "make it a function: { pkgs, ... }: { … }",
        ),
        Rule(
            "D007",
            W,
            "a relative import of a file that import-tree also imports",
            "move the imported file under a `_`-prefixed path, or drop the import",
        ),
        Rule(
            "D008",
            E,
            "a host produced both by clan and by a hand-written configuration",
            "let clan produce nixosConfigurations/darwinConfigurations; drop the nixosSystem generator",
        ),
        Rule("D009", W, "a .nix file that git does not track (invisible to the flake)", "git add it"),
        Rule(
            "D010",
            W,
            "specialArgs carry more than inputs/self",
            "pass values through the top-level config or lexical scope instead",
        ),
        Rule("D011", E, "a relative path that does not exist", "fix the path (relative to this file)"),
        Rule(
            "D012",
            W,
            "flake.<x> written without options.flake.<x>: a second writer will fail",
            "declare options.flake.<x> before another file writes it",
        ),
        Rule(
            "D013",
            W,
            "`nix eval .#flake.…`: the flake outputs are `.#modules…`, `.#meta…`",
            "drop the `flake.` prefix in the command",
        ),
        Rule(
            "D014",
            W,
            "clan secrets kept in secrets/ instead of sops/",
            "clan reads <clan>/sops/; move the tree",
        ),
    ]
)

# option roots that exist only inside NixOS / nix-darwin / home-manager / terranix / disko evaluations
LOWER_LEVEL = frozenset(
    {
        "boot",
        "services",
        "home",
        "programs",
        "disko",
        "resource",
        "terraform",
        "networking",
        "environment",
        "users",
        "systemd",
        "fileSystems",
        "hardware",
        "security",
        "virtualisation",
        "fonts",
        "i18n",
        "time",
        "xdg",
        "homebrew",
        "launchd",
        "system",
        "nixpkgs",
        "sops",
        "age",
        "console",
        "swapDevices",
        "powerManagement",
        "documentation",
        "wayland",
        "xsession",
        "gtk",
        "qt",
        "dconf",
        "accounts",
        "manual",
        "news",
        "targets",
        "data",
        "provider",
        "locals",
        "variable",
        "output",
    }
)
KNOWN_OUTPUTS = frozenset(
    {
        "nixosConfigurations",
        "darwinConfigurations",
        "nixosModules",
        "darwinModules",
        "homeModules",
        "homeConfigurations",
        "overlays",
        "lib",
        "templates",
        "packages",
        "apps",
        "checks",
        "devShells",
        "formatter",
        "legacyPackages",
        "flakeModules",
        "modules",
        "hydraJobs",
        "herculesCI",
        "effects",
    }
)
LOWER_ARGS = ("pkgs", "modulesPath", "osConfig")
_IGNORE = re.compile(r"#\s*dendrite:\s*ignore\s+((?:D\d{3}[ ,]*)+)")


def finding(rule: str, message: str, path: Path | str, pos: tuple[int, int] = (1, 1)) -> Finding:
    """A finding of a lint rule at file:line:column, with the rule's severity and hint."""
    r = RULES[rule]
    return Finding(rule, r.severity, message, r.hint, (Location(str(path), *pos),))


@dataclass
class Config:
    disabled: frozenset[str] = frozenset()
    severity: dict[str, Severity] | None = None


def read_config(repo: Path) -> Config:
    path = repo / "dendrite.toml"
    fs = RepoFS(repo)
    if fs.kind("dendrite.toml") is None:
        return Config()
    text = fs.read_text("dendrite.toml")  # a symlink or FIFO there is refused, not followed or waited on
    try:
        raw = tomllib.loads(text).get("lint", {})
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's cap on int parsing)
        raise InputError(f"{path}: {str(exc).split(';')[0]}") from None
    return Config(frozenset(raw.get("disable", [])), _severities(path, raw.get("severity", {})))


def _severities(path: Path, raw: dict[str, str]) -> dict[str, Severity]:
    """`[lint] severity`: rule id -> "error", "warning" or "info"; anything else is the user's mistake."""
    try:
        return {rule: Severity(level) for rule, level in raw.items()}
    except ValueError as exc:
        raise InputError(
            f"{path}: [lint] severity: {exc}", hint="use one of " + ", ".join(s.value for s in Severity)
        ) from None


@dataclass
class FileFacts:
    """What the cross-file rules need from one file (small, so that workers can send it back)."""

    path: Path
    modules_imported: bool = False
    declared: set[str] = field(default_factory=set)
    writers: list[tuple[str, int, int]] = field(default_factory=list)  # flake.<x>, line, column
    hand_hosts: dict[str, tuple[int, int]] = field(default_factory=dict)
    clan_hosts: dict[str, tuple[int, int]] = field(default_factory=dict)
    definitions: list[tuple[str, str, int]] = field(default_factory=list)  # class, name, line


class _File:
    """The checks of one file."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.findings: list[Finding] = []

    def add(self, rule: str, message: str, pos: tuple[int, int] = (1, 1)) -> None:
        self.findings.append(finding(rule, message, self.path, pos))

    def run(self) -> tuple[list[Finding], FileFacts | None]:
        try:
            parsed = read_parsed(self.path, self.root)  # a symlink or FIFO: a D001 finding, never followed
        except DendriteError as exc:
            self.add("D001", exc.message)
            return self.findings, None
        if not parsed.ok:
            d = parsed.diagnostics[0]
            m = re.fullmatch(r"undefined variable '(\w+)'", d.message)
            if m and m.group(1) in LOWER_ARGS:  # the seed's mistake: a lower-level argument at the top
                self.add(
                    "D006",
                    f"'{m.group(1)}' is used where no module function binds it",
                    (d.position.line, d.position.column),
                )
            else:
                self.add("D001", d.message, (d.position.line, d.position.column))
            return self.findings, None
        self.checks(parsed)
        return self.findings, facts(self.path, parsed)

    def at(self, parsed: ParsedFile, node: Node | int) -> tuple[int, int]:
        p = parsed.position(node if isinstance(node, int) else node.start)
        return p.line, p.column

    def checks(self, parsed: ParsedFile) -> None:
        path = self.path
        root = parsed.result.root
        body = module_body(root)
        if body is not None:
            for b in flat_bindings(body, max_depth=1):
                first = b.path[0]
                if first in LOWER_LEVEL:
                    self.add(
                        "D002",
                        f"'{first}.…' is a NixOS/darwin/home-manager option, not a flake-parts one: "
                        "import-tree imports this file as a top-level module",
                        self.at(parsed, b.node),
                    )
                    break
        for d in definitions(parsed, path):
            value = d.value
            while value.kind == S.PAREN and value.nodes():
                value = value.nodes()[0]
            if d.cls in ("nixos", "darwin"):
                other = "darwin" if d.cls == "nixos" else "nixos"
                if f"config.flake.modules.{other}." in value.text():
                    self.add(
                        "D005",
                        f"flake.modules.{d.cls}.{d.name} uses config.flake.modules.{other}.*",
                        (d.line, 1),
                    )
            if value.kind == S.ATTR_SET:
                for use in free_variables(value):
                    if use.name in LOWER_ARGS and not use.under_with:
                        self.add(
                            "D006",
                            f"flake.modules.{d.cls}.{d.name} is an attribute set but uses '{use.name}', "
                            "which only a function module receives",
                            self.at(parsed, use.token.start),
                        )
                        break
            self.relative_imports(parsed, value)
        for n in root.walk():
            if (
                n.kind == S.APPLY
                and n.nodes()[0].text().endswith("nixosSystem")
                and "config.flake.modules.darwin" in n.nodes()[-1].text()
            ):
                self.add("D005", "config.flake.modules.darwin.* passed to nixosSystem", self.at(parsed, n))
            if n.kind == S.BINDING:
                names = [a.text() for a in n.nodes()[0].nodes() if a.kind == S.ATTR] if n.nodes() else []
                if names and names[-1] in ("specialArgs", "extraSpecialArgs"):
                    value = n.nodes()[-1]
                    if value.kind == S.ATTR_SET:
                        keys = {b.path[0] for b in flat_bindings(value, max_depth=1)}
                        keys |= {
                            a.text()
                            for i in value.nodes()
                            if i.kind == S.INHERIT
                            for a in i.nodes()
                            if a.kind == S.ATTR
                        }
                        extra = sorted(k for k in keys if k not in ("inputs", "self") and k is not None)
                        if extra:
                            self.add("D010", f"{names[-1]} passes {', '.join(extra)}", self.at(parsed, n))
            if n.kind == S.PATH and not any(isinstance(c, Node) for c in n.children):
                text = n.text()
                if text.startswith(("./", "../")) and not (path.parent / text).exists():
                    self.add("D011", f"{text} does not exist (relative to {path.parent})", self.at(parsed, n))

    def relative_imports(self, parsed: ParsedFile, value: Node) -> None:
        for n in value.walk():
            if n.kind != S.BINDING:
                continue
            names = [a.text() for a in n.nodes()[0].nodes() if a.kind == S.ATTR] if n.nodes() else []
            if names[-1:] != ["imports"]:
                continue
            for p in n.nodes()[-1].walk():
                if p.kind == S.PATH and p.text().startswith(("./", "../")):
                    target = (self.path.parent / p.text()).resolve()
                    rel = (
                        "/" + target.relative_to(self.root).as_posix()
                        if target.is_relative_to(self.root)
                        else None
                    )
                    if rel and rel.endswith(".nix") and "/_" not in rel and target.exists():
                        self.add(
                            "D007",
                            f"{p.text()} is imported here and by import-tree: it is evaluated twice",
                            self.at(parsed, p),
                        )


def facts(path: Path, parsed: ParsedFile) -> FileFacts:
    f = FileFacts(path, modules_imported="flakeModules.modules" in parsed.text)
    body = module_body(parsed.result.root)
    if body is None:
        return f
    for b in flat_bindings(body, max_depth=3):
        pos = parsed.position(b.node.start)
        where = (pos.line, pos.column)
        if b.path[:2] == ("options", "flake") and len(b.path) >= 3 and b.path[2]:
            f.declared.add(b.path[2])
        if b.path == ("options", "flake"):
            f.declared.add("*")
        if b.path[:1] == ("flake",) and len(b.path) >= 2 and b.path[1]:
            f.writers.append((b.path[1], *where))
            if (
                b.path[1] in ("nixosConfigurations", "darwinConfigurations")
                and len(b.path) >= 3
                and b.path[2]
            ):
                f.hand_hosts[b.path[2]] = where
        if b.path[:2] == ("clan", "machines") and len(b.path) >= 3 and b.path[2]:
            f.clan_hosts[b.path[2]] = where
    f.definitions = [(d.cls, d.name, d.line) for d in definitions(parsed, path)]
    return f


_ROOT: Path | None = None


def _analyse_chunk(paths: list[Path]) -> list[tuple[list[Finding], FileFacts | None]]:
    assert _ROOT is not None
    return [_File(p, _ROOT).run() for p in paths]


def analyse_files(paths: list[Path], root: Path) -> list[tuple[list[Finding], FileFacts | None]]:
    """Every file's findings and facts, on every core for large trees (one worker per chunk of files)."""
    global _ROOT
    _ROOT = root.resolve()  # discovery's paths are resolved: the door must see them below the root
    cores = os.cpu_count() or 1
    if len(paths) < 200 or cores < 2 or "fork" not in mp.get_all_start_methods():
        return _analyse_chunk(paths)
    chunks = [paths[i :: cores * 4] for i in range(cores * 4)]
    with workers.fork_pool(cores) as pool:
        results = list(pool.map(_analyse_chunk, chunks))
    by_path: dict[Path, tuple[list[Finding], FileFacts | None]] = {}
    for chunk, res in zip(chunks, results, strict=True):
        by_path.update(zip(chunk, res, strict=True))
    return [by_path[p] for p in paths]


class Linter:
    def __init__(self, repo: Path, root: Path | None = None, use_git: bool = True) -> None:
        self.repo = repo.resolve()
        self.root = (root or safe_import_root(self.repo)).resolve()
        self.discovery: Discovery = discover(self.root, use_git)
        self.findings: list[Finding] = []
        self.facts: list[FileFacts] = []

    def add(self, rule: str, message: str, path: Path | str, pos: tuple[int, int] = (1, 1)) -> None:
        self.findings.append(finding(rule, message, path, pos))

    def run(self) -> list[Finding]:
        for f in self.discovery.untracked:
            self.add("D009", "git does not track this file, so the flake does not see it", f)
        # every selected file, tracked or not: an untracked file is one `git add` away from the flake,
        # and its mistakes are worth seeing before that (D009 says it is not seen yet)
        for found, fact in analyse_files([e.path for e in self.discovery.entries], self.root):
            self.findings += found
            if fact is not None:
                self.facts.append(fact)
        self.across_files()
        self.repository_checks()
        return self.findings

    def across_files(self) -> None:
        writers: dict[str, list[tuple[Path, int, int]]] = {}
        declared: set[str] = set()
        clan_hosts: dict[str, Path] = {}
        hand_hosts: dict[str, tuple[Path, int, int]] = {}
        modules_imported = any(f.modules_imported for f in self.facts)
        for f in self.facts:
            declared |= f.declared
            for name, line, col in f.writers:
                writers.setdefault(name, []).append((f.path, line, col))
            for h in f.clan_hosts:
                clan_hosts[h] = f.path
            for h, (line, col) in f.hand_hosts.items():
                hand_hosts[h] = (f.path, line, col)
        mods = writers.get("modules", [])
        if mods and not modules_imported and (len({p for p, _, _ in mods}) > 1 or "modules" in declared):
            path, line, col = mods[0]
            self.add(
                "D003",
                "flake.modules is written in several files, but nothing imports "
                "inputs.flake-parts.flakeModules.modules, so they cannot merge",
                path,
                (line, col),
            )
        for name, ws in writers.items():
            if name in KNOWN_OUTPUTS or name in declared or "*" in declared:
                continue
            files = {p for p, _, _ in ws}
            path, line, col = ws[0]
            if len(files) > 1:
                self.add(
                    "D004",
                    f"flake.{name} is written in {len(files)} files and no options.flake.{name} is declared",
                    path,
                    (line, col),
                )
            else:
                self.add("D012", f"flake.{name} is not a flake-parts option", path, (line, col))
        for name in self.machine_dirs():
            clan_hosts.setdefault(name, Repo(self.repo).machines_dir / name)
        for name, (path, line, col) in hand_hosts.items():
            if name in clan_hosts:
                self.add(
                    "D008",
                    f"host '{name}' comes from clan ({clan_hosts[name]}) and from a hand-written "
                    "configuration",
                    path,
                    (line, col),
                )

    def machine_dirs(self) -> list[str]:
        """clan's machines/<name>/ directories; links are not followed, a linked machines/ is not read."""
        try:
            return [e.name for e in RepoFS(self.repo).entries(MACHINES_DIR) if e.kind == "dir"]
        except DendriteError:
            return []

    def repository_checks(self) -> None:
        secrets = self.repo / "secrets"
        if (
            (secrets / "users").is_dir()
            and (secrets / "machines").is_dir()
            and not Repo(self.repo).sops_dir.exists()
        ):
            self.add("D014", "secrets/{users,machines} exist but sops/ does not", secrets)
        for md in sorted(self.repo.rglob("*.md"))[:500]:
            if ".git" in md.parts or "node_modules" in md.parts:
                continue
            lines = _read_lines(md, self.repo)
            for n, line in enumerate(lines, 1):
                m = re.search(r"\.#flake\.(modules|meta)\b", line)
                if m:
                    self.add(
                        "D013",
                        f"`{m.group(0)}` does not exist; the output is `.#{m.group(1)}`",
                        md,
                        (n, m.start() + 1),
                    )


def safe_import_root(repo: Path) -> Path:
    """`import_root`, after refusing a flake.nix that is a symlink or a special file, and an import root
    outside the repository (`import-tree ./modules` through a link to elsewhere).

    Why here: `import_root` reads flake.nix by its path; a FIFO would block, a link would be followed.
    """
    fs = RepoFS(repo)
    kind = fs.kind("flake.nix")
    if kind is None:
        return (repo / "modules").resolve()
    if kind != "file":
        fs.read_bytes("flake.nix")  # raises the one-sentence refusal: a link or a special file
    found = import_root(repo)
    if not inside_repo(found, repo):
        raise UnsafePathError(
            f"the import root {found} is outside the repository {repo}",
            hint="dendrite does not follow symbolic links inside a repository; make it a real directory",
        )
    return found


def _read_lines(path: Path, repo: Path | None) -> list[str]:
    """A text file's lines, or none when it cannot be read safely (a symlink, a FIFO, a directory)."""
    try:
        data = door(path, repo).read_bytes(path, limit=MAX_FILE_BYTES)
    except (DendriteError, OSError):
        return []
    return data.decode(errors="replace").splitlines()


def apply_suppressions(findings: list[Finding], config: Config, repo: Path | None = None) -> list[Finding]:
    cache: dict[str, list[str]] = {}
    out = []
    for f in findings:
        if f.rule in config.disabled:
            continue
        if f.file not in cache:
            cache[f.file] = _read_lines(Path(f.file), repo)
        lines = cache[f.file]
        near = [lines[i] for i in (f.line - 2, f.line - 1) if 0 <= i < len(lines)]
        if any(f.rule in (m.group(1) if (m := _IGNORE.search(text)) else "") for text in near):
            continue
        out.append(replace(f, severity=(config.severity or {}).get(f.rule, f.severity)))
    return sorted(out, key=lambda f: (f.file, f.line, f.column, f.rule))


def lint(repo: Path, root: Path | None = None, use_git: bool = True) -> list[Finding]:
    linter = Linter(repo, root, use_git)
    return apply_suppressions(linter.run(), read_config(repo), linter.repo)
