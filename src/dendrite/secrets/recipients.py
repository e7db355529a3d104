"""Who a secret should be encrypted to, derived from its member symlinks (clan's collect_keys_for_path)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dendrite.errors import DendriteError
from dendrite.secrets.keys import SopsKey, read_keys
from dendrite.secrets.layout import Layout, SecretRef, iter_links


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


def _resolve(link: Path, kind: str, layout: Layout) -> tuple[Path | None, str | None]:
    """The member directory a link points to, or why it does not count."""
    if not link.is_symlink():
        return None, "is not a symlink (clan links members with relative symlinks)"
    target = Path(os.path.normpath(link.parent / os.readlink(link)))
    if not target.exists():
        return None, f"is a broken link to {os.readlink(link)}"
    expected = {"users": layout.users(), "machines": layout.machines(), "groups": layout.groups()}[kind]
    if target.parent.resolve() != expected.resolve():
        return None, f"points to {os.readlink(link)}, outside sops/{kind}/ (a misplaced link)"
    if target.name != link.name:
        return None, f"is named {link.name!r} but points to {target.name!r}"
    return target, None


def _member_keys(member: Path, out: Collected, link: Path) -> None:
    try:
        out.keys.update(read_keys(member / "key.json"))
    except DendriteError as exc:
        out.problems.append(LinkProblem(link, exc.message))


def collect(ref: SecretRef, layout: Layout) -> Collected:
    out = Collected()
    for kind in ("users", "machines"):
        for link in iter_links(ref.path / kind):
            target, problem = _resolve(link, kind, layout)
            if target is None:
                out.problems.append(LinkProblem(link, problem or "invalid"))
                continue
            getattr(out, kind).add(target.name)
            _member_keys(target, out, link)
    for link in iter_links(ref.path / "groups"):
        group, problem = _resolve(link, "groups", layout)
        if group is None:
            out.problems.append(LinkProblem(link, problem or "invalid"))
            continue
        out.groups.add(group.name)
        for kind in ("users", "machines"):
            for member_link in iter_links(group / kind):
                target, problem = _resolve(member_link, kind, layout)
                if target is None:
                    out.problems.append(LinkProblem(member_link, problem or "invalid"))
                    continue
                getattr(out, kind).add(target.name)
                _member_keys(target, out, member_link)
    return out
