"""The filesystem door (`dendrite.repofs`, `dendrite.fsutil`) and the name rules, attacked directly."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dendrite import names
from dendrite.errors import NameError_, UnsafePathError
from dendrite.fsutil import PendingWrite, append_private, atomic_write_many, repo_lock, state_dir
from dendrite.repofs import Node, RepoFS
from tests.hostile.conftest import Sentinel


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    return r


def test_symlinked_directory_on_the_way_is_refused_for_every_operation(
    repo: Path, sentinel: Sentinel
) -> None:
    (repo / "vars").symlink_to(sentinel.victim_dir)
    fs = RepoFS(repo)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        fs.read_bytes(repo / "vars" / "data.txt")
    with pytest.raises(UnsafePathError):
        fs.write_bytes(repo / "vars" / "new.txt", b"x")
    with pytest.raises(UnsafePathError):
        fs.remove_tree(repo / "vars" / "tmp")
    with pytest.raises(UnsafePathError):
        fs.unlink(repo / "vars" / "data.txt")
    with pytest.raises(UnsafePathError):
        fs.link_to(repo / "vars" / "l", repo / "x")
    assert fs.kind(repo / "vars") == "link"
    assert not fs.is_dir(repo / "vars")


def test_symlinked_file_is_not_read_and_is_replaced_not_written_through(
    repo: Path, sentinel: Sentinel
) -> None:
    (repo / "value").symlink_to(sentinel.private_key)
    fs = RepoFS(repo)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        fs.read_bytes("value")
    fs.write_bytes("value", b"new")  # the rename replaces the link itself
    assert (repo / "value").read_bytes() == b"new" and not (repo / "value").is_symlink()


def test_a_fifo_is_refused_without_blocking(repo: Path) -> None:
    os.mkfifo(repo / "key.json")
    result: list[BaseException] = []

    def read() -> None:
        try:
            RepoFS(repo).read_bytes("key.json")
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive(), "reading a FIFO blocked"
    assert isinstance(result[0], UnsafePathError) and "FIFO" in str(result[0])


def test_size_cap(repo: Path) -> None:
    (repo / "big").write_bytes(b"x" * 2000)
    with pytest.raises(UnsafePathError, match="over dendrite's limit of 1000 bytes"):
        RepoFS(repo).read_bytes("big", limit=1000)
    assert RepoFS(repo).read_bytes("big", limit=2000) == b"x" * 2000


def test_paths_outside_the_root_are_refused(repo: Path, tmp_path: Path) -> None:
    fs = RepoFS(repo)
    with pytest.raises(UnsafePathError, match="outside"):
        fs.read_bytes(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError, match="leaves"):
        fs.write_bytes("a/../../x", b"x")


def test_modes_are_explicit_whatever_the_umask(repo: Path) -> None:
    old = os.umask(0)
    try:
        fs = RepoFS(repo)
        fs.write_bytes("d/e/f", b"x")
        fs.write_bytes("p/secret", b"x", 0o600, dir_mode=0o700)
    finally:
        os.umask(old)
    assert stat.S_IMODE((repo / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((repo / "d/e/f").stat().st_mode) == 0o644
    assert stat.S_IMODE((repo / "p").stat().st_mode) == 0o700
    assert stat.S_IMODE((repo / "p/secret").stat().st_mode) == 0o600


def test_remove_tree_removes_links_not_their_targets(repo: Path, sentinel: Sentinel) -> None:
    d = repo / "per-machine" / "m"
    d.mkdir(parents=True)
    (d / "escape").symlink_to(sentinel.victim_dir)
    (d / "file").write_text("x")
    RepoFS(repo).remove_tree(d)
    assert not d.exists()


def test_dendrite_state_dir_as_a_symlink_is_refused_and_nothing_outside_is_emptied(
    repo: Path, sentinel: Sentinel
) -> None:
    (repo / ".dendrite").symlink_to(sentinel.victim_dir)
    with pytest.raises(UnsafePathError, match="not a directory"), repo_lock(repo):
        pass
    assert (sentinel.victim_dir / "tmp" / "keep.txt").exists()


def test_dendrite_state_dir_is_made_private(repo: Path) -> None:
    (repo / ".dendrite").mkdir(mode=0o777)
    os.chmod(repo / ".dendrite", 0o777)
    state_dir(repo)
    assert stat.S_IMODE((repo / ".dendrite").stat().st_mode) == 0o700


def test_planted_spares_never_write_through(repo: Path, sentinel: Sentinel) -> None:
    target = repo / "sops" / "secrets" / "x" / "secret"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    spares = repo / ".dendrite" / "spares"
    spares.mkdir(parents=True, mode=0o700)
    os.chmod(repo / ".dendrite", 0o700)
    (spares / "spare-000").symlink_to(sentinel.authorized_keys)
    with repo_lock(repo) as scratch:
        atomic_write_many([PendingWrite(target, b"new")], scratch)
    assert target.read_bytes() == b"new" and not target.is_symlink()


def test_planted_hard_link_spare_is_replaced(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside-file"
    outside.write_bytes(b"keep")
    target = repo / "secret"
    target.write_bytes(b"old")
    spares = repo / ".dendrite" / "spares"
    spares.mkdir(parents=True, mode=0o700)
    os.link(outside, spares / "spare-000")
    with repo_lock(repo) as scratch:
        atomic_write_many([PendingWrite(target, b"new")], scratch)
    assert outside.read_bytes() == b"keep"
    assert target.read_bytes() == b"new"


def test_a_symlinked_target_is_refused_before_any_write(repo: Path, sentinel: Sentinel) -> None:
    a = repo / "a"
    a.write_bytes(b"a-old")
    (repo / "b").symlink_to(sentinel.authorized_keys)
    with pytest.raises(UnsafePathError), repo_lock(repo) as scratch:
        atomic_write_many([PendingWrite(a, b"a-new"), PendingWrite(repo / "b", b"b-new")], scratch)
    assert a.read_bytes() == b"a-old"


def test_a_target_swapped_for_a_link_after_the_callers_check_is_refused_when_replaced(
    repo: Path, sentinel: Sentinel
) -> None:
    """A re-key passes the kinds it saw (`kinds=`); each target is still checked by handle at the swap."""
    a = repo / "a"
    a.write_bytes(b"a-old")
    (repo / "b").symlink_to(sentinel.authorized_keys)  # a regular file when the caller looked
    with pytest.raises(UnsafePathError), repo_lock(repo) as scratch:
        atomic_write_many(
            [PendingWrite(a, b"a-new"), PendingWrite(repo / "b", b"b-new")], scratch, kinds=["file", "file"]
        )
    assert a.read_bytes() == b"a-old"


def test_tree_reads_links_as_text_and_never_lists_through_them(repo: Path, sentinel: Sentinel) -> None:
    """The re-key's one walk of sops/secrets (`RepoFS.tree`): kinds without following, link targets as
    text, a member directory linked out of the store seen as a link, nothing outside listed."""
    s = repo / "sops" / "secrets" / "s"
    (s / "groups").mkdir(parents=True)
    (s / "secret").write_bytes(b"{}")
    (s / "groups" / "admins").symlink_to("../../../groups/admins")
    (s / "users").symlink_to(sentinel.victim_dir)
    os.mkfifo(s / "fifo")
    fs = RepoFS(repo)
    tree = fs.tree(repo / "sops" / "secrets", depth=3)
    assert tree is not None and tree["s"].kind == "dir"
    found = tree["s"].children
    assert found is not None and list(found) == ["fifo", "groups", "secret", "users"]
    assert found["secret"] == Node("file")
    assert found["fifo"] == Node("other")
    assert found["users"] == Node("link", str(sentinel.victim_dir))
    assert found["groups"] == Node("dir", children={"admins": Node("link", "../../../groups/admins")})
    shallow = fs.tree(s)
    assert shallow is not None and shallow["groups"] == Node("dir")  # one level: not read further
    assert fs.tree(repo / "missing") is None
    for through in (s / "users", s / "users" / "tmp"):
        with pytest.raises(UnsafePathError):
            fs.tree(through)


def test_append_private_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    f = tmp_path / "keys.txt"
    f.write_text("# public\n")
    os.chmod(f, 0o644)
    with pytest.raises(UnsafePathError, match="readable by others"):
        append_private(f, b"AGE-SECRET-KEY-1XYZ\n")
    assert f.read_text() == "# public\n"


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("machine", "stibnite\n"),
        ("machine", "\u017ftibnite"),  # long s, equal to 's' under IGNORECASE
        ("machine", "\u212aelvin"),  # Kelvin sign
        ("machine", "-rf"),
        ("secret", "..."),
        ("secret", ".hidden"),
        ("secret", "-rf"),
        ("generator", "../../.."),
        ("file", "a/b"),
        ("prompt", "x\x00"),
        ("user", "root\n"),
        ("instance", "a\tb"),
    ],
)
def test_bad_names_are_refused(kind: names.Kind, name: str) -> None:
    with pytest.raises(NameError_):
        names.check(kind, name)


@given(st.sampled_from(sorted(names.RULES)), st.text(max_size=40))
@settings(max_examples=400, deadline=None)
def test_any_accepted_name_is_one_plain_path_component(kind: str, name: str) -> None:
    try:
        names.check(kind, name)  # type: ignore[arg-type]
    except NameError_:
        return
    assert name.isascii() and name.isprintable()
    assert "/" not in name and name not in (".", "..") and not name.startswith(("-", "."))
    assert Path(name).parts == (name,)


def test_any_lock_holder_rolls_back_a_transaction_a_killed_writer_left(repo: Path) -> None:
    """A secrets command after a killed `vars generate` starts from the state before it, not half of it."""
    from dendrite import undo

    fs = RepoFS(repo)
    fs.write_bytes("vars/shared/ca/key/value", b"old-ca")
    with repo_lock(repo):
        journal = undo._snapshot(fs, ["vars/shared/ca", "vars/per-machine/m/cert"])
        fs.write_bytes(undo.JOURNAL, __import__("json").dumps(journal).encode(), 0o600)
        fs.write_bytes("vars/shared/ca/key/value", b"new-ca")  # half of the batch, then SIGKILL
        fs.write_bytes("vars/per-machine/m/cert/c/value", b"signed-by-new")
    with repo_lock(repo):  # e.g. `secrets groups add-user`
        assert fs.read_bytes("vars/shared/ca/key/value") == b"old-ca"
        assert fs.kind("vars/per-machine") is None
        assert fs.kind(undo.JOURNAL) is None


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways RepoFS resolves a path: one openat2 call, and the component walk older kernels get."""
    from dendrite import repofs

    if request.param == "walk":
        monkeypatch.setattr(repofs, "_HAS_OPENAT2", [False])
    elif not repofs._HAS_OPENAT2[0]:
        pytest.skip("this kernel has no openat2")
    return str(request.param)


def test_both_resolvers_refuse_links_and_escapes_alike(repo: Path, sentinel: Sentinel, resolver: str) -> None:
    fs = RepoFS(repo)
    fs.write_bytes("a/b/c", b"x")
    (repo / "a" / "link").symlink_to(sentinel.victim_dir)
    (repo / "a" / "up").symlink_to("..")
    assert fs.read_bytes("a/b/c") == b"x"
    assert fs.kind("a/b") == "dir" and fs.kind("a/link") == "link"
    for bad in ("a/link/data.txt", "a/up/a/b/c"):
        with pytest.raises(UnsafePathError, match="symbolic link"):
            fs.read_bytes(bad)
    with pytest.raises(UnsafePathError, match="a/link"):
        fs.write_bytes("a/link/new", b"x")
    assert fs.kind("a/missing/x") is None
    fs.write_bytes("a/new/deep/file", b"y")
    assert (repo / "a/new/deep/file").read_bytes() == b"y"


def test_a_batch_of_reads_through_one_root_handle_refuses_links_and_special_files_by_name(
    repo: Path, sentinel: Sentinel
) -> None:
    """`RepoFS.reading` (a re-key's reads, one openat2 each): a link at the file or on the way, a FIFO
    and an oversized file are refused as `read_bytes` refuses them, named; plain files are read whole."""
    (repo / "ok").mkdir()
    (repo / "ok" / "secret").write_bytes(b"x" * 5000)
    (repo / "linked").mkdir()
    (repo / "linked" / "secret").symlink_to(sentinel.private_key)
    (repo / "way").symlink_to(sentinel.victim_dir)
    (repo / "fifo").mkdir()
    os.mkfifo(repo / "fifo" / "secret")
    fs = RepoFS(repo)
    with fs.reading() as read:
        data, st_ = read(repo / "ok" / "secret", 10_000)
        assert data == b"x" * 5000 and stat.S_ISREG(st_.st_mode)
        with pytest.raises(UnsafePathError, match=r"linked/secret .* symbolic link"):
            read(repo / "linked" / "secret", 10_000)
        with pytest.raises(UnsafePathError, match=r"^way .*symbolic link"):
            read("way/secret", 10_000)
        with pytest.raises(UnsafePathError, match="FIFO"):
            read("fifo/secret", 10_000)
        with pytest.raises(UnsafePathError, match="over dendrite's limit"):
            read("ok/secret", 4999)
        with pytest.raises(FileNotFoundError):
            read("ok/missing", 10_000)


def test_a_directory_opened_from_a_held_root_handle_never_crosses_a_link(
    repo: Path, sentinel: Sentinel
) -> None:
    """`RepoFS.open_dir_from` (a batch's writes): a link on the way is refused and named, as by the walk."""
    (repo / "a" / "b").mkdir(parents=True)
    (repo / "a" / "l").symlink_to(sentinel.victim_dir)
    fs = RepoFS(repo)
    with fs.root_handle() as root:
        fd = fs.open_dir_from(root, ("a", "b"))
        try:
            assert os.path.samestat(os.fstat(fd), os.stat(repo / "a" / "b"))
        finally:
            os.close(fd)
        with pytest.raises(UnsafePathError, match=r"a/l .*symbolic link"):
            fs.open_dir_from(root, ("a", "l"))
        with pytest.raises(FileNotFoundError):
            fs.open_dir_from(root, ("a", "missing"))
