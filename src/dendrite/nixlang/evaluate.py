"""The literal evaluator: what a Nix expression is, when that is known without running Nix.

It evaluates attribute sets (nested paths merged, `rec`), lists, strings with literal interpolation,
numbers, booleans, null, `let … in`, `inherit`, `//`, `++`, `+`, negation, `if` on a literal
condition, selection with `or`, `?`, paths (as the text written), and a function whose body is
literal, called with `{}` (a module file): its formals' defaults are known, any other argument is not.
Everything else gives a `NotLiteral` marker with the location and the reason, in place of the value;
it never guesses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dendrite.errors import NestedTooDeepError
from dendrite.nixlang import syntax as S
from dendrite.nixlang import tokens as T
from dendrite.nixlang.strings import attr_static_name, string_parts
from dendrite.nixlang.syntax import Node
from dendrite.nixlang.tokens import Token


@dataclass(frozen=True)
class NotLiteral:
    """A value that is not known without evaluating Nix: where, and why."""

    offset: int
    reason: str


# Nested evaluations (an expression inside another, or a variable's value) at one time. Why a cap: a
# hostile file must get a clear error, not Python's RecursionError. Chains of `+`, `++` and `//` are
# folded in a loop and do not count per operand; real modules nest a few dozen levels at most.
MAX_EVAL_DEPTH = 300
_FRAMES_PER_LEVEL = 8  # Python frames one nested evaluation takes at most (a variable through a thunk)


_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}
_AT_USE = -1  # offset of a marker that takes the position of the variable use


class _Thunk:
    __slots__ = ("compute", "state", "value")

    def __init__(self, compute: Callable[[], Any]) -> None:
        self.compute = compute
        self.state = 0  # 0 new, 1 computing, 2 done
        self.value: Any = None

    def force(self, offset: int) -> Any:
        if self.state == 2:
            return self.value
        if self.state == 1:
            return NotLiteral(offset, "infinite recursion")
        self.state = 1
        self.value = self.compute()
        self.state = 2
        return self.value


class _Env:
    __slots__ = ("parent", "vars", "with_")

    def __init__(self, vars: dict[str, _Thunk], parent: _Env | None, with_: bool = False) -> None:
        self.vars = vars
        self.parent = parent
        self.with_ = with_

    def lookup(self, name: str, offset: int) -> Any:
        env: _Env | None = self
        under_with = False
        while env is not None:
            if name in env.vars:
                return env.vars[name].force(offset)
            under_with = under_with or env.with_
            env = env.parent
        if under_with:
            return NotLiteral(offset, f"'{name}' may come from a `with`, which is not evaluated")
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        return NotLiteral(offset, f"'{name}' is not a literal (an argument or a built-in)")


def has_markers(value: Any) -> bool:
    if isinstance(value, NotLiteral):
        return True
    if isinstance(value, dict):
        return any(has_markers(v) for v in value.values())
    if isinstance(value, list):
        return any(has_markers(v) for v in value)
    return False


def markers(value: Any) -> list[NotLiteral]:
    out: list[NotLiteral] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, NotLiteral):
            out.append(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return sorted(out, key=lambda m: m.offset)


class Evaluator:
    def __init__(self, call_functions_with_empty: bool = True, where: Callable[[int], str] = str) -> None:
        self.call = call_functions_with_empty
        self.where = where  # an offset as the user reads it, e.g. file:line:col
        self.depth = 0

    # ------------------------------------------------------------------ entry

    def _thunk(self, node: Node, env: _Env) -> _Thunk:
        return _Thunk(lambda: self.eval(node, env, False))

    def eval(self, node: Node, env: _Env | None = None, top: bool = True) -> Any:
        env = env or _Env({}, None)
        k = node.kind
        method = getattr(self, "_" + k.lower(), None)
        if method is None:
            return NotLiteral(node.start, f"{_describe(node)} is not evaluated")
        if self.depth >= MAX_EVAL_DEPTH:
            raise NestedTooDeepError(
                f"{self.where(node.start)}: expression nested more than {MAX_EVAL_DEPTH} levels deep "
                "for dendrite's literal evaluator",
                hint="nix itself may evaluate it; dendrite reads only shallow literal values",
            )
        self.depth += 1
        try:
            result: Any = method(node, env, top)
        finally:
            self.depth -= 1
        return result

    def _root(self, node: Node, env: _Env, top: bool) -> Any:
        inner = node.nodes()
        if not inner or inner[0].kind == S.ERROR:
            return NotLiteral(node.start, "the file has syntax errors")
        return self.eval(inner[0], env, top)

    def _paren(self, node: Node, env: _Env, top: bool) -> Any:
        return self.eval(node.nodes()[0], env, top)

    def _literal(self, node: Node, env: _Env, top: bool) -> Any:
        tok = node.first_token()
        assert tok is not None
        if tok.kind == T.INT:
            return int(tok.text)
        if tok.kind == T.FLOAT:
            return float(tok.text)
        return tok.text  # a URI is a string

    def _ident(self, node: Node, env: _Env, top: bool) -> Any:
        tok = node.first_token()
        assert tok is not None
        value = env.lookup(tok.text, tok.start)
        if isinstance(value, NotLiteral) and value.offset == _AT_USE:
            return NotLiteral(tok.start, value.reason)  # an argument: point at where it is used
        return value

    def _string(self, node: Node, env: _Env, top: bool) -> Any:
        out = []
        for part in string_parts(node):
            if isinstance(part, str):
                out.append(part)
                continue
            value = (
                self.eval(part.nodes()[0], env, False) if part.nodes() else NotLiteral(part.start, "empty")
            )
            if isinstance(value, NotLiteral):
                return value
            if not isinstance(value, str):
                return NotLiteral(part.start, f"cannot interpolate a {_type(value)} into a string")
            out.append(value)
        return "".join(out)

    _ind_string = _string

    def _path(self, node: Node, env: _Env, top: bool) -> Any:
        if any(isinstance(c, Node) for c in node.children):
            return NotLiteral(node.start, "an interpolated path is not evaluated")
        return node.text()

    def _search_path(self, node: Node, env: _Env, top: bool) -> Any:
        return NotLiteral(node.start, f"{node.text()} depends on NIX_PATH")

    def _list(self, node: Node, env: _Env, top: bool) -> Any:
        return [self.eval(c, env, False) for c in node.nodes()]

    # ------------------------------------------------------------------ attribute sets

    def _attr_set(self, node: Node, env: _Env, top: bool) -> Any:
        recursive = node.token("rec") is not None
        return self._bindings(node, env, recursive)

    def _bindings(self, node: Node, env: _Env, recursive: bool) -> Any:
        result: dict[str, Any] = {}
        scope_vars: dict[str, _Thunk] = {}
        inner = _Env(scope_vars, env) if recursive else env
        for child in node.nodes():
            if child.kind == S.ERROR:
                return NotLiteral(child.start, "syntax error")
            if child.kind == S.INHERIT:
                err = self._inherit(child, env, inner, result, scope_vars)
                if err is not None:
                    return err
                continue
            if child.kind != S.BINDING:
                continue
            parts = child.nodes()
            if len(parts) < 2:
                return NotLiteral(child.start, "incomplete binding")
            names = []
            for attr in (a for a in parts[0].nodes() if a.kind == S.ATTR):
                name: Any = attr_static_name(attr)
                if name is None:
                    name = self._dynamic_name(attr, inner)
                    if isinstance(name, NotLiteral):
                        return name
                names.append(name)
            if any(n is None for n in names):
                continue  # a dynamic name that is null: Nix leaves the attribute out
            value_node = parts[1]
            thunk = self._thunk(value_node, inner)
            err = _insert(result, names, thunk, child.start)
            if err is not None:
                return err
        for name, value in result.items():
            if isinstance(value, _Thunk):
                scope_vars[name] = value
            else:  # a set built from `a.b = …` paths: its members are still thunks
                scope_vars[name] = _lazy_force(value, node.start)
        return _force_all(result, node.start)

    def _dynamic_name(self, attr: Node, env: _Env) -> Any:
        inner = attr.nodes()[0]
        value = self.eval(inner.nodes()[0] if inner.kind == S.INTERPOL else inner, env, False)
        if value is None or isinstance(value, str | NotLiteral):
            return value
        return NotLiteral(attr.start, f"an attribute name must be a string, not a {_type(value)}")

    def _inherit(
        self, node: Node, outer: _Env, inner: _Env, result: dict[str, Any], scope_vars: dict[str, _Thunk]
    ) -> NotLiteral | None:
        origin = node.child(S.INHERIT_FROM)
        source: Any = None
        if origin is not None:
            source = self.eval(origin.nodes()[0], inner, False) if origin.nodes() else None
        for attr in (a for a in node.nodes() if a.kind == S.ATTR):
            name = attr_static_name(attr)
            if name is None:
                return NotLiteral(attr.start, "a dynamic inherit")
            if origin is None:
                value = outer.lookup(name, attr.start)
            elif isinstance(source, dict):
                value = source.get(name, NotLiteral(attr.start, f"attribute '{name}' missing"))
            elif isinstance(source, NotLiteral):
                value = source
            else:
                value = NotLiteral(attr.start, f"cannot inherit from a {_type(source)}")
            result[name] = value
        return None

    def _let_in(self, node: Node, env: _Env, top: bool) -> Any:
        scope_vars: dict[str, _Thunk] = {}
        inner = _Env(scope_vars, env)
        body = None
        for child in node.nodes():
            if child.kind == S.BINDING:
                parts = child.nodes()
                attrs = [a for a in parts[0].nodes() if a.kind == S.ATTR]
                names = [attr_static_name(a) for a in attrs]
                if len(parts) < 2 or any(n is None for n in names):
                    return NotLiteral(child.start, "a binding that is not literal")
                thunk = self._thunk(parts[1], inner)
                if len(names) == 1:
                    scope_vars[names[0]] = thunk  # type: ignore[index]
                else:
                    holder: dict[str, Any] = {}
                    if names[0] in scope_vars:
                        existing = scope_vars[names[0]].force(child.start)
                        holder = dict(existing) if isinstance(existing, dict) else {}
                    err = _insert(holder, names[1:], thunk, child.start)  # type: ignore[arg-type]
                    if err is not None:
                        return err
                    scope_vars[names[0]] = _done(_force_all(holder, child.start))  # type: ignore[index]
            elif child.kind == S.INHERIT:
                tmp: dict[str, Any] = {}
                err = self._inherit(child, env, inner, tmp, scope_vars)
                if err is not None:
                    return err
                for k, v in tmp.items():
                    scope_vars[k] = _done(v)
            elif child.kind == S.ERROR:
                return NotLiteral(child.start, "syntax error")
            else:
                body = child
        if body is None:
            return NotLiteral(node.start, "a let without a body")
        return self.eval(body, inner, top)

    def _legacy_let(self, node: Node, env: _Env, top: bool) -> Any:
        value = self._bindings(node, env, recursive=True)
        if isinstance(value, dict):
            return value.get("body", NotLiteral(node.start, "a let { } without 'body'"))
        return value

    # ------------------------------------------------------------------ operators and selection

    def _select(self, node: Node, env: _Env, top: bool) -> Any:
        parts = node.nodes()
        value = self.eval(parts[0], env, False)
        default = parts[2] if len(parts) > 2 else None
        for attr in (a for a in parts[1].nodes() if a.kind == S.ATTR):
            name: Any = attr_static_name(attr)
            if name is None:
                name = self._dynamic_name(attr, env)
                if isinstance(name, NotLiteral) or name is None:
                    return (
                        name
                        if isinstance(name, NotLiteral)
                        else NotLiteral(attr.start, "a null attribute name")
                    )
            if isinstance(value, NotLiteral):
                return value
            if isinstance(value, dict) and name in value:
                value = value[name]
                continue
            if default is not None:
                return self.eval(default, env, False)
            if isinstance(value, dict):
                return NotLiteral(attr.start, f"attribute '{name}' missing")
            return NotLiteral(attr.start, f"cannot select '{name}' from a {_type(value)}")
        return value

    def _has_attr(self, node: Node, env: _Env, top: bool) -> Any:
        parts = node.nodes()
        value = self.eval(parts[0], env, False)
        for attr in (a for a in parts[1].nodes() if a.kind == S.ATTR):
            name = attr_static_name(attr)
            if name is None:
                return NotLiteral(attr.start, "a dynamic attribute test")
            if isinstance(value, NotLiteral):
                return value
            if not isinstance(value, dict) or name not in value:
                return False
            value = value[name]
        return True

    def _unary_op(self, node: Node, env: _Env, top: bool) -> Any:
        op = node.first_token()
        value = self.eval(node.nodes()[0], env, False)
        if isinstance(value, NotLiteral):
            return value
        if (
            op is not None
            and op.text == "-"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return -value
        if op is not None and op.text == "!" and isinstance(value, bool):
            return not value
        return NotLiteral(node.start, f"cannot apply '{op.text if op else '?'}' to a {_type(value)}")

    def _bin_op(self, node: Node, env: _Env, top: bool) -> Any:
        op = _operator(node)
        if op is None or len(node.nodes()) != 2:
            return NotLiteral(node.start, "syntax error")
        if op.text not in ("//", "++", "+"):
            return NotLiteral(node.start, f"the operator '{op.text}' is not evaluated")
        # a chain `a + b + c` (or `a ++ b ++ c`, right-nested) is walked in a loop, not recursively:
        # a file may chain thousands of operands without nesting anything
        chain, operands = _chain(node, op.text)
        if op.text == "+":
            return self._fold_left(chain, operands, env)
        return self._fold_right(chain, operands, env)

    def _fold_left(self, chain: list[Node], operands: list[Node], env: _Env) -> Any:
        """A left-associative chain, innermost node first, evaluating as the recursion would."""
        acc = self.eval(operands[0], env, False)
        for link, operand in zip(reversed(chain), operands[1:], strict=True):
            if isinstance(acc, NotLiteral):
                return acc
            value = self.eval(operand, env, False)
            acc = value if isinstance(value, NotLiteral) else _combine(_operator(link), acc, value)
        return acc

    def _fold_right(self, chain: list[Node], operands: list[Node], env: _Env) -> Any:
        """A right-associative chain (`//`, `++`): every operand left to right, then fold from the right."""
        values = []
        for operand in operands:
            value = self.eval(operand, env, False)
            if isinstance(value, NotLiteral):
                return value
            values.append(value)
        acc = values[-1]
        for link, value in zip(reversed(chain), reversed(values[:-1]), strict=True):
            acc = _combine(_operator(link), value, acc)
            if isinstance(acc, NotLiteral):
                return acc
        return acc

    def _if_else(self, node: Node, env: _Env, top: bool) -> Any:
        parts = node.nodes()
        if len(parts) != 3:
            return NotLiteral(node.start, "syntax error")
        cond = self.eval(parts[0], env, False)
        if isinstance(cond, bool):
            return self.eval(parts[1] if cond else parts[2], env, top)
        return (
            cond
            if isinstance(cond, NotLiteral)
            else NotLiteral(parts[0].start, "the condition is not a bool")
        )

    def _with(self, node: Node, env: _Env, top: bool) -> Any:
        parts = node.nodes()
        return self.eval(parts[-1], _Env({}, env, with_=True), top)

    def _assert(self, node: Node, env: _Env, top: bool) -> Any:
        parts = node.nodes()
        cond = self.eval(parts[0], env, False)
        if cond is True:
            return self.eval(parts[-1], env, top)
        return NotLiteral(node.start, "an assertion that is not literally true")

    def _lambda(self, node: Node, env: _Env, top: bool) -> Any:
        if not (top and self.call):
            return NotLiteral(node.start, "a function")
        param = node.child(S.PARAM)
        body = node.nodes()[-1]
        scope_vars: dict[str, _Thunk] = {}
        inner = _Env(scope_vars, env)
        if param is not None:
            for c in param.children:
                if not isinstance(c, Node) and c.kind == T.ID:
                    scope_vars[c.text] = _done(NotLiteral(_AT_USE, f"the argument '{c.text}' is not given"))
                elif isinstance(c, Node) and c.kind == S.PAT_BIND:
                    tok = c.token(T.ID)
                    if tok is not None:
                        scope_vars[tok.text] = _done(
                            NotLiteral(_AT_USE, f"the argument set '{tok.text}' is not given")
                        )
                elif isinstance(c, Node) and c.kind == S.PATTERN:
                    for entry in c.nodes():
                        tok = entry.token(T.ID)
                        if tok is None:
                            continue
                        default = entry.nodes()
                        if default:
                            scope_vars[tok.text] = self._thunk(default[0], inner)
                        else:
                            scope_vars[tok.text] = _done(
                                NotLiteral(_AT_USE, f"the argument '{tok.text}' is not given")
                            )
        return self.eval(body, inner, top)


def _operator(node: Node) -> Token | None:
    return next((c for c in node.children if not isinstance(c, Node)), None)


def _chain(node: Node, op: str) -> tuple[list[Node], list[Node]]:
    """The BIN_OP nodes of a chain of `op` from the outermost in, and its operands left to right."""
    chain: list[Node] = []
    cur = node
    left = op == "+"  # the side the chain continues on: `+` nests on the left, `//` and `++` right
    while cur.kind == S.BIN_OP and len(cur.nodes()) == 2 and (tok := _operator(cur)) and tok.text == op:
        chain.append(cur)
        cur = cur.nodes()[0 if left else 1]
    if left:
        operands = [cur, *(link.nodes()[1] for link in reversed(chain))]
    else:
        operands = [*(link.nodes()[0] for link in chain), cur]
    return chain, operands


def _combine(op: Token | None, left: Any, right: Any) -> Any:
    text = op.text if op is not None else "?"
    if text == "//" and isinstance(left, dict) and isinstance(right, dict):
        return {**left, **right}
    if text == "++" and isinstance(left, list) and isinstance(right, list):
        return left + right
    if text == "+":
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        if _number(left) and _number(right):
            return left + right
    offset = op.start if op is not None else 0
    return NotLiteral(offset, f"cannot apply '{text}' to a {_type(left)} and a {_type(right)}")


def _lazy_force(value: Any, offset: int) -> _Thunk:
    return _Thunk(lambda: _force_all(value, offset))


def _done(value: Any) -> _Thunk:
    t = _Thunk(lambda: value)
    t.state, t.value = 2, value
    return t


def _insert(target: dict[str, Any], names: list[str], thunk: _Thunk, offset: int) -> NotLiteral | None:
    """Place a value at a nested path, merging attribute sets like Nix does for `a.b = …; a.c = …;`."""
    cur = target
    for name in names[:-1]:
        existing = cur.get(name)
        if isinstance(existing, _Thunk):
            existing = existing.force(offset)
        if existing is None and name not in cur:
            existing = {}
        if not isinstance(existing, dict):
            return NotLiteral(offset, f"attribute '{name}' is both a value and a set")
        existing = dict(existing)
        cur[name] = existing
        cur = existing
    last = names[-1]
    if last in cur:
        old = cur[last]
        old = old.force(offset) if isinstance(old, _Thunk) else old
        new = thunk.force(offset)
        if isinstance(old, dict) and isinstance(new, dict):
            cur[last] = {**old, **new}
            return None
        return NotLiteral(offset, f"attribute '{last}' already defined")
    cur[last] = thunk
    return None


def _force_all(value: Any, offset: int) -> Any:
    if isinstance(value, _Thunk):
        value = value.force(offset)
    if isinstance(value, dict):
        return {k: _force_all(v, offset) for k, v in value.items()}
    return value


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _type(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "bool", int: "integer", float: "float", str: "string", list: "list", dict: "set"}.get(
        type(v), type(v).__name__
    )


def _describe(node: Node) -> str:
    return {
        S.APPLY: "a function application",
        S.ERROR: "a syntax error",
        S.LAMBDA: "a function",
    }.get(node.kind, f"a {node.kind.lower().replace('_', ' ')} expression")


def evaluate(node: Node, *, call_functions_with_empty: bool = True, where: Callable[[int], str] = str) -> Any:
    """The literal value of `node` (a ROOT or any expression), with NotLiteral markers where unknown.

    Raises NestedTooDeepError past MAX_EVAL_DEPTH nested evaluations; `where` turns an offset into the
    place named in that error.
    """
    old = sys.getrecursionlimit()
    # room for MAX_EVAL_DEPTH levels above whatever called us (the CLI, a test runner)
    sys.setrecursionlimit(max(old, MAX_EVAL_DEPTH * _FRAMES_PER_LEVEL + 1000))
    try:
        return Evaluator(call_functions_with_empty, where).eval(node)
    finally:
        sys.setrecursionlimit(old)
