"""Who a secret should be encrypted to, derived from its member symlinks (clan's collect_keys_for_path).

A re-key of a thousand secrets resolves the same few users, machines and groups a thousand times, so
one `Resolver` caches what each member directory and group yields for the length of one operation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.secrets.keys import SopsKey, read_keys
from dendrite.secrets.layout import Layout, SecretRef


@dataclass(frozen=True)
class LinkProblem:
    link: Path
    reason: str


@dataclass
class Collected:
    keys: set[SopsKey] = field(default_factory=set)
    problems: list[LinkProblem] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    machines: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


def _entries(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


class Resolver:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._expected = {
            kind: os.path.normpath(os.path.realpath(layout.sops / kind))
            for kind in ("users", "machines", "groups")
        }
        self._keys: dict[str, tuple[list[SopsKey], str | None]] = {}
        self._groups: dict[str, Collected] = {}

    def _resolve(self, link: str, kind: str) -> tuple[str | None, str | None]:
        """The member directory a link points to, or why it does not count."""
        try:
            target_text = os.readlink(link)
        except OSError:
            return None, "is not a symlink (clan links members with relative symlinks)"
        target = os.path.normpath(os.path.join(os.path.dirname(link), target_text))
        if not os.path.exists(target):
            return None, f"is a broken link to {target_text}"
        parent = os.path.dirname(target)
        if parent != self._expected[kind] and os.path.realpath(parent) != self._expected[kind]:
            return None, f"points to {target_text}, outside sops/{kind}/ (a misplaced link)"
        if os.path.basename(target) != os.path.basename(link):
            return None, f"is named {os.path.basename(link)!r} but points to {os.path.basename(target)!r}"
        return target, None

    def _member_keys(self, member: str) -> tuple[list[SopsKey], str | None]:
        if member not in self._keys:
            try:
                self._keys[member] = (read_keys(Path(member) / "key.json"), None)
            except DendriteError as exc:
                self._keys[member] = ([], exc.message)
        return self._keys[member]

    def _members(self, directory: str, out: Collected, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            base = os.path.join(directory, kind)
            for name in _entries(base):
                link = os.path.join(base, name)
                target, problem = self._resolve(link, kind)
                if target is None:
                    out.problems.append(LinkProblem(Path(link), problem or "invalid"))
                    continue
                getattr(out, kind).add(os.path.basename(target))
                keys, error = self._member_keys(target)
                out.keys.update(keys)
                if error:
                    out.problems.append(LinkProblem(Path(link), error))

    def _group(self, group_dir: str) -> Collected:
        if group_dir not in self._groups:
            got = Collected()
            self._members(group_dir, got, ("users", "machines"))
            self._groups[group_dir] = got
        return self._groups[group_dir]

    def collect(self, ref: SecretRef) -> Collected:
        out = Collected()
        path = str(ref.path)
        self._members(path, out, ("users", "machines"))
        base = os.path.join(path, "groups")
        for name in _entries(base):
            link = os.path.join(base, name)
            group, problem = self._resolve(link, "groups")
            if group is None:
                out.problems.append(LinkProblem(Path(link), problem or "invalid"))
                continue
            out.groups.add(os.path.basename(group))
            g = self._group(group)
            out.keys |= g.keys
            out.users |= g.users
            out.machines |= g.machines
            out.problems += g.problems
        return out


def collect(ref: SecretRef, layout: Layout) -> Collected:
    return Resolver(layout).collect(ref)
