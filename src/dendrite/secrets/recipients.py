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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.names import Kind, is_valid
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


class Resolver:
    def __init__(self, layout: Layout, overlay: Overlay | None = None) -> None:
        self.layout = layout
        self.fs = layout.fs
        self.overlay = overlay or Overlay()
        self._keys: dict[Path, tuple[list[SopsKey], str | None]] = {}
        self._groups: dict[str, Collected] = {}
        self._exist: dict[tuple[str, str], bool] = {}

    def listing(self, directory: Path, out_problems: list[LinkProblem] | None = None) -> dict[str, str]:
        """name -> 'link' (or the entry's kind) in a member directory, with planned changes applied.

        A symlink or file where the directory of member links belongs is a problem, never listed through.
        """
        kind = self.fs.kind(directory)
        if kind not in (None, "dir"):
            if out_problems is not None:
                what = "a symbolic link" if kind == "link" else f"a {kind}"
                out_problems.append(
                    LinkProblem(directory, f"is {what} where a directory of member links belongs")
                )
            return {}
        out = {e.name: e.kind for e in self.fs.entries(directory)}
        for link, target in self.overlay.links.items():
            if link.parent == directory:
                if target is None:
                    out.pop(link.name, None)
                else:
                    out[link.name] = "link"
        return dict(sorted(out.items()))

    def _target(self, link: Path) -> str:
        if link in self.overlay.links:
            planned = self.overlay.links[link]
            assert planned is not None
            return planned
        return self.fs.readlink(link)

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
        if entry_kind != "link":
            return "is not a symlink (clan links members with relative symlinks)"
        try:
            target = self._target(link)
        except OSError as exc:
            return f"cannot be read ({exc.strerror})"
        name = link.name
        if not is_valid(_SINGLE[kind], name):
            return f"points to {target}; {name!r} is not a valid {_SINGLE[kind]} name (a misplaced link)"
        if target != expected_target(self.layout, link, kind, name):
            base = os.path.basename(os.path.normpath(target))
            if base != name and target.endswith(f"/{kind}/{base}"):
                return f"is named {name!r} but points to {base!r}"
            return f"points to {target}, not to sops/{kind}/{name} (a misplaced link)"
        if not self._exists(kind, name):
            return f"is a broken link to {target}"
        return None

    def _member_keys(self, kind: str, name: str) -> tuple[list[SopsKey], str | None]:
        d = self.layout.member_dir(kind, name)
        if d not in self._keys:
            if d in self.overlay.keys:
                self._keys[d] = (list(self.overlay.keys[d]), None)
            else:
                try:
                    self._keys[d] = (read_keys(d / "key.json", self.fs), None)
                except DendriteError as exc:
                    self._keys[d] = ([], exc.message)
        return self._keys[d]

    def _members(self, directory: Path, out: Collected, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            base = directory / kind
            for name, entry_kind in self.listing(base, out.problems).items():
                link = base / name
                problem = self.check_link(link, kind, entry_kind)
                if problem is not None:
                    out.problems.append(LinkProblem(link, problem))
                    continue
                getattr(out, kind).add(name)
                keys, error = self._member_keys(kind, name)
                out.keys.update(keys)
                if error:  # worded as the other link problems: "<link> <reason>"
                    reason = f"leads to a member whose key cannot be read: {error}"
                    out.problems.append(LinkProblem(link, reason, removable=False))

    def group(self, name: str) -> Collected:
        if name not in self._groups:
            got = Collected()
            self._members(self.layout.group(name), got, ("users", "machines"))
            self._groups[name] = got
        return self._groups[name]

    def collect(self, ref: SecretRef) -> Collected:
        out = Collected()
        self._members(ref.path, out, ("users", "machines"))
        base = ref.path / "groups"
        for name, entry_kind in self.listing(base, out.problems).items():
            link = base / name
            problem = self.check_link(link, "groups", entry_kind)
            if problem is not None:
                out.problems.append(LinkProblem(link, problem))
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
