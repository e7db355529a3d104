"""The demo's migration in progress: Phase 0 done, Phase 1 (cinnabar) in its stability window.

The story, dated backwards from now so the clocks show it: the plan started 20 days ago; Phase 0's
probes and attestations passed and it was advanced on day 6; cinnabar was deployed on day 7; a major
red flag (the zerotier controller did not come back after a reboot) stopped its clock on day 9 and was
resolved on day 10, so the clock restarted then and has run 10 of its 14 days. The HTML report is
written to migration/report.html. The probe results are written as recorded, not run (the demo has no
test-clan, no VPS and no nix store), and each says so in its detail.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dendrite.migration import journal, ops, report_html
from dendrite.migration.journal import stamp, utcnow

REPORT = "migration/report.html"


def _events(start: dt.datetime) -> list[dict[str, Any]]:
    def at(days: float, kind: str, **fields: Any) -> dict[str, Any]:
        return {"ts": stamp(start + dt.timedelta(days=days)), "type": kind, **fields, "by": "crs58"}

    def probe(
        days: float, phase: int, criterion: str, command: str, detail: str, seconds: float
    ) -> dict[str, Any]:
        return at(
            days,
            "probe",
            phase=phase,
            criterion=criterion,
            status="pass",
            command=command,
            exit=None if command.startswith("builtin") else 0,
            seconds=seconds,
            excerpt="",
            detail=f"{detail} (demo: recorded, not run)",
        )

    return [
        at(0, "init", start=start.date().isoformat()),
        probe(1, 0, "flake-evaluates", "nix flake check --no-build", "as expected", 41.2),
        probe(
            1,
            0,
            "import-tree-discovers",
            "builtin layout-modules",
            "as expected",
            0.4,
        ),
        probe(
            1,
            0,
            "inventory-evaluates",
            "builtin inventory-validate",
            "as expected",
            0.6,
        ),
        probe(
            2,
            0,
            "test-vm-builds",
            "nix build --no-link .#nixosConfigurations.test-vm.config.system.build.toplevel",
            "as expected",
            812.0,
        ),
        probe(2, 0, "vars-generation", "builtin vars-check", "as expected", 0.3),
        at(
            4,
            "attest",
            phase=0,
            criterion="integration-points-documented",
            evidence="INTEGRATION-FINDINGS.md, six integration points",
        ),
        at(
            4,
            "attest",
            phase=0,
            criterion="patterns-extracted",
            evidence="PATTERNS.md: host module, inventory, vars",
        ),
        at(5, "attest", phase=0, criterion="no-critical-blockers", evidence="none found in test-clan"),
        at(5, "attest", phase=0, criterion="findings-documented", evidence="INTEGRATION-FINDINGS.md"),
        at(6, "decision", phase=0, outcome="GO", reasons=[], alternatives=[]),
        at(6, "advance", phase=0, outcome="GO"),
        at(7, "deployed", host="cinnabar", note="clan machines install cinnabar (demo)"),
        probe(7.1, 1, "vps-provisioned", "tofu -chdir=terraform state list", "as expected", 3.1),
        probe(7.1, 1, "dendritic-structure", "builtin layout-lint", "as expected", 0.5),
        probe(
            7.2,
            1,
            "vars-deployed",
            "ssh -o BatchMode=yes -o ConnectTimeout=10 root@cinnabar.zt test -d /run/secrets/vars",
            "as expected",
            0.9,
        ),
        at(
            9,
            "flag",
            id=1,
            host="cinnabar",
            severity="major",
            text="zerotier controller not answering after a reboot",
        ),
        at(
            10,
            "resolve",
            id=1,
            host="cinnabar",
            note="zerotier-one started before the network was online; ordering fixed",
        ),
        probe(
            10.1,
            1,
            "zerotier-controller",
            "ssh -o BatchMode=yes -o ConnectTimeout=10 root@cinnabar.zt zerotier-cli info",
            "as expected",
            1.2,
        ),
        probe(
            10.1,
            1,
            "ssh",
            "ssh -o BatchMode=yes -o ConnectTimeout=10 root@cinnabar.zt true",
            "as expected",
            0.7,
        ),
    ]


def build(root: Path, now: dt.datetime | None = None) -> Path:
    """Write the demo's plan and journal under `root`/migration and its HTML report; returns the report."""
    now = now or utcnow()
    start = (now - dt.timedelta(days=20)).replace(hour=9, minute=0, second=0)
    ops.init(root, start.date(), force=True, record=False)
    journal.append_many(root, _events(start), now)
    state = ops.load_state(root, now)
    return report_html.write(state, root, root / REPORT)
