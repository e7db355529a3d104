"""The plan: the seed's phases and criteria word for word, TOML round trips, and errors with line and column."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrite.errors import InputError
from dendrite.migration import plan as plan_mod
from dendrite.migration import toml
from tests.migration.helpers import START

# The seed's README, "Success metrics per migration phase", every checklist line as written there.
SEED_CRITERIA = {
    0: [
        "test-clan flake evaluates successfully",
        "import-tree discovers all dendritic modules",
        "Clan inventory evaluates correctly",
        "nixosConfiguration builds for test-vm",
        "Clan vars generation succeeds",
        "Integration points documented",
        "Patterns extracted for cinnabar",
        "No critical blockers identified",
        "Findings document completed",
    ],
    1: [
        "Hetzner Cloud VPS provisioned via terraform",
        "Dendritic module structure created and operational",
        "NixOS installed with LUKS encryption",
        "Clan vars deployed successfully",
        "Zerotier controller operational on cinnabar",
        "SSH access functional",
        "Stable for 1-2 weeks",
        "Darwin hosts (stibnite, blackphos, rosegold, argentum) still build with nixos-unified",
    ],
    2: [
        "blackphos builds with dendritic + clan (darwin modules converted)",
        "All functionality preserved (no regressions)",
        "Zerotier peer connects to cinnabar controller",
        "cinnabar ↔ blackphos network functional",
        "SSH via zerotier works (certificate-based)",
        "Stable for 1-2 weeks",
    ],
    3: [
        "rosegold builds using blackphos patterns (minimal changes)",
        "Zerotier peer connects to cinnabar controller",
        "3-machine network functional (cinnabar ↔ blackphos ↔ rosegold)",
        "Patterns confirmed reusable",
        "Stable for 1-2 weeks",
    ],
    4: [
        "argentum builds using established patterns",
        "4-machine zerotier network operational",
        "No new issues discovered",
        "Stable for 1-2 weeks",
        "Ready for stibnite migration",
    ],
    5: [
        "stibnite builds using proven patterns",
        "All daily workflows functional",
        "No productivity loss",
        "5-machine network complete (cinnabar + 4 darwin)",
        "Stable for 1-2 weeks",
    ],
    6: [
        "All hosts migrated successfully",
        "nixos-unified removed",
        "Old configurations cleaned up",
        "Documentation updated",
    ],
}
TEXT = plan_mod.dumps(plan_mod.default_plain(START.date()))


def test_default_plan_is_the_seeds() -> None:
    """The seed's lines, plus Phase 2's `no-regressions` carried into Phases 3-5 (issue 14: the
    `migrate verify` probe of Phases 2-5), each checked by the verify builtin."""
    p = plan_mod.loads(TEXT)
    added = {
        ph.number: [c for c in ph.criteria if c.id == "no-regressions"] for ph in p.phases if ph.number > 2
    }
    assert {n: [(c.text, c.probe and c.probe.builtin) for c in cs] for n, cs in added.items()} == {
        n: [("All functionality preserved (no regressions)", "verify")] if n < 6 else [] for n in (3, 4, 5, 6)
    }
    texts = {
        ph.number: [c.text for c in ph.criteria if ph.number <= 2 or c.id != "no-regressions"]
        for ph in p.phases
    }
    assert texts == SEED_CRITERIA
    assert [ph.hosts for ph in p.phases] == [
        ("test-vm",),
        ("cinnabar",),
        ("blackphos",),
        ("rosegold",),
        ("argentum",),
        ("stibnite",),
        (),
    ]
    assert 10 <= p.total_weeks <= 14
    assert len(p.red_flags) == 10 and "Zerotier network instabilities" in p.red_flags
    assert all(h.stability_days == 14 for h in p.hosts.values() if h.has_window)


def test_machine_checkable_criteria_have_probes() -> None:
    p = plan_mod.loads(TEXT)
    kinds = {
        (ph.number, c.id): (c.probe.builtin or c.probe.command[0]) if c.probe else None
        for ph in p.phases
        for c in ph.criteria
    }
    assert kinds[(0, "import-tree-discovers")] == "layout-modules"
    assert kinds[(0, "inventory-evaluates")] == "inventory-validate"
    assert kinds[(0, "vars-generation")] == "vars-check"
    assert kinds[(1, "ssh")] == "ssh"
    assert kinds[(1, "dendritic-structure")] == "layout-lint"
    assert kinds[(1, "darwin-still-builds")] == "nix"
    assert kinds[(2, "zerotier-peer")] == "ssh"
    assert kinds[(0, "findings-documented")] is None and kinds[(5, "daily-workflows")] is None
    assert [kinds[(n, "no-regressions")] for n in (2, 3, 4, 5)] == ["verify"] * 4


def test_written_plan_is_deterministic_and_round_trips() -> None:
    assert plan_mod.dumps(plan_mod.default_plain(START.date())) == TEXT
    assert tomllib.loads(TEXT)["migration"]["start"] == START.date()


_scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(),
)


@given(st.dictionaries(st.text(min_size=1), st.one_of(_scalars, st.lists(_scalars, max_size=4)), max_size=6))
def test_writer_round_trips_through_tomllib(doc: dict[str, object]) -> None:
    assert tomllib.loads(toml.dumps({"t": doc} if doc else {})) == ({"t": doc} if doc else {})


def _error(text: str) -> InputError:
    with pytest.raises(InputError) as exc:
        plan_mod.loads(text)
    return exc.value


def _line_col(text: str, needle: str) -> tuple[int, int]:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n, line.index(needle) + 1
    raise AssertionError(needle)


def test_syntax_error_names_line_and_column() -> None:
    bad = TEXT.replace('old_ref = "pre-migration"', 'old_ref = "pre-migration', 1)
    line, _ = _line_col(bad, 'old_ref = "pre-migration')
    err = _error(bad)
    assert err.message.startswith(f"migration/plan.toml:{line}:")


@pytest.mark.parametrize(
    ("old", "new", "needle", "words"),
    [
        ("stability_days = 14", "stability_days = 30", "stability_days = 30", "outside the seed's 7-14 days"),
        ("timeout = 900", 'timeout = "long"', 'timeout = "long"', "`timeout` must be"),
        ('builtin = "vars-check"', 'builtin = "vars-chek"', 'builtin = "vars-chek"', "unknown builtin"),
        (
            'builtin = "vars-check"',
            'builtin = "vars-check"\nexpr = "entry.nix"',
            'expr = "entry.nix"',
            '`expr` is for `builtin = "verify"` only',
        ),
        ('class = "darwin"', 'clas = "darwin"', 'clas = "darwin"', "unknown key `clas`"),
        (
            'hosts = ["blackphos"]',
            'hosts = ["blackphox"]',
            'hosts = ["blackphox"]',
            "unknown host 'blackphox'",
        ),
        ("--target-host {target}", "--target-host {targte}", "{targte}", "unknown placeholder {targte}"),
    ],
)
def test_bad_value_names_line_column_and_a_hint(old: str, new: str, needle: str, words: str) -> None:
    bad = TEXT.replace(old, new, 1)
    line, _ = _line_col(bad, needle)
    err = _error(bad)
    assert err.message.startswith(f"migration/plan.toml:{line}:"), err.message
    assert words in err.message


def test_did_you_mean_for_unknown_names() -> None:
    p = plan_mod.loads(TEXT)
    with pytest.raises(InputError) as exc:
        p.phase(0).criterion("findings-documnted")
    assert exc.value.hint == "did you mean 'findings-documented'?"
    with pytest.raises(InputError) as exc:
        p.host("cinabar")
    assert exc.value.hint == "did you mean 'cinnabar'?"
    with pytest.raises(InputError):
        p.phase("9")
    assert p.phase("Phase 2").number == 2


def test_hosts_and_criteria_can_be_added_by_hand() -> None:
    extra = TEXT + (
        '\n[[hosts]]\nname = "pyrite"\nplatform = "x86_64-linux"\nclass = "nixos"\nrollback = "nixos"\nstability_days = 7\n'
    )
    extra = extra.replace(
        '[[phases.criteria]]\nid = "docs-updated"',
        '[[phases.criteria]]\nid = "pyrite-up"\ntext = "pyrite answers"\ncritical = true\nprobe = "command"\n'
        'command = ["ssh", "{target}", "true"]\nhosts = ["pyrite"]\n\n[[phases.criteria]]\nid = "docs-updated"',
    )
    p = plan_mod.loads(extra)
    assert p.hosts["pyrite"].stability_days == 7
    c = p.phase(6).criterion("pyrite-up")
    assert c.probe is not None and c.probe.hosts == ("pyrite",)
    assert dt.date(2026, 1, 5) == p.start
