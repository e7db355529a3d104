"""`machines update`: clan's deployment pipeline, step by step, with timings and a journal entry per host.

The pipeline is clan's `run_machine_update` (clan_lib/machines/update.py) and its `update_command`
(clan_cli/machines/update.py):

1. generate the missing vars of every machine of the clan (not only those updated), once, before any
   host is touched (`run_generators(all_machines)`);
2. upload the secret vars to the target as root (`upload_secret_vars`), atomically (see
   `dendrite.deploy.upload`);
3. find the flake's store path (`nix flake metadata --json`), and when the build host is another
   machine copy the flake there (`upload_sources`: `nix copy --to ssh-ng://… --no-check-sigs`);
4. NixOS: build `nixosConfigurations."M".config.system.build.toplevel` on the build host (`_nixos_build`;
   the target itself when no build host is given, as clan), copy the closure to the target when it was
   built elsewhere (`_copy_closure`), refuse a result without `nixos-version`, `nix-env -p
   /nix/var/nix/profiles/system --set`, `switch-to-configuration boot` then `switch` through
   `systemd-run --pipe` where systemd runs (`_nixos_activate`), reporting switch inhibitors and
   retrying a failed switch once, then accepting it if /run/current-system is the new system;
   darwin: `darwin-rebuild switch --flake <store path>#M` on the build host (`_update_darwin`).

Differences, each for a reason: `nix build --json` instead of `--print-out-paths` (Nix 2.8 has no
such flag; the output path is the same), and the port of an address travels in NIX_SSHOPTS (`-p`),
which every Nix reads. `store_root` is the test hook clan has as CLAN_TEST_STORE: the target's
store is a chroot store below that directory (`?remote-store=`, `nix-env --store`).

Without names the machines are chosen as clan chooses them (`dendrite.deploy.selection`); a chosen
machine without a target host is not planned (`plan_selected`) and fails alone, as clan's update of it
fails in `get_best_remote`, while the others run.

Machines run in parallel (`jobs`); one failing does not stop the others. The library never prints:
each step is reported through `progress`, and the result of each machine is a `MachineResult`.
When the repository has a migration plan, each machine's result goes into the migration journal through
`dendrite.migration.ops.record_update` (under the repository lock, fsynced): a success is the `deployed`
event that starts the host's stability clock, a failure a `deploy-failed` event with its steps.
"""

from __future__ import annotations

import json
import os
import shlex
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

from dendrite import process
from dendrite.deploy.ssh import Address, Connection, SshConfig, connect, parse_address
from dendrite.deploy.upload import DEFAULT_UPLOAD_DIR, collect, remote_argv, upload
from dendrite.errors import DendriteError, InputError
from dendrite.text import did_you_mean

Where = Literal["local", "build", "target"]
LOCALHOST = "localhost"  # --build-host localhost: build here, as clan
PROFILE = "/nix/var/nix/profiles/system"
DARWIN_REBUILD = "/run/current-system/sw/bin/darwin-rebuild"
FLAKE = "<flake>"  # placeholders of --dry-run for what earlier steps find
SYSTEM = "<system>"
TIMEOUTS = {"build": 4 * 3600.0, "copy": 2 * 3600.0, "upload-sources": 3600.0, "darwin-rebuild": 4 * 3600.0}
SHORT = 600.0

# clan's switch_cmd (clan_lib/machines/update.py _nixos_activate): systemd-run --pipe so the activation
# survives a dropped connection, where systemd runs; otherwise the program itself. $1 the unit name;
# NIXOS_NO_CHECK, when the command sets it, is handed to the unit as clan's --no-check does.
SWITCH_SCRIPT = """unit=$1; shift
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  exec systemd-run --pipe --wait --quiet --collect --no-ask-password --service-type=exec --unit="$unit" \\
    -E LOCALE_ARCHIVE -E NIXOS_INSTALL_BOOTLOADER=0 ${NIXOS_NO_CHECK:+-E NIXOS_NO_CHECK=$NIXOS_NO_CHECK} -- "$@"
fi
NIXOS_INSTALL_BOOTLOADER=0 exec "$@"
"""


def nix_command(flags: Sequence[str]) -> list[str]:
    """clan's nix_command (clan_lib/nix/__init__.py)."""
    return [
        "nix",
        "--extra-experimental-features",
        "nix-command flakes",
        "--option",
        "warn-dirty",
        "false",
        *flags,
    ]


NIX_OPTIONS = [
    "--show-trace",
    "--option",
    "keep-going",
    "true",
    "--option",
    "accept-flake-config",
    "true",
    "-L",
]


@dataclass(frozen=True)
class MachinePlan:
    machine: str
    machine_class: str
    target: Address
    build: Address | None  # None: build here; == target: build on the target (clan's default)

    @property
    def builds_on_target(self) -> bool:
        return self.build == self.target


@dataclass(frozen=True)
class Options:
    ssh: SshConfig = field(default_factory=SshConfig)
    upload_dir: str = DEFAULT_UPLOAD_DIR
    build_host: str | None = None  # "localhost", an address, or None (inventory, else the target)
    target_host: str | None = None
    jobs: int = 4
    generate: bool = True
    no_check: bool = False  # clan's --no-check: NIXOS_NO_CHECK=1, past switch inhibitors
    store_root: str = ""  # a chroot store on the target (tests); "" on real machines


@dataclass(frozen=True)
class StepResult:
    name: str
    where: str
    command: str
    ok: bool
    seconds: float
    detail: str = ""

    def plain(self) -> dict[str, object]:
        return {
            "name": self.name,
            "where": self.where,
            "command": self.command,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class MachineResult:
    machine: str
    ok: bool
    steps: tuple[StepResult, ...]
    error: str | None = None
    system: str | None = None
    unrecorded: str | None = None  # why the migration journal could not record this result

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


# progress(machine, step, status, seconds, detail); status is "start", "ok" or "failed"
Progress = Callable[[str, str, str, float, str], None] | None


def plan(root: Path, machines: Sequence[str], opts: Options) -> list[MachinePlan]:
    """Resolve each named machine's class, target and build host as clan does; bad input (a machine
    without a target host too) before any step."""
    plans, without = plan_selected(root, machines, opts)
    if without:
        m, why = next(iter(without.items()))
        raise InputError(why, hint=f"set inventory.machines.{m}.deploy.targetHost or pass --target-host")
    return plans


def plan_selected(
    root: Path, machines: Sequence[str], opts: Options
) -> tuple[list[MachinePlan], dict[str, str]]:
    """`plan`, but a machine without a target host is set aside with the reason instead of refused:
    the machines clan chooses when none is named, whose update of such a machine fails alone."""
    from dendrite.inventory import analyse

    if opts.target_host is not None and len(machines) > 1:
        raise InputError(
            "--target-host can only be given for one machine", hint="update the machines one by one"
        )
    if opts.jobs < 1:
        raise InputError(f"--jobs must be at least 1, not {opts.jobs}")
    inventory = analyse(root).inventory
    out = []
    without: dict[str, str] = {}
    for m in dict.fromkeys(machines):
        if m not in inventory.machines:
            raise InputError(
                f"machine '{m}' is not in the inventory", hint=did_you_mean(m, tuple(inventory.machines))
            )
        spec = inventory.machines[m]
        target_text = opts.target_host or spec.deploy.target_host
        if not target_text:
            without[m] = f"machine '{m}' has no target host"
            continue
        target = parse_address(target_text, f"the target host of {m}")
        build_text = opts.build_host or spec.deploy.build_host
        if build_text == LOCALHOST:
            build: Address | None = None
        elif build_text:
            build = parse_address(build_text, f"the build host of {m}")
        else:
            build = target
        out.append(MachinePlan(m, spec.machine_class, target, build))
    return out, without


# ---- the commands ----------------------------------------------------------------------------------


def _copy_url(address: Address, store_root: str, darwin: bool = False) -> str:
    url = address.url("ssh-ng")
    params = []
    if store_root:
        params.append(f"remote-store={store_root}")
    if darwin:  # clan's upload_sources: a darwin login shell puts nix-daemon on PATH
        params.append("remote-program=bash -lc 'exec nix-daemon --stdio'")
    return url + ("?" + "&".join(params) if params else "")


def _with_env(argv: list[str], env: dict[str, str]) -> list[str]:
    return ["env", *(f"{k}={v}" for k, v in env.items()), *argv] if env else argv


@dataclass(frozen=True)
class Command:
    name: str
    where: Where
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def commands(
    p: MachinePlan, opts: Options, flake: str = FLAKE, system: str = SYSTEM, suffix: str = "<id>"
) -> list[Command]:
    """Every command of the pipeline after vars generation, in order, with `flake` and `system` filled in
    (placeholders for --dry-run); `suffix` makes the transient unit names unique (clan adds a uuid)."""
    target_conn = Connection(p.target, opts.ssh)
    root = opts.store_root
    out = [Command("upload", "target", tuple(remote_argv(opts.upload_dir)))]
    build_where: Where = "local" if p.build is None else ("target" if p.builds_on_target else "build")
    if p.build is not None:  # clan's upload_sources: the flake to the machine that builds
        copy = nix_command(
            ["copy", "--to", _copy_url(p.build, "", p.machine_class == "darwin"), "--no-check-sigs", flake]
        )
        sshopts = Connection(p.build, opts.ssh).nix_sshopts()
        out.append(Command("upload-sources", "local", tuple(copy), (("NIX_SSHOPTS", sshopts),)))
    if p.machine_class == "darwin":
        argv = [DARWIN_REBUILD, "switch", *NIX_OPTIONS, "--flake", f"{flake}#{p.machine}"]
        out.append(Command("darwin-rebuild", build_where, tuple(argv)))
        return out
    attr = f'{flake}#nixosConfigurations."{p.machine}".config.system.build.toplevel'
    build = nix_command(
        ["build", "--flake-registry", "", "--json", "--print-build-logs", "--no-link", attr, *NIX_OPTIONS]
    )
    out.append(Command("build", build_where, tuple(build)))
    if not p.builds_on_target:
        copy = nix_command(["copy", "--to", _copy_url(p.target, root), "--no-check-sigs", system])
        env = (("NIX_SSHOPTS", target_conn.nix_sshopts()),)
        out.append(Command("copy", build_where, tuple(copy), env))
    out.append(Command("check", "target", ("test", "-e", f"{root}{system}/nixos-version")))
    store = ["--store", root] if root else []
    out.append(Command("profile", "target", ("nix-env", *store, "-p", f"{root}{PROFILE}", "--set", system)))
    switch = f"{root}{system}/bin/switch-to-configuration"
    for action in ("boot", "switch"):
        unit = f"dendrite-{action}-{p.machine}-{suffix}"
        switch_argv = ("sh", "-c", SWITCH_SCRIPT, "dendrite-switch", unit, switch, action)
        out.append(
            Command(action, "target", switch_argv, (("NIXOS_NO_CHECK", "1"),) if opts.no_check else ())
        )
    return out


GENERATE = "dendrite vars generate"  # every machine's missing vars, once, before any host (clan)


def dry_run(root: Path, plans: Sequence[MachinePlan], opts: Options) -> list[tuple[MachinePlan, list[str]]]:
    """The exact command lines of each machine's pipeline after the vars generation (GENERATE), as
    they would run where they run."""
    out = []
    for p in plans:
        lines = [shlex.join(nix_command(["flake", "metadata", "--json", str(root)]))]
        for c in commands(p, opts):
            lines.append(_render(c, p, opts))
        out.append((p, lines))
    return out


def _host_of(c: Command, p: MachinePlan) -> Address | None:
    if c.where == "local":
        return None
    return p.target if c.where == "target" else p.build


def _argv_for(c: Command, p: MachinePlan, opts: Options) -> list[str]:
    """The local argv that runs the command: itself, or ssh to its host (as root on the target)."""
    address = _host_of(c, p)
    argv = list(c.argv)
    if address is None:
        return argv
    conn = Connection(address, opts.ssh)
    return conn.command(_with_env(argv, dict(c.env)), root=c.where == "target")


def _render(c: Command, p: MachinePlan, opts: Options) -> str:
    env = "".join(f"{k}={shlex.quote(v)} " for k, v in c.env) if _host_of(c, p) is None else ""
    return f"{env}{shlex.join(_argv_for(c, p, opts))}"


# ---- running ---------------------------------------------------------------------------------------


class StepFailed(DendriteError):
    """A step of the pipeline failed; the message says which and why."""


class _Runner:
    def __init__(self, root: Path, p: MachinePlan, opts: Options, progress: Progress) -> None:
        self.root, self.p, self.opts, self.progress = root, p, opts, progress
        self.steps: list[StepResult] = []
        self.conns: dict[Address, Connection] = {}

    def _report(self, step: str, status: str, seconds: float = 0.0, detail: str = "") -> None:
        if self.progress:
            self.progress(self.p.machine, step, status, seconds, detail)

    def step(self, name: str, where: str, command: str, fn: Callable[[], str]) -> str:
        self._report(name, "start")
        started = time.monotonic()
        try:
            detail = fn()
        except DendriteError as exc:
            seconds = time.monotonic() - started
            self.steps.append(StepResult(name, where, command, False, seconds, exc.message))
            self._report(name, "failed", seconds, exc.message)
            raise StepFailed(f"{name} failed: {exc.message}", exc.hint) from exc
        seconds = time.monotonic() - started
        self.steps.append(StepResult(name, where, command, True, seconds, detail))
        self._report(name, "ok", seconds, detail)
        return detail

    def run_command(self, c: Command, *, check: bool = True) -> process.CmdOut:
        address = _host_of(c, self.p)
        timeout = TIMEOUTS.get(c.name, SHORT)
        what = f"{c.name} of {self.p.machine}"
        if address is None:
            env = {**os.environ, **dict(c.env)} if c.env else None
            return process.run(c.argv, process.RunOpts(check=check, timeout=timeout, env=env, what=what))
        conn = self.conns[address]
        argv = _with_env(list(c.argv), dict(c.env))
        if c.where != "target":  # the build host runs as its user; the target as root (clan's become_root)
            return process.run(
                conn.command(argv, root=False), process.RunOpts(check=check, timeout=timeout, what=what)
            )
        return conn.run(argv, check=check, timeout=timeout, what=what)

    def go(self) -> str | None:
        p, opts = self.p, self.opts
        with ExitStack() as stack:
            for address in dict.fromkeys(a for a in (p.target, p.build) if a is not None):
                self.step("connect", str(address), f"ssh {address}", partial(self._connect, stack, address))
            upload_cmd = commands(p, opts)[0]
            self.step("upload", "target", _render(upload_cmd, p, opts), self._upload)
            meta = nix_command(["flake", "metadata", "--json", str(self.root)])
            flake = self.step("flake", "local", shlex.join(meta), partial(self._flake, meta))
            system = SYSTEM
            for c in commands(p, opts, flake, system, uuid.uuid4().hex[:8])[1:]:
                filled = _fill(c, system)
                result = self.step(
                    c.name, c.where, _render(filled, p, opts), partial(self._do, filled, system)
                )
                if c.name == "build":
                    system = result
            return None if system == SYSTEM else system

    def _do(self, c: Command, system: str) -> str:
        if c.name == "build":
            return _out_path(self.run_command(c))
        if c.name == "check":
            return self._check(c, system)
        if c.name == "switch":
            return self._switch(c, system)
        return _last_line(self.run_command(c))

    def _connect(self, stack: ExitStack, address: Address) -> str:
        self.conns[address] = stack.enter_context(connect(address, self.opts.ssh))
        return "connected"

    def _upload(self) -> str:
        payload = collect(self.root, self.p.machine)
        return upload(self.conns[self.p.target], payload, self.opts.upload_dir).generation

    def _flake(self, meta: list[str]) -> str:
        out = process.run(meta, process.RunOpts(check=True, timeout=SHORT, what="nix flake metadata"))
        try:
            path = json.loads(out.stdout)["path"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"nix flake metadata of {self.root} did not name a store path") from None
        return str(path)

    def _check(self, c: Command, system: str) -> str:
        if self.run_command(c, check=False).returncode != 0:
            raise InputError(
                f"the build output at {system} does not look like a NixOS system (no nixos-version); "
                "refusing to activate"
            )
        return "nixos-version present"

    def _switch(self, c: Command, system: str) -> str:
        """clan's step 2 of _nixos_activate: inhibitors are reported, another failure retried once."""
        first = self.run_command(c, check=False)
        if first.returncode == 0:
            return "switched"
        combined = first.text + first.stderr.decode(errors="replace")
        if "Pre-switch check" in combined or "switchInhibitors" in combined:
            raise InputError(
                f"live-switching '{self.p.machine}' was blocked by switch inhibitors (critical components "
                "changed); the new configuration is registered for the next boot",
                hint=f"reboot {self.p.machine}, or run again with --no-check to force the live switch",
            )
        retry = self.run_command(c, check=False)
        if retry.returncode == 0:
            return "switched on the second try"
        current = self.conns[self.p.target].run(
            ["readlink", f"{self.opts.store_root}/run/current-system"], check=False, timeout=SHORT
        )
        if current.returncode == 0 and current.text.strip() == system:
            return "the target already runs the new system"
        last = (retry.stderr_tail.splitlines() or ["no error output"])[-1]
        raise InputError(
            f"switch-to-configuration failed on '{self.p.machine}' (exit code {retry.returncode}): {last}"
        )


def _fill(c: Command, system: str) -> Command:
    return Command(c.name, c.where, tuple(a.replace(SYSTEM, system) for a in c.argv), c.env)


def _out_path(out: process.CmdOut) -> str:
    try:
        data = json.loads(out.stdout)
        path = data[0]["outputs"]["out"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise InputError("nix build did not report the output path of the system") from None
    if not isinstance(path, str) or not path.startswith("/nix/store/"):
        raise InputError(f"nix build reported {path!r}, not a store path")
    return path


def _last_line(out: process.CmdOut) -> str:
    lines = [ln for ln in out.text.splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def update_one(
    root: Path, p: MachinePlan, opts: Options, progress: Progress = None, before: Sequence[StepResult] = ()
) -> MachineResult:
    """Run one machine's pipeline; a failure is the result, never an exception. Journalled per host,
    with `before` (the vars generation all machines shared) as its first steps."""
    runner = _Runner(root, p, opts, progress)
    runner.steps.extend(before)
    try:
        system = runner.go()
        result = MachineResult(p.machine, True, tuple(runner.steps), None, system)
    except DendriteError as exc:
        result = MachineResult(p.machine, False, tuple(runner.steps), exc.message)
    from dendrite.migration.ops import record_update  # lazily: only a finished pipeline needs it

    try:
        record_update(root, result.machine, [s.plain() for s in result.steps], result.ok, result.error)
    except (DendriteError, OSError) as exc:  # the host changed all the same: its result must be shown
        why = exc.message if isinstance(exc, DendriteError) else f"{exc.strerror} ({exc.filename})"
        return replace(result, unrecorded=why)
    return result


def update(
    root: Path,
    plans: Sequence[MachinePlan],
    opts: Options,
    progress: Progress = None,
    without_target: Mapping[str, str] | None = None,
    order: Sequence[str] = (),
) -> list[MachineResult]:
    """Generate the missing vars of every machine once, then run every machine's pipeline, `opts.jobs`
    at a time. A machine of `without_target` (`plan_selected`) fails at once with its reason, after the
    generation, as clan's does when it finds no way to reach it; it is not journalled (no host was
    touched). Results are in `order` (the machines as named or selected), then any other."""
    without = dict(without_target or {})
    names = list(dict.fromkeys([*order, *(p.machine for p in plans), *without]))
    names = [m for m in names if m in without or any(p.machine == m for p in plans)]
    before: list[StepResult] = []
    if opts.generate:  # a failure here is bad input (a prompt without an answer...): no host touched yet
        from dendrite.vars.generate import generate

        for m in names:
            if progress:
                progress(m, "generate", "start", 0.0, "")
        started = time.monotonic()
        report = generate(root, None)  # clan's run_generators(all_machines): every machine of the clan
        if report.migration.changed:  # clan stops there too and asks for a second run
            raise InputError(
                "vars generate migrated the zerotier vars first; nothing was deployed",
                hint="commit the migration, read the migration guide, and run the update again",
            )
        seconds = time.monotonic() - started
        detail = f"{len(report.generated)} generator(s) run"
        before.append(StepResult("generate", "local", GENERATE, True, seconds, detail))
        for m in names:
            if progress:
                progress(m, "generate", "ok", seconds, detail)
    results: dict[str, MachineResult] = {}
    for m, why in without.items():
        if progress:
            progress(m, "connect", "failed", 0.0, why)
        step = StepResult("connect", "-", "", False, 0.0, why)
        results[m] = MachineResult(m, False, (*before, step), why)
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        futures = {p.machine: pool.submit(update_one, root, p, opts, progress, before) for p in plans}
        results.update((m, f.result()) for m, f in futures.items())
    return [results[m] for m in names]
