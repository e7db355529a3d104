"""`dendrite nix …` as users run it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import clean_env, run_cli


def test_check_syntax_reports_every_error_and_exit_codes(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path)
    (tmp_path / "mods").mkdir()
    good = tmp_path / "mods" / "good.nix"
    good.write_text("{ pkgs, lib, }: { a = 1; }\n")
    bad = tmp_path / "mods" / "bad.nix"
    bad.write_text("{\n  a = ;\n  b = 2\n}\n")
    ok = run_cli(["nix", "check-syntax", str(good)], env)
    assert ok.returncode == 0 and ok.stdout == b""
    res = run_cli(["nix", "check-syntax", str(tmp_path / "mods")], env)
    assert res.returncode == 1
    assert res.stdout.decode().splitlines() == [
        f"{bad}:2:7: unexpected ';', expected an expression",
        f"{bad}:4:1: unexpected '}}', expected ';'",
    ]
    js = json.loads(run_cli(["nix", "check-syntax", "--json", str(bad)], env).stdout)
    assert js["files"] == 1 and js["errors"][0] == {
        "file": str(bad),
        "line": 2,
        "column": 7,
        "byte": 8,
        "message": "unexpected ';', expected an expression",
    }
    missing = run_cli(["nix", "check-syntax", str(tmp_path / "nope.nix")], env)
    assert missing.returncode == 2 and b"does not exist" in missing.stderr


def test_eval_literal_and_markers(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path)
    f = tmp_path / "meta.nix"
    f.write_text(
        '{ lib, ... }:\n{\n  flake.meta.owner = { name = "crs58"; ids = [ 1 2 ]; };\n  x = lib.mkDefault 1;\n}\n'
    )
    res = run_cli(["nix", "eval-literal", str(f), "--attr", "flake.meta.owner", "--json"], env)
    assert res.returncode == 0 and json.loads(res.stdout) == {"name": "crs58", "ids": [1, 2]}
    nix = run_cli(["nix", "eval-literal", str(f), "--attr", "flake.meta"], env)
    assert nix.stdout.decode() == '{\n  owner = {\n    name = "crs58";\n    ids = [ 1 2 ];\n  };\n}\n'
    whole = run_cli(["nix", "eval-literal", str(f), "--json"], env)
    assert whole.returncode == 1
    assert json.loads(whole.stdout)["x"] == {
        "__notLiteral": "a function application is not evaluated",
        "at": f"{f}:4:7",
    }
    assert f"{f}:4:7: not literal" in whole.stderr.decode()
    absent = run_cli(["nix", "eval-literal", str(f), "--attr", "flake.nope"], env)
    assert absent.returncode == 2 and b"not found" in absent.stderr


def test_fmt_literal_round_trip(tmp_path: Path) -> None:
    env = clean_env(home=tmp_path)
    res = run_cli(["nix", "fmt-literal"], env, stdin=b'{"a b": [1, -2, 0.5, null, true, "x${y}"], "in": {}}')
    assert res.stdout.decode() == '{\n  "a b" = [ 1 (-2) 0.5 null true "x\\${y}" ];\n  "in" = { };\n}\n'
    f = tmp_path / "v.nix"
    f.write_bytes(res.stdout)
    back = run_cli(["nix", "eval-literal", str(f), "--json"], env)
    assert json.loads(back.stdout) == {"a b": [1, -2, 0.5, None, True, "x${y}"], "in": {}}
    bad = run_cli(["nix", "fmt-literal"], env, stdin=b"{not json")
    assert bad.returncode == 2 and b"not JSON" in bad.stderr
