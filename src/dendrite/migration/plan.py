"""The migration plan: phases 0-6, hosts, durations, stability windows, criteria and red flags.

The default is the seed's plan (clan-integration README "Success metrics per migration phase" and "Red
flags requiring pause or rollback"; docs/spec nix-layouts.md §4.2-§4.8): every criterion's text is the
seed's checklist line, word for word (Phases 3-5 also carry Phase 2's "All functionality
preserved" line, which `migrate verify` checks for each host). What a machine can check has a probe, the rest is an attestation
a person records with evidence. `migration/plan.toml` is the user's to edit; loading it checks every
value and names the line and column of the first bad one.
"""

from __future__ import annotations

import datetime as dt
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dendrite.errors import InputError
from dendrite.migration import toml
from dendrite.text import did_you_mean

PROBE_KINDS = ("command", "builtin")
# What dendrite checks itself, through its library (never by parsing its own CLI's output).
BUILTINS = {
    "layout-lint": "`layout lint` finds no error",
    "layout-modules": "import-tree discovers files and every one parses into flake.modules definitions",
    "inventory-validate": "`inventory validate` finds no error (and `nix eval .#clan.inventory` agrees "
    "when a flake-capable nix and a flake.lock are present)",
    "vars-check": "`vars check` finds nothing missing or outdated",
    "secrets-check": "`secrets check`: recipients on disk match the links",
    "verify": "`migrate verify`: each host of the phase evaluates to the same system derivation from "
    "the pre-migration ref ({old_ref}) and from the repository (identical, or only sources moved)",
    "stable": "each host of the phase has been stable (no open red flag) for its whole window",
    "all-migrated": "every host of phases 1-5 is deployed, advanced and stable",
}
# The builtins read the journal (the clocks), not the repository: `check` has nothing to run for them.
CLOCK_BUILTINS = frozenset({"stable", "all-migrated"})
HOST_CLASSES = ("nixos", "darwin", "test")
SEVERITIES = ("critical", "major", "minor")
MIN_WINDOW, MAX_WINDOW = 7, 14
PLACEHOLDERS = ("host", "target", "root", "old_ref", "domain")
EARLIEST_START, LATEST_START = dt.date(2000, 1, 1), dt.date(2199, 12, 31)
MAX_WEEKS = 520  # one phase; with at most MAX_PHASES of them every date stays far below year 9999
MAX_PHASES = 100

RED_FLAGS = (
    "Phase 0: Integration blockers preventing test-clan from building",
    "Phase 0: Architectural conflicts between dendritic and clan",
    "Build evaluation errors",
    "Missing functionality compared to nixos-unified",
    "Dendritic flake-parts patterns require excessive customization per host",
    "Clan vars not deploying correctly",
    "Zerotier network instabilities",
    "Frequent system crashes or errors",
    "Unknown issues without clear fixes",
    "Productivity significantly impacted (stibnite)",
)
# The seed's options after a NO-GO (04-migration-assessment.md, "After Phase 0").
ALTERNATIVES = (
    "A) vanilla clan + flake-parts (the clan-infra pattern); a decision to use vanilla clan + flake-parts "
    "is a valid, successful outcome",
    "B) redesign the integration and run Phase 0 again",
    "C) defer the migration",
    "pause, or roll back a host: `dendrite migrate rollback HOST --dry-run` shows the commands",
)


@dataclass(frozen=True)
class Probe:
    """How a machine checks a criterion: a command with an expectation, or one of dendrite's builtins."""

    kind: str  # "command" or "builtin"
    builtin: str | None = None
    command: tuple[str, ...] = ()  # argv template: {host} {target} {root} {old_ref} {domain}
    timeout: float = 120.0
    expect_exit: int = 0
    expect_output: str | None = None  # a regular expression searched in stdout
    expect_json: str | None = None  # a path into stdout's JSON: `[0].status`, `networks.0.id`
    expect_value: Any = None
    hosts: tuple[str, ...] = ()  # run once per host (all must pass); default: the phase's hosts
    nix: bool | None = None  # inventory-validate: also `nix eval .#clan.inventory` (None: when possible)
    expr: str | None = None  # verify: an entry expression `{ src }: outputs` (relative to the phase root)

    def describe(self) -> str:
        if self.kind == "builtin" and self.builtin == "verify":
            entry = f" --expr {self.expr}" if self.expr else ""
            return f"builtin verify: `dendrite migrate verify {{host}} --old {{old_ref}}{entry}` ({self.timeout:g} s)"
        if self.kind == "builtin":
            return f"builtin {self.builtin}"
        exp = [f"exit {self.expect_exit}"]
        if self.expect_output:
            exp.append(f"output ~ /{self.expect_output}/")
        if self.expect_json:
            exp.append(f"{self.expect_json} = {self.expect_value!r}")
        return f"`{' '.join(self.command)}` ({', '.join(exp)}, {self.timeout:g} s)"


@dataclass(frozen=True)
class Criterion:
    id: str
    text: str
    critical: bool
    probe: Probe | None = None  # None: an attestation

    @property
    def kind(self) -> str:
        return "attestation" if self.probe is None else "probe"


@dataclass(frozen=True)
class Host:
    name: str
    platform: str
    cls: str  # nixos, darwin, or test (a throwaway VM: no stability window, no rollback)
    role: str
    target: str  # ssh destination
    rollback: str | None  # a key of Plan.rollback; None: nothing to roll back
    stability_days: int = 14

    @property
    def has_window(self) -> bool:
        return self.cls != "test"


@dataclass(frozen=True)
class Phase:
    number: int
    name: str
    hosts: tuple[str, ...]
    weeks: int
    depends: tuple[int, ...]
    criteria: tuple[Criterion, ...]
    root: str = "."  # where the probes run, relative to the repository (Phase 0: maybe ../test-clan)

    def criterion(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.id == name:
                return c
        raise InputError(
            f"Phase {self.number} has no criterion '{name}'",
            hint=did_you_mean(name, [c.id for c in self.criteria]),
        )


@dataclass(frozen=True)
class Plan:
    name: str
    start: dt.date
    old_ref: str
    domain: str
    hosts: Mapping[str, Host]
    phases: tuple[Phase, ...]
    rollback: Mapping[str, tuple[str, ...]]
    red_flags: tuple[str, ...] = RED_FLAGS

    def phase(self, name: str | int) -> Phase:
        key = str(name).strip()
        if key.lower().startswith("phase"):
            key = key[5:].strip()
        for p in self.phases:
            if str(p.number) == key:
                return p
        raise InputError(
            f"the plan has no phase '{name}'", hint=did_you_mean(key, [str(p.number) for p in self.phases])
        )

    def host(self, name: str) -> Host:
        if name not in self.hosts:
            raise InputError(f"the plan has no host '{name}'", hint=did_you_mean(name, list(self.hosts)))
        return self.hosts[name]

    def phase_of(self, host: str) -> Phase | None:
        return next((p for p in self.phases if host in p.hosts), None)

    @property
    def total_weeks(self) -> int:
        return sum(p.weeks for p in self.phases)


# --------------------------------------------------------------------------- the seed's default plan


def _cmd(*argv: str, **kw: Any) -> dict[str, Any]:
    if argv[0] == "nix":  # flakes are still experimental in many installed Nix versions (Debian's 2.8)
        argv = ("nix", "--extra-experimental-features", "nix-command flakes", *argv[1:])
    return {"probe": "command", "command": list(argv), **kw}


def _builtin(name: str, **kw: Any) -> dict[str, Any]:
    return {"probe": "builtin", "builtin": name, **kw}


def _c(cid: str, text: str, critical: bool, probe: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": cid, "text": text, "critical": critical, **(probe or {})}


_SSH = ("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "{target}")
_ZT_PEER = _cmd(
    *_SSH, "zerotier-cli", "-j", "listnetworks", timeout=30, expect_json="[0].status", expect_value="OK"
)
_STABLE = _builtin("stable")
# The seed's Phase 2 line, checked by `migrate verify` (issue 14): the host's system derivation from
# the pre-migration ref and from the repository. Phases 3-5 carry the same line, checked the same way.
_NO_REGRESSIONS = _c(
    "no-regressions", "All functionality preserved (no regressions)", True, _builtin("verify", timeout=1800)
)


def _ping_from_cinnabar(*hosts: str) -> dict[str, Any]:
    pings = " && ".join(f"ping -c 3 -W 5 {h}.{{domain}}" for h in hosts)
    return _cmd(
        "ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "root@cinnabar.{domain}", pings, timeout=60
    )


def _darwin_build() -> dict[str, Any]:
    return _cmd("nix", "build", "--no-link", ".#darwinConfigurations.{host}.system", timeout=3600)


def default_plain(start: dt.date) -> dict[str, Any]:
    """The seed's plan as plain data, the shape of plan.toml."""
    host = {
        "test-vm": ("x86_64-linux", "test", "Phase 0: the NixOS VM of test-clan/ (throwaway)", None),
        "cinnabar": ("x86_64-linux", "nixos", "Phase 1: always-on Hetzner VPS, zerotier controller", "tofu"),
        "blackphos": ("aarch64-darwin", "darwin", "Phase 2: first darwin host, lowest risk", "darwin"),
        "rosegold": ("aarch64-darwin", "darwin", "Phase 3: not in daily use", "darwin"),
        "argentum": ("aarch64-darwin", "darwin", "Phase 4: final validation before stibnite", "darwin"),
        "stibnite": ("aarch64-darwin", "darwin", "Phase 5: the primary workstation, migrated last", "darwin"),
    }
    hosts = []
    for name, (platform, cls, role, rollback) in host.items():
        h: dict[str, Any] = {"name": name, "platform": platform, "class": cls, "role": role}
        h["target"] = "root@{host}.{domain}" if cls != "darwin" else "crs58@{host}.{domain}"
        if rollback:
            h["rollback"] = rollback
        if cls != "test":
            h["stability_days"] = 14
        hosts.append(h)
    phases = [
        {
            "number": 0,
            "name": "test-clan validation",
            "hosts": ["test-vm"],
            "weeks": 1,
            "depends": [],
            "root": ".",
            "criteria": [
                _c(
                    "flake-evaluates",
                    "test-clan flake evaluates successfully",
                    True,
                    _cmd("nix", "flake", "check", "--no-build", timeout=900),
                ),
                _c(
                    "import-tree-discovers",
                    "import-tree discovers all dendritic modules",
                    True,
                    _builtin("layout-modules"),
                ),
                _c(
                    "inventory-evaluates",
                    "Clan inventory evaluates correctly",
                    True,
                    _builtin("inventory-validate"),
                ),
                _c(
                    "test-vm-builds",
                    "nixosConfiguration builds for test-vm",
                    True,
                    _cmd(
                        "nix",
                        "build",
                        "--no-link",
                        ".#nixosConfigurations.test-vm.config.system.build.toplevel",
                        timeout=3600,
                    ),
                ),
                _c("vars-generation", "Clan vars generation succeeds", True, _builtin("vars-check")),
                _c("integration-points-documented", "Integration points documented", False),
                _c("patterns-extracted", "Patterns extracted for cinnabar", False),
                _c("no-critical-blockers", "No critical blockers identified", True),
                _c("findings-documented", "Findings document completed", False),
            ],
        },
        {
            "number": 1,
            "name": "cinnabar VPS",
            "hosts": ["cinnabar"],
            "weeks": 2,
            "depends": [0],
            "criteria": [
                _c(
                    "vps-provisioned",
                    "Hetzner Cloud VPS provisioned via terraform",
                    True,
                    _cmd(
                        "tofu",
                        "-chdir=terraform",
                        "state",
                        "list",
                        timeout=120,
                        expect_output=r"hcloud_server\.cinnabar",
                    ),
                ),
                _c(
                    "dendritic-structure",
                    "Dendritic module structure created and operational",
                    True,
                    _builtin("layout-lint"),
                ),
                _c(
                    "luks",
                    "NixOS installed with LUKS encryption",
                    True,
                    _cmd(
                        *_SSH,
                        "lsblk",
                        "--json",
                        "-o",
                        "NAME,TYPE",
                        timeout=30,
                        expect_output=r'"type":\s*"crypt"',
                    ),
                ),
                _c(
                    "vars-deployed",
                    "Clan vars deployed successfully",
                    True,
                    _cmd(*_SSH, "test", "-d", "/run/secrets/vars", timeout=30),
                ),
                _c(
                    "zerotier-controller",
                    "Zerotier controller operational on cinnabar",
                    True,
                    _cmd(
                        *_SSH, "zerotier-cli", "info", timeout=30, expect_output=r"^200 info \S+ \S+ ONLINE"
                    ),
                ),
                _c("ssh", "SSH access functional", True, _cmd(*_SSH, "true", timeout=30)),
                _c("stable", "Stable for 1-2 weeks", True, _STABLE),
                _c(
                    "darwin-still-builds",
                    "Darwin hosts (stibnite, blackphos, rosegold, argentum) still build with nixos-unified",
                    True,
                    _cmd(
                        "nix",
                        "eval",
                        "--raw",
                        "git+file://{root}?ref={old_ref}#darwinConfigurations.{host}.system.drvPath",
                        timeout=1800,
                        hosts=["stibnite", "blackphos", "rosegold", "argentum"],
                    ),
                ),
            ],
        },
        {
            "number": 2,
            "name": "blackphos",
            "hosts": ["blackphos"],
            "weeks": 3,
            "depends": [1],
            "criteria": [
                _c(
                    "builds",
                    "blackphos builds with dendritic + clan (darwin modules converted)",
                    True,
                    _darwin_build(),
                ),
                _NO_REGRESSIONS,
                _c("zerotier-peer", "Zerotier peer connects to cinnabar controller", True, _ZT_PEER),
                _c(
                    "network",
                    "cinnabar ↔ blackphos network functional",
                    True,
                    _ping_from_cinnabar("blackphos"),
                ),
                _c(
                    "ssh-zerotier",
                    "SSH via zerotier works (certificate-based)",
                    True,
                    _cmd(*_SSH, "true", timeout=30),
                ),
                _c("stable", "Stable for 1-2 weeks", True, _STABLE),
            ],
        },
        {
            "number": 3,
            "name": "rosegold",
            "hosts": ["rosegold"],
            "weeks": 2,
            "depends": [2],
            "criteria": [
                _c(
                    "builds",
                    "rosegold builds using blackphos patterns (minimal changes)",
                    True,
                    _darwin_build(),
                ),
                _c("zerotier-peer", "Zerotier peer connects to cinnabar controller", True, _ZT_PEER),
                _c(
                    "network",
                    "3-machine network functional (cinnabar ↔ blackphos ↔ rosegold)",
                    True,
                    _ping_from_cinnabar("blackphos", "rosegold"),
                ),
                _NO_REGRESSIONS,
                _c("patterns-reusable", "Patterns confirmed reusable", False),
                _c("stable", "Stable for 1-2 weeks", True, _STABLE),
            ],
        },
        {
            "number": 4,
            "name": "argentum",
            "hosts": ["argentum"],
            "weeks": 2,
            "depends": [3],
            "criteria": [
                _c("builds", "argentum builds using established patterns", True, _darwin_build()),
                _c(
                    "network",
                    "4-machine zerotier network operational",
                    True,
                    _ping_from_cinnabar("blackphos", "rosegold", "argentum"),
                ),
                _NO_REGRESSIONS,
                _c("no-new-issues", "No new issues discovered", True),
                _c("stable", "Stable for 1-2 weeks", True, _STABLE),
                _c("ready-for-stibnite", "Ready for stibnite migration", True),
            ],
        },
        {
            "number": 5,
            "name": "stibnite (primary workstation)",
            "hosts": ["stibnite"],
            "weeks": 3,
            "depends": [4],
            "criteria": [
                _c("builds", "stibnite builds using proven patterns", True, _darwin_build()),
                _NO_REGRESSIONS,
                _c("daily-workflows", "All daily workflows functional", True),
                _c("no-productivity-loss", "No productivity loss", True),
                _c(
                    "network",
                    "5-machine network complete (cinnabar + 4 darwin)",
                    True,
                    _ping_from_cinnabar("blackphos", "rosegold", "argentum", "stibnite"),
                ),
                _c("stable", "Stable for 1-2 weeks", True, _STABLE),
            ],
        },
        {
            "number": 6,
            "name": "cleanup",
            "hosts": [],
            "weeks": 1,
            "depends": [5],
            "criteria": [
                _c("all-migrated", "All hosts migrated successfully", True, _builtin("all-migrated")),
                _c(
                    "nixos-unified-removed",
                    "nixos-unified removed",
                    True,
                    _cmd("grep", "-q", "nixos-unified", "flake.nix", timeout=10, expect_exit=1),
                ),
                _c(
                    "old-configs-cleaned",
                    "Old configurations cleaned up",
                    False,
                    _cmd("test", "-e", "configurations", timeout=10, expect_exit=1),
                ),
                _c("docs-updated", "Documentation updated", False),
            ],
        },
    ]
    return {
        "migration": {
            "name": "nix-config: nixos-unified -> dendritic flake-parts + clan",
            "start": start,
            "old_ref": "pre-migration",
            "domain": "zt",
        },
        "rollback": {
            "darwin": ["darwin-rebuild switch --flake git+file://{root}?ref={old_ref}#{host}"],
            "nixos": ["nixos-rebuild switch --rollback --target-host {target}"],
            "tofu": ["tofu -chdir=terraform destroy -auto-approve -target=hcloud_server.{host}"],
        },
        "red_flags": {"known": list(RED_FLAGS)},
        "hosts": hosts,
        "phases": phases,
    }


HEADER = """dendrite migration plan: the seed's phases 0-6 (clan-integration README), editable by hand.
Criteria with `probe` are checked by `dendrite migrate check`; the others are attestations
(`dendrite migrate attest PHASE CRITERION --evidence TEXT`). Command templates may use
{host} {target} {root} {old_ref} {domain}. Stability windows: 7-14 days."""


def dumps(plain: Mapping[str, Any]) -> str:
    return toml.dumps(plain, HEADER)


# --------------------------------------------------------------------------- loading and checking


class _Reader:
    """Reads plain TOML data, naming the file, line and column of the first bad value."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.pos = toml.positions(text)

    def fail(self, path: toml.Path_, message: str, hint: str | None = None) -> InputError:
        where = toml.locate(self.pos, path)
        loc = f"{self.source}:{where[0]}:{where[1]}" if where else self.source
        return InputError(f"{loc}: {message}", hint=hint)

    def get(
        self,
        table: Mapping[str, Any],
        path: toml.Path_,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = ...,
    ) -> Any:
        if key not in table:
            if default is ...:
                raise self.fail(path, f"`{key}` is missing in {_name(path)}")
            return default
        value = table[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _kinds(kind))
        if not ok:
            raise self.fail((*path, key), f"`{key}` must be {_kind_name(kind)}, not {type(value).__name__}")
        return value

    def strings(
        self, table: Mapping[str, Any], path: toml.Path_, key: str, default: Any = ...
    ) -> tuple[str, ...]:
        value = self.get(table, path, key, list, default)
        for v in value:
            if not isinstance(v, str):
                raise self.fail((*path, key), f"`{key}` must be a list of strings")
        return tuple(value)

    def known(self, table: Mapping[str, Any], path: toml.Path_, allowed: tuple[str, ...]) -> None:
        for k in table:
            if k not in allowed:
                raise self.fail(
                    (*path, k), f"unknown key `{k}` in {_name(path)}", hint=did_you_mean(k, allowed)
                )


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}
    names |= {dict: "a table", dt.date: "a date (2026-12-01)"}
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))


def _name(path: toml.Path_) -> str:
    if not path:
        return "the plan"
    parts: list[str] = []
    for p in path:
        if isinstance(p, int):
            parts[-1] = f"{parts[-1]}[{p}]"
        else:
            parts.append(p)
    return "[" + ".".join(parts) + "]"


_CRITERION_KEYS = (
    "id", "text", "critical", "probe", "builtin", "command", "timeout", "expect_exit",
    "expect_output", "expect_json", "expect_value", "hosts", "nix", "expr",
)  # fmt: skip


def _template_fields(r: _Reader, path: toml.Path_, texts: tuple[str, ...]) -> None:
    for t in texts:
        try:
            fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(t) if f is not None]
        except ValueError as exc:
            raise r.fail(
                path, f"bad template {t!r}: {exc}", hint="write a literal brace as {{ or }}"
            ) from None
        for f, spec, conv in fields:
            # a format spec or conversion is no placeholder: `{host:>999999999}` would build a string
            # of a gigabyte when `check --dry-run` only prints the commands
            if spec or conv:
                raise r.fail(
                    path,
                    f"placeholder {{{f}}} in {t!r} has a format spec or conversion",
                    hint="write the placeholder alone, e.g. {host}",
                )
        for f in (f for f, _, _ in fields):
            if f not in PLACEHOLDERS:
                raise r.fail(
                    path, f"unknown placeholder {{{f}}} in {t!r}", hint=did_you_mean(f, PLACEHOLDERS)
                )


def _criterion(r: _Reader, c: Any, path: toml.Path_, hosts: Mapping[str, Host]) -> Criterion:
    if not isinstance(c, dict):
        raise r.fail(path, "a criterion must be a table")
    r.known(c, path, _CRITERION_KEYS)
    cid = r.get(c, path, "id", str)
    text = r.get(c, path, "text", str)
    critical = r.get(c, path, "critical", bool)
    kind = r.get(c, path, "probe", str, None)
    if kind is None:
        extra = [k for k in c if k not in ("id", "text", "critical")]
        if extra:
            raise r.fail((*path, extra[0]), f'`{extra[0]}` needs `probe = "command"` or `"builtin"`')
        return Criterion(cid, text, critical)
    if kind not in PROBE_KINDS:
        raise r.fail((*path, "probe"), f"unknown probe kind '{kind}'", hint=did_you_mean(kind, PROBE_KINDS))
    timeout = r.get(c, path, "timeout", (int, float), 120)
    if timeout <= 0:
        raise r.fail((*path, "timeout"), "`timeout` must be a positive number of seconds")
    probe_hosts = r.strings(c, path, "hosts", ())
    for h in probe_hosts:
        if h not in hosts:
            raise r.fail((*path, "hosts"), f"unknown host '{h}'", hint=did_you_mean(h, list(hosts)))
    if kind == "builtin":
        name = r.get(c, path, "builtin", str)
        if name not in BUILTINS:
            raise r.fail(
                (*path, "builtin"), f"unknown builtin '{name}'", hint=did_you_mean(name, list(BUILTINS))
            )
        expr = r.get(c, path, "expr", str, None)
        if expr is not None and name != "verify":
            raise r.fail((*path, "expr"), '`expr` is for `builtin = "verify"` only')
        nix = r.get(c, path, "nix", bool, None)
        probe = Probe("builtin", builtin=name, timeout=float(timeout), nix=nix, hosts=probe_hosts, expr=expr)
        return Criterion(cid, text, critical, probe)
    command = r.strings(c, path, "command")
    if not command:
        raise r.fail((*path, "command"), "`command` must name a program")
    _template_fields(r, (*path, "command"), command)
    pattern = r.get(c, path, "expect_output", str, None)
    if pattern is not None:
        import re

        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.fail((*path, "expect_output"), f"bad regular expression: {exc}") from None
    json_path = r.get(c, path, "expect_json", str, None)
    if json_path is not None and "expect_value" not in c:
        raise r.fail((*path, "expect_json"), "`expect_json` needs `expect_value`")
    probe = Probe(
        "command",
        command=command,
        timeout=float(timeout),
        expect_exit=r.get(c, path, "expect_exit", int, 0),
        expect_output=pattern,
        expect_json=json_path,
        expect_value=c.get("expect_value"),
        hosts=probe_hosts,
    )
    return Criterion(cid, text, critical, probe)


def _host(r: _Reader, h: Any, path: toml.Path_, rollback: Mapping[str, Any]) -> Host:
    if not isinstance(h, dict):
        raise r.fail(path, "a host must be a table")
    r.known(h, path, ("name", "platform", "class", "role", "target", "rollback", "stability_days"))
    cls = r.get(h, path, "class", str)
    if cls not in HOST_CLASSES:
        raise r.fail((*path, "class"), f"unknown host class '{cls}'", hint=did_you_mean(cls, HOST_CLASSES))
    days = r.get(h, path, "stability_days", int, 14)
    if cls != "test" and not MIN_WINDOW <= days <= MAX_WINDOW:
        raise r.fail(
            (*path, "stability_days"),
            f"a stability window of {days} days is outside the seed's {MIN_WINDOW}-{MAX_WINDOW} days",
            hint="the seed asks for 1-2 weeks of stability per host",
        )
    rb = r.get(h, path, "rollback", str, None)
    if rb is not None and rb not in rollback:
        raise r.fail(
            (*path, "rollback"), f"no rollback template '{rb}'", hint=did_you_mean(rb, list(rollback))
        )
    target = r.get(h, path, "target", str, "root@{host}.{domain}")
    _template_fields(r, (*path, "target"), (target,))
    return Host(
        name=r.get(h, path, "name", str),
        platform=r.get(h, path, "platform", str, ""),
        cls=cls,
        role=r.get(h, path, "role", str, ""),
        target=target,
        rollback=rb,
        stability_days=days,
    )


def _phase(r: _Reader, p: Any, path: toml.Path_, hosts: Mapping[str, Host]) -> Phase:
    if not isinstance(p, dict):
        raise r.fail(path, "a phase must be a table")
    r.known(p, path, ("number", "name", "hosts", "weeks", "depends", "root", "criteria"))
    names = r.strings(p, path, "hosts", ())
    for h in names:
        if h not in hosts:
            raise r.fail((*path, "hosts"), f"unknown host '{h}'", hint=did_you_mean(h, list(hosts)))
    weeks = r.get(p, path, "weeks", int)
    if not 0 <= weeks <= MAX_WEEKS:  # the timeline adds them to dates: a billion weeks is past year 9999
        raise r.fail((*path, "weeks"), f"`weeks` must be 0 to {MAX_WEEKS}, not {weeks}")
    depends = r.get(p, path, "depends", list, [])
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in depends):
        raise r.fail((*path, "depends"), "`depends` must be a list of phase numbers")
    raw = r.get(p, path, "criteria", list, [])
    criteria = tuple(_criterion(r, c, (*path, "criteria", i), hosts) for i, c in enumerate(raw))
    seen: set[str] = set()
    for i, c in enumerate(criteria):
        if c.id in seen:
            raise r.fail((*path, "criteria", i, "id"), f"criterion '{c.id}' appears twice in this phase")
        seen.add(c.id)
    return Phase(
        number=r.get(p, path, "number", int),
        name=r.get(p, path, "name", str),
        hosts=names,
        weeks=weeks,
        depends=tuple(depends),
        criteria=criteria,
        root=r.get(p, path, "root", str, "."),
    )


def loads(text: str, source: str = "migration/plan.toml") -> Plan:
    """The plan in `text`; a syntax error or a bad value is an InputError naming line and column."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        # tomllib: "Expected '=' after a key in a key/value pair (at line 3, column 5)"
        if "(at line " in msg:
            body, _, at = msg.rpartition(" (at line ")
            line, _, col = at.rstrip(")").partition(", column ")
            raise InputError(f"{source}:{line}:{col}: {body}", hint="fix the TOML syntax there") from None
        raise InputError(f"{source}: {msg}") from None
    r = _Reader(text, source)
    r.known(data, (), ("migration", "rollback", "red_flags", "hosts", "phases"))
    mig = r.get(data, (), "migration", dict)
    r.known(mig, ("migration",), ("name", "start", "old_ref", "domain"))
    start = r.get(mig, ("migration",), "start", dt.date)
    if isinstance(start, dt.datetime):
        start = start.date()
    if not EARLIEST_START <= start <= LATEST_START:  # the timeline adds weeks to it, and counts from today
        raise r.fail(
            ("migration", "start"),
            f"the start date {start} is outside {EARLIEST_START} to {LATEST_START}",
            hint="give the migration's real start date, e.g. 2026-12-01",
        )
    rollback_raw = r.get(data, (), "rollback", dict, {})
    rollback = {}
    for k in rollback_raw:
        cmds = r.strings(rollback_raw, ("rollback",), k)
        _template_fields(r, ("rollback", k), cmds)
        rollback[k] = cmds
    hosts: dict[str, Host] = {}
    for i, h in enumerate(r.get(data, (), "hosts", list)):
        host = _host(r, h, ("hosts", i), rollback)
        if host.name in hosts:
            raise r.fail(("hosts", i, "name"), f"host '{host.name}' appears twice")
        hosts[host.name] = host
    phases_raw = r.get(data, (), "phases", list)
    if len(phases_raw) > MAX_PHASES:
        raise r.fail(("phases",), f"a plan has at most {MAX_PHASES} phases, not {len(phases_raw)}")
    phases = tuple(_phase(r, p, ("phases", i), hosts) for i, p in enumerate(phases_raw))
    numbers = [p.number for p in phases]
    for i, p in enumerate(phases):
        if p.number in numbers[:i]:
            raise r.fail(("phases", i, "number"), f"phase {p.number} appears twice")
        for d in p.depends:
            if d not in numbers[:i]:
                raise r.fail(
                    ("phases", i, "depends"),
                    f"phase {p.number} depends on phase {d}, which does not come before it",
                )
    flags = r.get(data, (), "red_flags", dict, {"known": list(RED_FLAGS)})
    return Plan(
        name=r.get(mig, ("migration",), "name", str, "migration"),
        start=start,
        old_ref=r.get(mig, ("migration",), "old_ref", str, "pre-migration"),
        domain=r.get(mig, ("migration",), "domain", str, "zt"),
        hosts=hosts,
        phases=phases,
        rollback=rollback,
        red_flags=r.strings(flags, ("red_flags",), "known", RED_FLAGS),
    )


@dataclass(frozen=True)
class Substitution:
    """The values of a command template's placeholders for one host."""

    root: str
    old_ref: str
    domain: str
    host: str = ""
    target: str = ""

    def format(self, template: str) -> str:
        return template.format(
            host=self.host, target=self.target, root=self.root, old_ref=self.old_ref, domain=self.domain
        )


def substitution(plan: Plan, root: str, host: str | None) -> Substitution:
    sub = Substitution(root=root, old_ref=plan.old_ref, domain=plan.domain, host=host or "")
    if host is None or host not in plan.hosts:
        return sub
    target = sub.format(plan.hosts[host].target)
    return Substitution(root=root, old_ref=plan.old_ref, domain=plan.domain, host=host, target=target)
