"""A hostile repository: bounded parsers, and one clear sentence (exit 2) instead of an internal error.

Every CLI case runs the real command in a process limited to 1 GiB of address space and a timeout, so
an unbounded parser fails the test instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dendrite import boundedjson
from dendrite.errors import DendriteError, InputError
from dendrite.fsutil import read_regular_file
from dendrite.sops.stores import yaml as yaml_store
from dendrite.sops.tree import to_plain
from tests.conftest import Keys, run_sops

GIB = 1 << 30
TIMEOUT = 120


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GIB, GIB))


def run_bounded(
    args: list[str], env: Mapping[str, str], stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """`python -m dendrite` as a user runs it, with at most 1 GiB of memory and TIMEOUT seconds."""
    return subprocess.run(
        [sys.executable, "-m", "dendrite", *args],
        check=False,
        env=dict(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        preexec_fn=_limit_memory,
    )


def assert_one_sentence(res: subprocess.CompletedProcess[bytes], *needles: str) -> str:
    err = res.stderr.decode()
    assert res.returncode == 2, (res.returncode, err)
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert all(line.startswith("hint: ") for line in lines[1:]), err  # one sentence, at most a hint
    for n in needles:
        assert n in lines[0], err
    return lines[0]


def billion_laughs() -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def repo(tmp_path: Path, keys: Keys) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    res = run_bounded(["--repo", str(root), "secrets", "users", "add", "alice", keys.a.public], keys.env)
    assert res.returncode == 0, res.stderr
    res = run_bounded(["--repo", str(root), "secrets", "set", "ok"], keys.env, stdin=b"v")
    assert res.returncode == 0, res.stderr
    return root


# ------------------------------------------------------------------------------------------------ YAML


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_billion_laughs_through_sops_commands(tmp_path: Path, keys: Keys, command: str) -> None:
    f = tmp_path / "laughs.yaml"
    f.write_text(billion_laughs())
    args = ["sops", command, *(["--age", keys.a.public] if command == "encrypt" else []), str(f)]
    assert_one_sentence(run_bounded(args, keys.env), "laughs.yaml", "aliases expand to more than")


def test_billion_laughs_through_import_sops(tmp_path: Path, repo: Path, keys: Keys) -> None:
    f = tmp_path / "laughs.yaml"
    f.write_text(billion_laughs())
    res = run_bounded(["--repo", str(repo), "secrets", "import-sops", str(f)], keys.env)
    assert_one_sentence(res, "laughs.yaml", "aliases")


def test_too_many_aliases(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "many.yaml"
    f.write_text("a: &a x\nb: [" + ", ".join(["*a"] * (yaml_store.MAX_ALIASES + 1)) + "]\n")
    res = run_bounded(["sops", "encrypt", "--age", keys.a.public, str(f)], keys.env)
    assert_one_sentence(res, "many.yaml", f"more than {yaml_store.MAX_ALIASES:,} YAML aliases")


@pytest.mark.parametrize("levels", [yaml_store.MAX_DEPTH + 1, 100_000])
def test_deep_yaml(tmp_path: Path, keys: Keys, levels: int) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("a: " + "[" * levels + "]" * levels + "\n")
    res = run_bounded(["sops", "encrypt", "--age", keys.a.public, str(f)], keys.env)
    assert_one_sentence(res, "deep.yaml", "nested more than")


def test_yaml_at_the_depth_limit_round_trips(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "ok.yaml"
    n = yaml_store.MAX_DEPTH - 1  # plus the top-level mapping
    f.write_text("a: " + "[" * n + "1" + "]" * n + "\n")
    enc = run_bounded(["sops", "encrypt", "--age", keys.a.public, str(f)], keys.env)
    assert enc.returncode == 0, enc.stderr
    out = tmp_path / "ok.enc.yaml"
    out.write_bytes(enc.stdout)
    dec = run_bounded(["sops", "decrypt", "--output-type", "json", str(out)], keys.env)
    assert dec.returncode == 0, dec.stderr
    value = json.loads(dec.stdout)["a"]
    for _ in range(n - 1):
        value = value[0]
    assert value == [1]


# ------------------------------------------------------------------------------------------------ JSON


def deep_json(levels: int) -> str:
    return '{"a": ' + "[" * levels + "]" * levels + "}"


def test_deep_json_to_sops_decrypt(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "deep.json"
    f.write_text(deep_json(100_000))
    assert_one_sentence(run_bounded(["sops", "decrypt", str(f)], keys.env), "deep.json", "nested more than")


def test_deep_secret_written_by_sops_itself(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    """The real sops accepts 150 levels (Go allows 10,000); dendrite refuses them in one sentence."""
    f = tmp_path / "deep.json"
    f.write_text(deep_json(150))
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env)
    res = run_bounded(["sops", "decrypt", str(f)], keys.env)
    assert_one_sentence(res, "deep.json", f"nested more than {boundedjson.MAX_DEPTH} levels")


def test_deep_json_secret_in_the_store(repo: Path, keys: Keys) -> None:
    secret = repo / "sops/secrets/ok/secret"
    secret.write_text(deep_json(100_000))
    res = run_bounded(["--repo", str(repo), "secrets", "get", "ok"], keys.env)
    assert_one_sentence(res, "sops/secrets/ok/secret", "nested more than")


def test_deep_key_json(repo: Path, keys: Keys) -> None:
    key = repo / "sops/users/alice/key.json"
    key.write_text("[" * 10_000 + "]" * 10_000)
    res = run_bounded(["--repo", str(repo), "secrets", "set", "x"], keys.env, stdin=b"v")
    assert_one_sentence(res, "key.json", "nested more than")
    key.write_text("[" * 100_000 + "]" * 100_000)  # too big before it is too deep
    res = run_bounded(["--repo", str(repo), "secrets", "set", "x"], keys.env, stdin=b"v")
    assert_one_sentence(res, "key.json", "over dendrite's limit")


def test_deep_inventory_json(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "inventory.json").write_text('{"machines": ' + "[" * 100_000 + "]" * 100_000 + "}")
    res = run_bounded(["--repo", str(tmp_path), "inventory", "show"], keys.env)
    assert_one_sentence(res, "inventory.json", "nested more than")


def test_deep_json_on_stdin_to_fmt_literal(keys: Keys) -> None:
    res = run_bounded(["nix", "fmt-literal"], keys.env, stdin=deep_json(100_000).encode())
    assert_one_sentence(res, "stdin", "nested more than")


# ------------------------------------------------------------------------------------------------ Nix


def chain(op: str, operand: str, n: int) -> str:
    return f" {op} ".join([operand] * n)


def test_five_hundred_chained_plus_evaluate(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "plus.nix"
    f.write_text(chain("+", '"a"', 500) + "\n")
    assert f.stat().st_size < 4096
    res = run_bounded(["nix", "eval-literal", str(f)], keys.env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().strip() == '"' + "a" * 500 + '"'
    assert run_bounded(["nix", "check-syntax", str(f)], keys.env).returncode == 0


@pytest.mark.parametrize(
    "src,expected",
    [
        (chain("++", "[ 1 ]", 3000), [1] * 3000),
        (chain("//", "{ a = 1; }", 3000), {"a": 1}),
        (chain("+", "1", 5000), 5000),
    ],
    ids=["concat", "update", "sum"],
)
def test_long_chains_evaluate(tmp_path: Path, keys: Keys, src: str, expected: object) -> None:
    f = tmp_path / "chain.nix"
    f.write_text(src + "\n")
    res = run_bounded(["nix", "eval-literal", "--json", str(f)], keys.env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == expected


@pytest.mark.parametrize(
    "src",
    [
        "let a = 1; in " * 2000 + "a",
        "-" * 3000 + "1",
        "[" * 3000 + "]" * 3000,
        "x: " * 3000 + "x",
        "{ a = " * 900 + "1" + "; }" * 900,
        chain("&&", "true", 20_000),
    ],
    ids=["lets", "negations", "lists", "lambdas", "sets", "and-chain"],
)
def test_deep_nix_is_refused_or_not_literal(tmp_path: Path, keys: Keys, src: str) -> None:
    f = tmp_path / "deep.nix"
    f.write_text(src + "\n")
    res = run_bounded(["nix", "eval-literal", str(f)], keys.env)
    if res.returncode == 2:
        assert_one_sentence(res, "deep.nix:1:", "nested more than")
    else:  # not literal (exit 1) is a fine answer too, as long as it is not a crash
        assert res.returncode in (0, 1) and b"Traceback" not in res.stderr, res.stderr
        assert b"internal error" not in res.stderr
    check = run_bounded(["nix", "check-syntax", str(f)], keys.env)
    assert check.returncode in (0, 1) and b"internal error" not in check.stderr, check.stderr


def _nix_repo(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)


def test_layout_and_inventory_on_long_chains(tmp_path: Path, keys: Keys) -> None:
    _nix_repo(
        tmp_path,
        {
            "modules/plus.nix": "{ flake.modules.nixos.x = { networking.hostName = "
            + chain("+", '"a"', 2000)
            + "; }; }\n",
            "modules/and.nix": "{ flake.modules.nixos.y = { a = " + chain("&&", "true", 5000) + "; }; }\n",
            "modules/sets.nix": "{ flake.modules.nixos.z = " + "{ a = " * 900 + "1" + "; }" * 900 + "; }\n",
            "modules/inv.nix": "{ clan.inventory.machines.a = { tags = "
            + chain("++", '[ "t" ]', 800)
            + "; deploy.targetHost = "
            + chain("+", '"h"', 800)
            + "; }; }\n",
        },
    )
    for cmd in (["layout", "lint"], ["layout", "modules"], ["inventory", "validate"]):
        res = run_bounded(["--repo", str(tmp_path), *cmd], keys.env)
        assert res.returncode in (0, 1), (cmd, res.stderr)
        assert b"internal error" not in res.stderr and b"Traceback" not in res.stderr
    show = run_bounded(["--repo", str(tmp_path), "inventory", "show"], keys.env)
    assert show.returncode == 0 and b"h" * 800 in show.stdout, show.stderr


def test_inventory_nested_too_deep_is_one_sentence(tmp_path: Path, keys: Keys) -> None:
    _nix_repo(
        tmp_path, {"modules/inv.nix": "{ clan.inventory = " + "{ a = " * 900 + "1" + "; }" * 900 + "; }\n"}
    )
    res = run_bounded(["--repo", str(tmp_path), "inventory", "show"], keys.env)
    assert_one_sentence(res, "modules/inv.nix:1:", "nested more than")


# ------------------------------------------------------------------------------------------------ FIFOs


def test_fifo_key_json_does_not_hang(repo: Path, keys: Keys) -> None:
    key = repo / "sops/users/alice/key.json"
    key.unlink()
    os.mkfifo(key)
    res = run_bounded(["--repo", str(repo), "secrets", "set", "x"], keys.env, stdin=b"v")
    assert_one_sentence(res, "key.json", "not a regular file")
    # secrets check names the link, then why it is a problem: not two paths run together
    check = run_bounded(["--repo", str(repo), "secrets", "check"], keys.env)
    assert check.returncode == 1 and b"Traceback" not in check.stderr, check.stderr
    assert (
        "ok: link: sops/secrets/ok/users/alice leads to a member whose key cannot be read: "
        "sops/users/alice/key.json"
    ) in check.stdout.decode(), check.stdout


def test_fifo_inventory_json_does_not_hang(tmp_path: Path, keys: Keys) -> None:
    os.mkfifo(tmp_path / "inventory.json")
    res = run_bounded(["--repo", str(tmp_path), "inventory", "show"], keys.env)
    assert_one_sentence(res, "inventory.json", "not a regular file")


def test_fifo_nix_file_does_not_hang(tmp_path: Path, keys: Keys) -> None:
    f = tmp_path / "fifo.nix"
    os.mkfifo(f)
    for cmd in ("eval-literal", "check-syntax"):
        assert_one_sentence(run_bounded(["nix", cmd, str(f)], keys.env), "fifo.nix", "not a regular file")
    (tmp_path / "modules").mkdir()
    os.mkfifo(tmp_path / "modules/inventory.nix")
    for cmd in (["inventory", "show"], ["layout", "lint"]):
        res = run_bounded(["--repo", str(tmp_path), *cmd], keys.env)
        assert res.returncode in (0, 1, 2) and b"internal error" not in res.stderr, (cmd, res.stderr)


def test_read_regular_file_caps_size(tmp_path: Path) -> None:
    f = tmp_path / "big"
    f.write_bytes(b"x" * 101)
    assert read_regular_file(f, limit=101) == b"x" * 101
    with pytest.raises(InputError, match="over dendrite's limit of 100"):
        read_regular_file(f, limit=100)
    with pytest.raises(InputError, match="not a regular file"):
        read_regular_file(tmp_path, limit=100)


# ------------------------------------------------------------------------------------------------ disks


@pytest.fixture
def small_mount(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only); skipped where mounting is not allowed."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, check=False
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def _fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_disk_full_is_one_sentence(small_mount: Path, keys: Keys) -> None:
    env = keys.env
    res = run_bounded(["--repo", str(small_mount), "secrets", "users", "add", "alice", keys.a.public], env)
    assert res.returncode == 0, res.stderr
    _fill(small_mount)
    res = run_bounded(["--repo", str(small_mount), "secrets", "set", "x"], env, stdin=b"v" * 4096)
    line = assert_one_sentence(res, "no space left on device")
    assert "cannot write" in line and str(small_mount) in line
    (small_mount / "filler").unlink()
    res = run_bounded(["--repo", str(small_mount), "secrets", "set", "x"], env, stdin=b"v")
    assert res.returncode == 0, res.stderr


def _make_read_only(path: Path) -> None:
    """A read-only remount as root; else taking write permission away (which does not stop root)."""
    if os.geteuid() == 0:
        res = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True, check=False)
        if res.returncode != 0:
            pytest.skip(f"cannot remount read-only: {res.stderr.decode().strip()}")
        return
    for p in [path, *path.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode & ~0o222)


@pytest.fixture
def writable_tree(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs mount as root, else a plain directory (made read-only by chmod later)."""
    if os.geteuid() != 0:
        yield tmp_path / "plain"
        for p in tmp_path.rglob("*"):
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | 0o700)
        return
    mnt = tmp_path / "ro"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, check=False
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


@pytest.mark.parametrize(
    "command,stdin",
    [
        (["secrets", "set", "y"], b"w"),
        (["secrets", "users", "add", "bob", "PUBLIC_B"], None),
        (["secrets", "remove", "x"], None),
    ],
    ids=["set", "users-add", "remove"],
)
def test_read_only_repository_is_one_sentence(
    writable_tree: Path, keys: Keys, command: list[str], stdin: bytes | None
) -> None:
    root = writable_tree
    root.mkdir(exist_ok=True)
    assert (
        run_bounded(
            ["--repo", str(root), "secrets", "users", "add", "alice", keys.a.public], keys.env
        ).returncode
        == 0
    )
    assert run_bounded(["--repo", str(root), "secrets", "set", "x"], keys.env, stdin=b"v").returncode == 0
    _make_read_only(root)
    args = [keys.b.public if a == "PUBLIC_B" else a for a in command]
    res = run_bounded(["--repo", str(root), *args], keys.env, stdin=stdin)
    line = assert_one_sentence(res)
    assert "cannot write" in line or "cannot access" in line, line
    assert "read-only file system" in line or "permission denied" in line, line
    # reading still works
    get = run_bounded(["--repo", str(root), "secrets", "get", "x"], keys.env)
    assert get.returncode == 0 and get.stdout == b"v", get.stderr


# ------------------------------------------------------------------------------------------------ units


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@settings(max_examples=200, deadline=None)
@given(depth=st.integers(0, 3 * boundedjson.MAX_DEPTH), leaf=st.sampled_from([1, "x", "[{", None, []]))
def test_bounded_json_parses_exactly_or_refuses(depth: int, leaf: object) -> None:
    value = _nested(depth, leaf)
    text = json.dumps(value)
    levels = (
        text.count("[") + text.count("{") - (2 if leaf == "[{" else 0)
    )  # brackets in a string do not count
    try:
        parsed = boundedjson.loads(text, "t.json")
    except boundedjson.JsonTooDeepError as exc:
        assert levels > boundedjson.MAX_DEPTH and "t.json" in exc.message
    else:
        assert levels <= boundedjson.MAX_DEPTH and parsed == value


@st.composite
def yaml_with_aliases(draw: st.DrawFn) -> tuple[str, int, int]:
    """Anchored lists, each repeating aliases to the one before: the text, how much the aliases add
    (as the store counts it: one per node met again plus its scalar's length), and the last one's leaves."""
    count = draw(st.integers(1, 8))
    width = draw(st.integers(1, 12))
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    cost = 1 + width * 2  # what meeting a0 again costs: the list, and each "x" (1 + its one character)
    added = 0
    for i in range(1, count):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
        added += width * cost
        cost = 1 + width * cost
    return "\n".join(lines) + "\n", added, width**count


def _leaves(value: object) -> int:
    return sum(_leaves(v) for v in value) if isinstance(value, list) else 1


@settings(max_examples=100, deadline=None)
@given(doc=yaml_with_aliases())
def test_yaml_aliases_expand_exactly_or_are_refused(doc: tuple[str, int, int]) -> None:
    text, added, leaves = doc
    with mock.patch.object(yaml_store, "MAX_EXPANSION", 5_000):  # small, to keep each example fast
        try:
            (branch,) = yaml_store.parse_yaml(text.encode(), "t.yaml")
        except DendriteError as exc:
            assert added > 5_000 and "t.yaml" in exc.message and "aliases expand" in exc.message
        else:
            assert added <= 5_000
            plain = to_plain(branch)
            assert _leaves(plain[f"a{len(plain) - 1}"]) == leaves
