"""`dendrite infra hetzner --apply` through the real `hcloud` library against a local HTTP server.

CONTRACT TEST: the server below is not Hetzner. It speaks the request and response shapes of the
Hetzner Cloud API as documented at https://docs.hetzner.cloud/ (GET/POST /ssh_keys, /firewalls,
/servers, GET /servers/{id}, GET /actions/{id}; list responses with `meta.pagination`; the create
server response with `server`, `action`, `next_actions`, `root_password`), and records what it was
sent. It proves that dendrite drives the official library with the right requests, and that the
library's answers are read correctly; it cannot prove that Hetzner still answers this way.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import run_cli
from tests.scaffold.conftest import Clan, make_keys

pytest.importorskip("hcloud")

PAGINATION = {
    "pagination": {
        "page": 1,
        "per_page": 50,
        "previous_page": None,
        "next_page": None,
        "last_page": 1,
        "total_entries": 0,
    }
}
TIME = "2026-01-01T00:00:00+00:00"


class FakeHetzner:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any] | None, str]] = []
        self.ssh_keys: list[dict[str, Any]] = []
        self.firewalls: list[dict[str, Any]] = []
        self.servers: list[dict[str, Any]] = []
        self.next_id = 100

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def action(self, command: str, resource: int, kind: str) -> dict[str, Any]:
        return {
            "id": self.new_id(),
            "command": command,
            "status": "success",
            "progress": 100,
            "started": TIME,
            "finished": TIME,
            "resources": [{"id": resource, "type": kind}],
            "error": None,
        }

    def handle(self, method: str, url: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        parsed = urlparse(url)
        path = parsed.path.removeprefix("/v1")
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        tables = {"/ssh_keys": self.ssh_keys, "/firewalls": self.firewalls, "/servers": self.servers}
        if method == "GET" and path in tables:
            found = [x for x in tables[path] if "name" not in query or x["name"] == query["name"]]
            return 200, {path[1:]: found, "meta": PAGINATION}
        if method == "POST" and path == "/ssh_keys" and body is not None:
            key = {
                "id": self.new_id(),
                "name": body["name"],
                "public_key": body["public_key"],
                "fingerprint": "00:11",
                "labels": {},
                "created": TIME,
            }
            self.ssh_keys.append(key)
            return 201, {"ssh_key": key}
        if method == "POST" and path == "/firewalls" and body is not None:
            fw = {
                "id": self.new_id(),
                "name": body["name"],
                # the API answers every rule with both address lists and a description
                "rules": [
                    {"source_ips": [], "destination_ips": [], "description": None, "port": None} | r
                    for r in body.get("rules", [])
                ],
                "labels": {},
                "created": TIME,
                "applied_to": [],
            }
            self.firewalls.append(fw)
            return 201, {"firewall": fw, "actions": []}
        if method == "POST" and path == "/servers" and body is not None:
            sid = self.new_id()
            server = {
                "id": sid,
                "name": body["name"],
                "status": "running",
                "created": TIME,
                "labels": body.get("labels", {}),
                "server_type": {"id": 1, "name": body["server_type"]},
                "image": {"id": 2, "name": body["image"], "type": "system"},
                "public_net": {
                    "ipv4": {"id": 7, "ip": "192.0.2.10", "blocked": False, "dns_ptr": "static.example"},
                    "ipv6": {"id": 8, "ip": "2001:db8::/64", "blocked": False, "dns_ptr": []},
                    "floating_ips": [],
                    "firewalls": [
                        {"id": f["firewall"], "status": "applied"} for f in body.get("firewalls", [])
                    ],
                },
                "volumes": [],
            }
            self.servers.append(server)
            return 201, {
                "server": server,
                "action": self.action("create_server", sid, "server"),
                "next_actions": [],
                "root_password": None,
            }
        if method == "GET" and path.startswith("/servers/"):
            sid = int(path.rsplit("/", 1)[1])
            return 200, {"server": next(s for s in self.servers if s["id"] == sid)}
        if method == "GET" and path.startswith("/actions/"):
            aid = int(path.rsplit("/", 1)[1])
            return 200, {"action": self.action("create_server", aid, "server") | {"id": aid}}
        return 404, {"error": {"code": "not_found", "message": f"{method} {path}"}}


@pytest.fixture
def api() -> Iterator[tuple[FakeHetzner, str]]:
    fake = FakeHetzner()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.requests.append((method, self.path, body, self.headers.get("Authorization", "")))
            status, payload = fake.handle(method, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh(tmp_path: Path) -> Clan:
    keys = make_keys(tmp_path)
    root = tmp_path / "clan"
    assert run_cli(["init", str(root), "--machines", "cinnabar"], keys.env).returncode == 0
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx8m0Qk4bGQdemo admin@example\n")
    return Clan(root, keys.env, str(pub))


def apply(c: Clan, env: dict[str, str]) -> tuple[int, str, str]:
    proc = run_cli(
        ["--repo", str(c.root), "infra", "hetzner", "--apply", "--ssh-key", c.public, "--json"],
        env,
        cwd=c.root,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_apply_creates_key_firewall_and_server(api: tuple[FakeHetzner, str], fresh: Clan) -> None:
    fake, endpoint = api
    env = {**fresh.env, "HCLOUD_TOKEN": "t0ken", "HCLOUD_ENDPOINT": endpoint}
    code, out, err = apply(fresh, env)
    assert code == 0, err
    report = json.loads(out)
    assert report["provisioned"]["ipv4"] == "192.0.2.10"
    assert report["provisioned"]["created"] == ["ssh key", "firewall", "server"]
    assert all(auth == "Bearer t0ken" for *_, auth in fake.requests)
    posts = {path.split("?")[0]: body for method, path, body, _ in fake.requests if method == "POST"}
    assert posts["/v1/ssh_keys"]["public_key"].startswith("ssh-ed25519 ")
    rules = {(r["protocol"], r["port"]) for r in posts["/v1/firewalls"]["rules"]}
    assert rules == {("tcp", "22"), ("udp", "9993")}
    server = posts["/v1/servers"]
    assert (server["name"], server["server_type"], server["location"]) == ("cinnabar", "cx43", "fsn1")
    assert server["labels"] == {"clan": "test-clan", "machine": "cinnabar"}
    assert server["ssh_keys"] == [fake.ssh_keys[0]["id"]]
    assert server["firewalls"] == [{"firewall": fake.firewalls[0]["id"]}]
    assert any(m == "GET" and p.startswith("/v1/actions/") for m, p, _, _ in fake.requests)
    # a second run finds everything by name and creates nothing
    code, out, err = apply(fresh, env)
    assert code == 0, err
    assert json.loads(out)["provisioned"]["created"] == []
    assert len(fake.servers) == 1


def test_missing_token_is_refused_before_anything(api: tuple[FakeHetzner, str], fresh: Clan) -> None:
    fake, endpoint = api
    env = {k: v for k, v in fresh.env.items() if k != "HCLOUD_TOKEN"} | {"HCLOUD_ENDPOINT": endpoint}
    code, _, err = apply(fresh, env)
    assert code == 2
    assert "HCLOUD_TOKEN is not set" in err and "Traceback" not in err
    assert fake.requests == []
    assert not (fresh.root / "modules/terranix/hetzner.nix").exists()


def test_unreachable_api_is_one_sentence(fresh: Clan) -> None:
    env = {**fresh.env, "HCLOUD_TOKEN": "t", "HCLOUD_ENDPOINT": "http://127.0.0.1:9/v1"}  # nothing listens
    code, _, err = apply(fresh, env)
    assert code == 2 and "cannot reach the Hetzner Cloud API" in err and "Traceback" not in err
