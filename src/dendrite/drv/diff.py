"""Two derivation graphs compared from their roots in step, as nix-diff does, reporting what differs.

Why in step: a derivation whose path is the same on both sides is the same derivation with the same
closure, so its subgraph is skipped unread; only the chains of derivations that differ are read. At a
pair that differs, the strings of both sides are normalised before they are compared: the paths of
the derivation's own outputs, of the outputs of inputs that differ, and of input sources with the
same name become placeholders (`<out:dev>`, `<etc:out>`, `<src:motd>`). What is still different
after that is a change of this derivation itself; a derivation with none differs only because an
input differs, and is shown only as a step on the way (nix-diff's collapse of such parents).

The flake source itself (the `/nix/store/<hash>-source` a flake is evaluated from) changes with every
edit of any file in the repository. Store paths given as a side's `sources` become `<source>`, and a
graph whose only differences are such moves is "same system, sources moved" rather than a change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from dendrite.drv import sourcefiles
from dendrite.drv.aterm import Derivation
from dendrite.drv.store import DrvReader, store_name

LONG = 80  # an env value longer than this (or with a newline) is shown as a unified diff
DIFF_LINES = 24  # lines of a value's diff kept: the start of a change says what it is


class Verdict(Enum):
    IDENTICAL = "identical"
    SOURCES_MOVED = "same system, sources moved"
    DIFFERENT = "different"


@dataclass(frozen=True)
class EnvChange:
    key: str
    old: str | None  # None: the variable is new
    new: str | None  # None: the variable was removed
    diff: tuple[str, ...] = ()  # a unified diff of the two values when they are long

    def to_json(self) -> dict[str, Any]:
        if self.diff:
            return {"key": self.key, "diff": list(self.diff)}
        return {"key": self.key, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class FieldChange:
    field: str  # "builder", "system", "args", "outputs", "inputs of <name>"
    old: str
    new: str


@dataclass(frozen=True)
class DrvDiff:
    """One pair of derivations that differ, and the pairs of their inputs that differ."""

    old: str
    new: str
    path: tuple[str, ...]  # derivation names from the root to here: where it sits in the system
    fields: tuple[FieldChange, ...] = ()
    env: tuple[EnvChange, ...] = ()
    srcs_added: tuple[str, ...] = ()
    srcs_removed: tuple[str, ...] = ()
    srcs_changed: tuple[tuple[str, str], ...] = ()  # same name, different contents
    srcs_moved: tuple[tuple[str, str], ...] = ()  # the flake source itself, now at another store path
    drvs_added: tuple[str, ...] = ()
    drvs_removed: tuple[str, ...] = ()
    children: tuple[DrvDiff, ...] = ()

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def changed(self) -> bool:
        """A change of this derivation itself, not one it inherits from an input or a moved source."""
        return bool(
            self.fields
            or self.env
            or self.srcs_added
            or self.srcs_removed
            or self.srcs_changed
            or self.drvs_added
            or self.drvs_removed
        )

    def walk(self) -> Iterator[DrvDiff]:
        """Every pair once, depth first: in a DAG a pair below many parents would otherwise be
        reached once per path, and the paths grow exponentially with the depth."""
        seen: set[tuple[str, str]] = set()
        stack = [self]
        while stack:
            d = stack.pop()
            if (d.old, d.new) in seen:
                continue
            seen.add((d.old, d.new))
            yield d
            stack.extend(reversed(d.children))

    @property
    def key(self) -> tuple[str, str]:
        return self.old, self.new

    def _local_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "path": list(self.path), "old": self.old, "new": self.new}
        if self.fields:
            out["fields"] = [{"field": f.field, "old": f.old, "new": f.new} for f in self.fields]
        if self.env:
            out["env"] = [e.to_json() for e in self.env]
        for key, value in (
            ("inputSrcsAdded", self.srcs_added),
            ("inputSrcsRemoved", self.srcs_removed),
            ("inputDrvsAdded", self.drvs_added),
            ("inputDrvsRemoved", self.drvs_removed),
        ):
            if value:
                out[key] = list(value)
        if self.srcs_changed:
            out["inputSrcsChanged"] = [{"old": a, "new": b} for a, b in self.srcs_changed]
        if self.srcs_moved:
            out["sourcesMoved"] = [{"old": a, "new": b} for a, b in self.srcs_moved]
        return out

    def to_json(self) -> dict[str, Any]:
        """The tree, as nix-diff shows it: a derivation that differs only because its one differing
        input does is left out (its input's `path` still names it), and a pair reached from several
        parents is given in full once, below the first, and named with `"shownAbove": true` after.

        Built without recursion, children first: a chain of thousands of derivations is no problem.
        """
        owner: dict[tuple[str, str], tuple[str, str] | None] = {}  # who shows a pair in full
        order: list[DrvDiff] = []
        stack: list[tuple[DrvDiff, tuple[str, str] | None]] = [(self, None)]
        while stack:  # pre-order, as walk(): the first parent to reach a pair owns it
            d, parent = stack.pop()
            if d.key in owner:
                continue
            owner[d.key] = parent
            order.append(d)
            stack.extend((c, d.key) for c in reversed(d.children))
        done: dict[tuple[str, str], dict[str, Any]] = {}
        for d in reversed(order):  # an owned child comes after its owner in pre-order
            out = d._local_json()
            inputs = [
                done[c.key] if owner[c.key] == d.key else {**c._local_json_head(), "shownAbove": True}
                for c in d.children
            ]
            if d is not self and len(inputs) == 1 and not d.changed and not d.srcs_moved:
                done[d.key] = inputs[0]  # only passing a change up: collapsed
                continue
            if inputs:
                out["inputs"] = inputs
            done[d.key] = out
        return done[self.key]

    def _local_json_head(self) -> dict[str, Any]:
        return {"name": self.name, "path": list(self.path), "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Comparison:
    old: str
    new: str
    root: DrvDiff | None  # None when the two paths are the same

    @property
    def verdict(self) -> Verdict:
        if self.root is None:
            return Verdict.IDENTICAL
        return Verdict.DIFFERENT if self.differences else Verdict.SOURCES_MOVED

    @property
    def differences(self) -> list[DrvDiff]:
        """The first derivations that changed themselves, each with its path from the root."""
        if self.root is None:
            return []
        return [d for d in self.root.walk() if d.changed]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "old": self.old,
            "new": self.new,
            "differences": len(self.differences),
            "tree": self.root.to_json() if self.root is not None else None,
        }


def _drv_name(path: str) -> str:
    return store_name(path).removesuffix(".drv")


def _pair(old: list[str], new: list[str]) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Pairs of paths by name (the same path first, then in order); the rest are removed and added."""
    by_name: dict[str, tuple[list[str], list[str]]] = {}
    for side, paths in ((0, old), (1, new)):
        for p in sorted(paths):
            by_name.setdefault(store_name(p), ([], []))[side].append(p)
    pairs: list[tuple[str, str]] = []
    removed: list[str] = []
    added: list[str] = []
    for a, b in by_name.values():
        same = sorted(set(a) & set(b))
        pairs += [(p, p) for p in same]
        a2 = [p for p in a if p not in same]
        b2 = [p for p in b if p not in same]
        pairs += list(zip(a2, b2, strict=False))
        removed += a2[len(b2) :]
        added += b2[len(a2) :]
    return pairs, removed, added


@dataclass
class Differ:
    """Compares derivation graphs; shares one reader (and its cache) across the hosts of a run."""

    reader: DrvReader = field(default_factory=DrvReader)
    old_sources: frozenset[str] = frozenset()
    new_sources: frozenset[str] = frozenset()

    def compare(self, old: str, new: str) -> Comparison:
        return Comparison(old, new, None if old == new else self._tree(old, new))

    def _tree(self, old: str, new: str) -> DrvDiff:
        """Every differing pair reachable from the roots, each compared once, without recursion.

        Why no recursion: a chain of derivations can be thousands deep (Python stops at 1,000). Pairs
        are compared depth first; a pair is finished (its children built) when its marker comes back
        off the stack, which in a DAG happens after all its children are finished.
        """
        local: dict[tuple[str, str], tuple[DrvDiff, list[tuple[str, str]]]] = {}
        finished: list[tuple[str, str]] = []
        stack: list[tuple[tuple[str, str], tuple[str, ...], bool]] = [((old, new), (_drv_name(new),), False)]
        while stack:
            key, path, marker = stack.pop()
            if marker:
                finished.append(key)
                continue
            if key in local:
                continue
            node, child_keys = self._diff(key[0], key[1], path)
            local[key] = (node, child_keys)
            stack.append((key, path, True))
            stack.extend((c, (*path, _drv_name(c[1])), False) for c in reversed(child_keys) if c not in local)
        built: dict[tuple[str, str], DrvDiff] = {}
        for key in finished:
            node, child_keys = local[key]
            built[key] = replace(node, children=tuple(built[c] for c in child_keys))
        return built[(old, new)]

    def _diff(
        self, old_path: str, new_path: str, path: tuple[str, ...]
    ) -> tuple[DrvDiff, list[tuple[str, str]]]:
        """The pair's own differences (children left empty), and the differing input pairs below it."""
        a, b = self.reader.read(old_path), self.reader.read(new_path)
        subst_a: dict[str, str] = {s: "<source>" for s in self.old_sources}
        subst_b: dict[str, str] = {s: "<source>" for s in self.new_sources}
        for drv, subst in ((a, subst_a), (b, subst_b)):
            for o in drv.outputs:
                subst[o.path] = f"<out:{o.name}>"
        pairs, removed, added = _pair([p for p, _ in a.input_drvs], [p for p, _ in b.input_drvs])
        children: list[tuple[str, str]] = []
        fields: list[FieldChange] = []
        outs_a, outs_b = dict(a.input_drvs), dict(b.input_drvs)
        for pa, pb in pairs:
            if outs_a[pa] != outs_b[pb]:
                fields.append(
                    FieldChange(
                        f"outputs used of {_drv_name(pb)}", " ".join(outs_a[pa]), " ".join(outs_b[pb])
                    )
                )
            if pa == pb:
                continue
            label = _drv_name(pb)
            for subst, p in ((subst_a, pa), (subst_b, pb)):
                for o in self.reader.read(p).outputs:
                    subst[o.path] = f"<{label}:{o.name}>"
            children.append((pa, pb))
        srcs = _sources(a, b, subst_a, subst_b, self.old_sources, self.new_sources)
        fields += _fields(a, b, _normaliser(subst_a), _normaliser(subst_b))
        for sa, sb in srcs.moved:
            fields += _moved_files(a, b, sa, sb)
        node = DrvDiff(
            old_path,
            new_path,
            path,
            fields=tuple(fields),
            env=tuple(_env(a, b, _normaliser(subst_a), _normaliser(subst_b))),
            srcs_added=srcs.added,
            srcs_removed=srcs.removed,
            srcs_changed=srcs.changed,
            srcs_moved=srcs.moved,
            drvs_added=tuple(added),
            drvs_removed=tuple(removed),
        )
        return node, children


@dataclass(frozen=True)
class _Srcs:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, str], ...]
    moved: tuple[tuple[str, str], ...]


def _sources(
    a: Derivation,
    b: Derivation,
    subst_a: dict[str, str],
    subst_b: dict[str, str],
    old_sources: frozenset[str],
    new_sources: frozenset[str],
) -> _Srcs:
    """Input sources paired by name; the flake's own source counts as moved, any other as changed."""
    own_a = [s for s in a.input_srcs if s in old_sources]
    own_b = [s for s in b.input_srcs if s in new_sources]
    moved = tuple(zip(own_a, own_b, strict=False)) if own_a != own_b else ()
    rest_a = [s for s in a.input_srcs if s not in old_sources]
    rest_b = [s for s in b.input_srcs if s not in new_sources]
    pairs, removed, added = _pair(rest_a, rest_b)
    changed = []
    for pa, pb in pairs:
        if pa != pb:
            changed.append((pa, pb))
            subst_a[pa] = subst_b[pb] = f"<src:{store_name(pb)}>"  # reported once here, not in every string
    removed += own_a[len(own_b) :]
    added += own_b[len(own_a) :]
    return _Srcs(tuple(added), tuple(removed), tuple(changed), moved)


_STORE_PATH = re.compile(r"/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]*")


def _strings(drv: Derivation) -> list[str]:
    return [drv.builder, *drv.args, *(v for _, v in drv.env)]


def _moved_files(a: Derivation, b: Derivation, sa: str, sb: str) -> list[FieldChange]:
    """The files of the moved flake source that both sides name, where their contents differ."""
    found = []
    for sub in sorted(sourcefiles.referenced(_strings(a), sa) & sourcefiles.referenced(_strings(b), sb)):
        old = sourcefiles.describe(Path(sa) / sub, Path(sa))
        new = sourcefiles.describe(Path(sb) / sub, Path(sb))
        if old is None or new is None or old != new:
            found.append(
                FieldChange(f"file {sub} of the flake source", old or "not readable", new or "not readable")
            )
    return found


def _normaliser(subst: dict[str, str]) -> Callable[[str], str]:
    def norm(s: str) -> str:
        if "/nix/store/" not in s:
            return s
        return _STORE_PATH.sub(lambda m: subst.get(m.group(0), m.group(0)), s)

    return norm


def _fields(
    a: Derivation, b: Derivation, na: Callable[[str], str], nb: Callable[[str], str]
) -> list[FieldChange]:
    found = []
    for name, x, y in (
        ("system", a.system, b.system),
        ("builder", na(a.builder), nb(b.builder)),
        ("args", " ".join(na(s) for s in a.args), " ".join(nb(s) for s in b.args)),
        (
            "outputs",
            " ".join(f"{o.name}{':' + o.hash_algo + ':' + o.hash if o.hash else ''}" for o in a.outputs),
            " ".join(f"{o.name}{':' + o.hash_algo + ':' + o.hash if o.hash else ''}" for o in b.outputs),
        ),
    ):
        if x != y:
            found.append(FieldChange(name, x, y))
    return found


def _env(a: Derivation, b: Derivation, na: Callable[[str], str], nb: Callable[[str], str]) -> list[EnvChange]:
    ea, eb = _own_env(a), _own_env(b)
    found = []
    for key in sorted(ea.keys() | eb.keys()):
        x = na(ea[key]) if key in ea else None
        y = nb(eb[key]) if key in eb else None
        if x == y:
            continue
        if x is not None and y is not None and (len(x) > LONG or len(y) > LONG or "\n" in x + y):
            found.append(EnvChange(key, x, y, text_diff(x, y)))
        else:
            found.append(EnvChange(key, x, y))
    return found


def _own_env(drv: Derivation) -> dict[str, str]:
    """The environment without the variables Nix copies from fields already compared as fields."""
    env = drv.env_map
    mirrors = {"builder": drv.builder, "system": drv.system, "outputs": " ".join(o.name for o in drv.outputs)}
    return {k: v for k, v in env.items() if mirrors.get(k) != v}


def text_diff(old: str, new: str) -> tuple[str, ...]:
    """A short unified diff of two long values; one line per JSON-ish item when the value is one line."""
    split = (lambda s: s.splitlines()) if "\n" in old + new else _one_line_items
    lines = list(difflib.unified_diff(split(old), split(new), "old", "new", n=1, lineterm=""))[2:]
    if len(lines) > DIFF_LINES:
        lines = [*lines[:DIFF_LINES], f"... {len(lines) - DIFF_LINES} more lines"]
    return tuple(lines)


def _one_line_items(s: str) -> list[str]:
    """A long single line cut where its items end (`,` `;` and spaces), so the diff points at one item."""
    return [p for p in re.split(r"(?<=[,;])|\s+", s) if p]
