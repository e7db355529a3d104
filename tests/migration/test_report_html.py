"""The HTML report in real headless Chromium: its elements through the DOM, a screenshot, and no request.

How "no network request" is checked: Chromium writes a NetLog (`--log-net-log`) of every request its
network service starts. Chromium itself talks to Google in the background (component updates, time,
accounts), and those requests have the initiator "not an origin"; a request the page makes has the
page's origin (`null` for a file:// page). The test asserts there is no request of the page at all,
and a control page with one remote image shows that such a request does appear in the log, so the
check can fail. The host resolver maps every name to NOTFOUND, so nothing leaves the machine either
way. Besides, the page carries a CSP `default-src 'none'` and no src/href names an http(s) URL.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dendrite.fleet import sample_fleet
from dendrite.inventory.scaffold import write_inventory_modules
from dendrite.migration import demo as migration_demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--no-first-run",
            *args,
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )


def page_requests(netlog: Path) -> list[str]:
    """URLs of requests that a page (not Chromium's own background services) started."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        ev["params"]["url"]
        for ev in log["events"]
        if ev["type"] == start
        and "url" in ev.get("params", {})
        and ev["params"].get("initiator") != "not an origin"
    ]


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def having(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    fleet = sample_fleet()
    machines = {m.name: {"machineClass": m.machine_class, "tags": list(m.tags)} for m in fleet.machines}
    write_inventory_modules(
        root / "modules" / "clan", {"name": fleet.name, "domain": fleet.domain}, machines, fleet.instances
    )
    return migration_demo.build(root)


def test_dom_has_phases_hosts_and_topology(report: Path, tmp_path: Path) -> None:
    res = _chromium(tmp_path, "--dump-dom", report.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    dom = _Dom()
    dom.feed(res.stdout.decode())
    assert [a["data-phase"] for a in dom.having("g", **{"class": "gantt-phase"})] == [
        str(n) for n in range(7)
    ]
    assert dom.having("line", id="today")
    hosts = [a["data-host"] for a in dom.having("tr") if "data-host" in a]
    assert hosts[:6] == ["test-vm", "cinnabar", "blackphos", "rosegold", "argentum", "stibnite"]
    nodes = {a["data-host"]: a["data-role"] for a in dom.having("g", **{"class": "zt-node"})}
    assert nodes == {
        "cinnabar": "controller",
        "blackphos": "peer",
        "rosegold": "peer",
        "argentum": "peer",
        "stibnite": "peer",
    }
    assert len(dom.having("line", **{"class": "zt-link"})) == 4
    assert dom.having(
        "span", **{"class": "chip pass critical", "data-criterion": "ssh"}
    )  # Phase 1, from the journal
    assert dom.having("meta", **{"http-equiv": "Content-Security-Policy"})
    assert not dom.having("tr", **{"class": "flag"})  # the demo's one red flag is resolved
    assert len(dom.having("tr", **{"class": "event"})) == 20


def test_screenshot_is_a_png(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    res = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", report.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
    assert len(data) > 20_000  # a rendered page, not a blank one


def test_the_page_makes_no_network_request(report: Path, tmp_path: Path) -> None:
    html = report.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.IGNORECASE)
    netlog = tmp_path / "netlog.json"
    res = _chromium(tmp_path, f"--log-net-log={netlog}", "--dump-dom", report.as_uri())
    assert res.returncode == 0 and b"zt-node" in res.stdout
    assert page_requests(netlog) == []

    control = tmp_path / "control.html"
    control.write_text(
        '<!DOCTYPE html><html><body><img src="http://example.invalid/pixel.png"></body></html>'
    )
    control_log = tmp_path / "control-netlog.json"
    _chromium(tmp_path / "c", f"--log-net-log={control_log}", "--dump-dom", control.as_uri())
    assert page_requests(control_log) == ["http://example.invalid/pixel.png"]
