"""Who a secret should be encrypted to, derived from its member symlinks (clan's collect_keys_for_path).

A member link is never followed: it is read with `readlink` and must say exactly what clan writes,
the relative path from its directory to `sops/<kind>/<name>` with `<name>` its own name. Anything else
(a link out of the store, to another kind, a file planted where a link belongs) is a problem that
`secrets check` reports and `secrets fix` removes. The member's key.json is then read at the path
dendrite computed, through the repository door, so a planted link can never make dendrite read or
encrypt to a key from outside the store.

A re-key of a thousand secrets resolves the same few users, machines and groups a thousand times, so
one `Resolver` caches what each member directory and group yields for the length of one operation.
An `Overlay` lets the store ask "who would read each secret after this change?" before changing
anything: planned link additions and removals and planned key.json contents are seen as if applied.
What the disk holds is read once into a `Snapshot`, which the resolvers of one operation share (the
store compares every secret before and after a change: the same directories, read once).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.names import Kind, is_valid
from dendrite.repofs import Node, RepoFS
from dendrite.secrets.keys import SopsKey, read_keys
from dendrite.secrets.layout import Layout, SecretRef

_SINGLE: dict[str, Kind] = {"users": "user", "machines": "machine", "groups": "group"}


@dataclass(frozen=True)
class LinkProblem:
    link: Path
    reason: str
    removable: bool = True  # a bad link (fix removes it), not a bad key.json behind a good link


@dataclass
class Collected:
    keys: set[SopsKey] = field(default_factory=set)
    problems: list[LinkProblem] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    machines: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


@dataclass
class Overlay:
    """Planned changes, seen by a Resolver as if made: links (None: removed) and key.json contents."""

    links: dict[Path, str | None] = field(default_factory=dict)
    keys: dict[Path, list[SopsKey]] = field(default_factory=dict)  # member dir -> its new key.json
    made: set[Path] = field(default_factory=set)  # member directories (groups) that will exist
    gone: set[Path] = field(default_factory=set)  # member directories that will be removed


def expected_target(layout: Layout, link: Path, kind: str, name: str) -> str:
    """The relative target clan writes for a member link at `link` to `sops/<kind>/<name>`."""
    fs = layout.fs
    member, here = fs.parts(layout.member_dir(kind, name)), fs.parts(link.parent)
    common = 0  # os.path.relpath on the component tuples, without its abspath and normpath passes
    while common < min(len(member), len(here)) and member[common] == here[common]:
        common += 1
    return "/".join([".."] * (len(here) - common) + list(member[common:])) or "."


class Snapshot:
    """The member directories of secrets and groups as they are on disk, each read once.

    A member directory (`<holder>/users`, `/machines`, `/groups`, where the holder is a secret's or a
    group's directory) is read with its siblings: the holder is read two levels deep through one
    handle (`RepoFS.tree`), link targets included, never following a link. Valid for one operation,
    under the repository lock.
    """

    def __init__(self, fs: RepoFS) -> None:
        self.fs = fs
        self._holders: dict[Path, dict[str, Node] | None] = {}
        self._parts: dict[Path, tuple[str, ...]] = {}  # a holder's components below the root

    def preload(self, base: Path) -> dict[str, Node]:
        """Read every holder directly below `base` (`sops/secrets`) in one walk; returns `base`'s tree."""
        found = self.fs.tree(base, depth=3) or {}
        here = self.fs.parts(base)
        for name, node in found.items():
            if node.kind == "dir":
                holder = base / name
                self._holders[holder] = node.children or {}
                self._parts[holder] = (*here, name)
        return found

    def adopt(self, holders: Iterable[Path]) -> None:
        """Key what `preload` read by the caller's own path objects (its secrets' directories).

        Why: a dictionary finds the very object it holds without comparing paths; a re-key looks each
        holder up eight times, and comparing equal but distinct paths was a tenth of its walk.
        """
        for holder in holders:
            if holder in self._holders:
                self._holders[holder] = self._holders.pop(holder)
                self._parts[holder] = self._parts.pop(holder)

    def parts(self, holder: Path) -> tuple[str, ...]:
        """`RepoFS.parts` of a holder, known from the walk for those `preload` read."""
        found = self._parts.get(holder)
        if found is None:
            found = self._parts[holder] = self.fs.parts(holder)
        return found

    def members(self, holder: Path, kind: str) -> tuple[str | None, dict[str, Node]]:
        """(what `<holder>/<kind>` is, None when absent; its entries when it is a directory)."""
        try:
            found = self._holders[holder]
        except KeyError:
            found = self._holders[holder] = self.fs.tree(holder, depth=2)
        node = found.get(kind) if found is not None else None
        if node is None:
            return None, {}
        return node.kind, node.children or {}

    def readlink(self, holder: Path, kind: str, name: str) -> str:
        node = self.members(holder, kind)[1].get(name)
        if node is not None and node.target is not None:
            return node.target
        return self.fs.readlink(holder / kind / name)  # not read as a link: asked (and refused) by path


class Resolver:
    """Who reads each secret, from its links (with `overlay`: as if the planned change were made).

    Internally a member link is named by (holder, kind, name) rather than a Path: a re-key resolves
    thousands of links twice, and building their paths was most of its time. Paths are made for
    problems only.
    """

    def __init__(
        self, layout: Layout, overlay: Overlay | None = None, snapshot: Snapshot | None = None
    ) -> None:
        self.layout = layout
        self.fs = layout.fs
        self.overlay = overlay or Overlay()
        self.snapshot = snapshot or Snapshot(self.fs)
        self._planned: dict[tuple[Path, str], dict[str, str | None]] = {}  # (holder, kind) -> changes
        for link, target in self.overlay.links.items():
            self._planned.setdefault((link.parent.parent, link.parent.name), {})[link.name] = target
        self._sops = self.fs.parts(layout.sops)
        self._valid: dict[tuple[str, str], bool] = {}
        self._keys: dict[tuple[str, str], tuple[list[SopsKey], str | None]] = {}
        self._groups: dict[str, Collected] = {}
        self._exist: dict[tuple[str, str], bool] = {}

    def listing(self, directory: Path, out_problems: list[LinkProblem] | None = None) -> dict[str, str]:
        """name -> 'link' (or the entry's kind) in a member directory, with planned changes applied.

        A symlink or file where the directory of member links belongs is a problem, never listed through.
        """
        return self._listing(directory.parent, directory.name, out_problems)

    def _listing(self, holder: Path, kind: str, out_problems: list[LinkProblem] | None) -> dict[str, str]:
        what, entries = self.snapshot.members(holder, kind)
        if what not in (None, "dir"):
            if out_problems is not None:
                text = "a symbolic link" if what == "link" else f"a {what}"
                out_problems.append(
                    LinkProblem(holder / kind, f"is {text} where a directory of member links belongs")
                )
            return {}
        out = {name: node.kind for name, node in entries.items()}
        planned = self._planned.get((holder, kind))
        if not planned:
            return out  # read sorted
        for name, target in planned.items():
            if target is None:
                out.pop(name, None)
            else:
                out[name] = "link"
        return dict(sorted(out.items()))

    def _target(self, holder: Path, kind: str, name: str) -> str:
        planned = self._planned.get((holder, kind))
        if planned is not None and name in planned:
            target = planned[name]
            assert target is not None  # a link planned away is not listed, so never asked for
            return target
        return self.snapshot.readlink(holder, kind, name)

    def _expected(self, holder: Path, kind: str, name: str) -> str:
        """`expected_target` for the link `<holder>/<kind>/<name>`, the holder's components shared."""
        here = (*self.snapshot.parts(holder), kind)
        member = (*self._sops, kind, name)
        common = 0
        while common < min(len(member), len(here)) and member[common] == here[common]:
            common += 1
        return "/".join([".."] * (len(here) - common) + list(member[common:])) or "."

    def _exists(self, kind: str, name: str) -> bool:
        """Whether the member a link names is there (after the overlay); asked once per member."""
        if (kind, name) not in self._exist:
            self._exist[(kind, name)] = self._member_present(kind, name)
        return self._exist[(kind, name)]

    def _member_present(self, kind: str, name: str) -> bool:
        d = self.layout.member_dir(kind, name)
        if d in self.overlay.gone:
            return False
        if d in self.overlay.keys or d in self.overlay.made:
            return True
        if kind == "groups":
            return self.fs.is_dir(d)
        return self.fs.is_dir(d) and self.fs.exists(d / "key.json")

    def check_link(self, link: Path, kind: str, entry_kind: str) -> str | None:
        """Why the entry at `link` is not a valid member link of `kind`, or None if it is."""
        return self._check(link.parent.parent, kind, link.name, entry_kind)

    def _check(self, holder: Path, kind: str, name: str, entry_kind: str) -> str | None:
        if entry_kind != "link":
            return "is not a symlink (clan links members with relative symlinks)"
        try:
            target = self._target(holder, kind, name)
        except OSError as exc:
            return f"cannot be read ({exc.strerror})"
        valid = self._valid.get((kind, name))
        if valid is None:
            valid = self._valid[(kind, name)] = is_valid(_SINGLE[kind], name)
        if not valid:
            return f"points to {target}; {name!r} is not a valid {_SINGLE[kind]} name (a misplaced link)"
        if target != self._expected(holder, kind, name):
            base = os.path.basename(os.path.normpath(target))
            if base != name and target.endswith(f"/{kind}/{base}"):
                return f"is named {name!r} but points to {base!r}"
            return f"points to {target}, not to sops/{kind}/{name} (a misplaced link)"
        if not self._exists(kind, name):
            return f"is a broken link to {target}"
        return None

    def _member_keys(self, kind: str, name: str) -> tuple[list[SopsKey], str | None]:
        found = self._keys.get((kind, name))
        if found is None:
            d = self.layout.member_dir(kind, name)
            if d in self.overlay.keys:
                found = (list(self.overlay.keys[d]), None)
            else:
                try:
                    found = (read_keys(d / "key.json", self.fs), None)
                except DendriteError as exc:
                    found = ([], exc.message)
            self._keys[(kind, name)] = found
        return found

    def _members(self, holder: Path, out: Collected, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            for name, entry_kind in self._listing(holder, kind, out.problems).items():
                problem = self._check(holder, kind, name, entry_kind)
                if problem is not None:
                    out.problems.append(LinkProblem(holder / kind / name, problem))
                    continue
                getattr(out, kind).add(name)
                keys, error = self._member_keys(kind, name)
                out.keys.update(keys)
                if error:  # worded as the other link problems: "<link> <reason>"
                    reason = f"leads to a member whose key cannot be read: {error}"
                    out.problems.append(LinkProblem(holder / kind / name, reason, removable=False))

    def group(self, name: str) -> Collected:
        if name not in self._groups:
            got = Collected()
            self._members(self.layout.group(name), got, ("users", "machines"))
            self._groups[name] = got
        return self._groups[name]

    def collect(self, ref: SecretRef) -> Collected:
        out = Collected()
        holder = ref.path
        self._members(holder, out, ("users", "machines"))
        for name, entry_kind in self._listing(holder, "groups", out.problems).items():
            problem = self._check(holder, "groups", name, entry_kind)
            if problem is not None:
                out.problems.append(LinkProblem(holder / "groups" / name, problem))
                continue
            out.groups.add(name)
            g = self.group(name)
            out.keys |= g.keys
            out.users |= g.users
            out.machines |= g.machines
            out.problems += g.problems
        return out


def collect(ref: SecretRef, layout: Layout) -> Collected:
    return Resolver(layout).collect(ref)
