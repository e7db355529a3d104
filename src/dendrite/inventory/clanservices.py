"""What clan-core's `clanServices/<name>/default.nix` declare, read statically with dendrite's Nix parser.

Per service: the manifest name, the role constraints, and per role its description, its interface (each
option's type, its default where literal, whether the set is freeform) and the vars generators its
modules declare (names, files, share, dependencies, prompts, and the `lib.mkIf` conditions around them).
Nothing is evaluated: a value that is not literal is kept as its Nix text (`{"expr": "..."}`), and a
generator name with an interpolation as a template (`user-password-${settings.user}`).

The same extractor makes `dendrite/data/clan-services.json` (scripts/gen_catalogue.py) and reads the
clan-core source a repository pins, when that source is in the local Nix store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dendrite.errors import InputError
from dendrite.nixlang import syntax as S
from dendrite.nixlang import tokens as T
from dendrite.nixlang.evaluate import evaluate, has_markers
from dendrite.nixlang.query import attr_names, bindings, module_body
from dendrite.nixlang.source import ParsedFile, parse_bytes
from dendrite.nixlang.strings import string_parts
from dendrite.nixlang.syntax import Node
from dendrite.repofs import RepoFS

# `lib.mkIf c x`-like wrappers: the value is x, present when c holds
_CONDITIONAL = ("mkIf", "optionalAttrs")
_TRANSPARENT = ("mkDefault", "mkForce", "mkOverride", "mkAfter", "mkBefore", "mkOrder", "mkOptionDefault")
_FILE_KEYS = ("secret", "deploy", "neededFor", "owner", "group", "mode")
_PROMPT_KEYS = ("type", "persist", "description")


def _unwrap(node: Node) -> Node:
    while node.kind == S.PAREN and node.nodes():
        node = node.nodes()[0]
    return node


def _apply_parts(node: Node) -> tuple[Node, list[Node]]:
    """`f a b` as (f, [a, b])."""
    args: list[Node] = []
    while node.kind == S.APPLY:
        kids = node.nodes()
        args.insert(0, kids[-1])
        node = _unwrap(kids[0])
    return node, args


def _head_name(node: Node) -> str | None:
    """The last name of a function: `lib.mkIf` and `mkIf` are both `mkIf`."""
    if node.kind == S.IDENT:
        tok = node.first_token()
        return tok.text if tok else None
    if node.kind == S.SELECT and len(node.nodes()) > 1:
        names = attr_names(node.nodes()[1])
        return names[-1] if names else None
    return None


def _text(node: Node) -> str:
    return " ".join(node.text().split())


def literal(node: Node) -> Any:
    """The literal value, else `{"expr": <the Nix text>}`."""
    if _unwrap(node).kind == S.LAMBDA:
        return {"expr": _text(node)}
    value = evaluate(node, call_functions_with_empty=False)
    return {"expr": _text(node)} if has_markers(value) else value


def template(node: Node, env: dict[str, str]) -> str:
    """A string's value with each interpolation kept as `${expr}` (let-bound strings substituted)."""
    node = _unwrap(node)
    if node.kind not in (S.STRING, S.IND_STRING):
        if node.kind == S.IDENT and _text(node) in env:
            return env[_text(node)]
        return "${" + _text(node) + "}"
    out = []
    for part in string_parts(node):
        if isinstance(part, str):
            out.append(part)
        else:
            inner = part.nodes()
            out.append(template(inner[0], env) if inner else "${}")
    return "".join(out)


def _attr_template(attr: Node, env: dict[str, str]) -> str:
    for c in attr.children:
        if not isinstance(c, Node):
            return c.text
        if c.kind in (S.STRING, S.IND_STRING):
            return template(c, env)
        if c.kind == S.INTERPOL and c.nodes():
            return template(c.nodes()[0], env)
    return _text(attr)


def _path_of(binding: Node, env: dict[str, str]) -> tuple[str, ...]:
    path = binding.nodes()[0]
    return tuple(_attr_template(a, env) for a in path.nodes() if a.kind == S.ATTR)


# ---- options -----------------------------------------------------------------------------------------


def type_of(node: Node, lets: dict[str, Node], depth: int = 0) -> dict[str, Any]:
    """A `lib.types` expression as data: {"type": name, "of": ..., "values": ..., "options": ...}."""
    node = _unwrap(node)
    if depth > 20:
        return {"type": "unknown", "text": _text(node)}
    if node.kind == S.IDENT and _text(node) in lets:
        return type_of(lets[_text(node)], lets, depth + 1)
    if node.kind in (S.IDENT, S.SELECT):
        name = _head_name(node)
        return {"type": name} if name else {"type": "unknown", "text": _text(node)}
    if node.kind == S.APPLY:
        head, args = _apply_parts(node)
        name = _head_name(head)
        if name in ("listOf", "attrsOf", "lazyAttrsOf", "nullOr", "uniq", "unique") and args:
            return {"type": name, "of": type_of(args[-1], lets, depth + 1)}
        if name == "enum" and args:
            values = literal(args[0])
            return {"type": "enum", "values": values} if isinstance(values, list) else {"type": "enum"}
        if name in ("oneOf",) and args and _unwrap(args[0]).kind == S.LIST:
            return {"type": "oneOf", "of": [type_of(e, lets, depth + 1) for e in _unwrap(args[0]).nodes()]}
        if name == "either" and len(args) == 2:
            return {"type": "oneOf", "of": [type_of(a, lets, depth + 1) for a in args]}
        if name == "coercedTo" and len(args) == 3:
            return {
                "type": "oneOf",
                "of": [type_of(args[0], lets, depth + 1), type_of(args[2], lets, depth + 1)],
            }
        if name in ("submodule", "submoduleWith") and args:
            return _submodule(args[-1], lets, depth)
        if name is not None:
            return {"type": name}
    return {"type": "unknown", "text": _text(node)}


def _submodule(arg: Node, lets: dict[str, Node], depth: int) -> dict[str, Any]:
    body = module_body(arg) if _unwrap(arg).kind != S.ATTR_SET else _unwrap(arg)
    if body is not None and _unwrap(arg).kind == S.ATTR_SET and _has(body, "modules"):
        return {"type": "submodule", "options": {}, "freeform": True}  # submoduleWith: not read
    options, freeform = _module_options(body, lets, depth + 1) if body is not None else ({}, True)
    return {"type": "submodule", "options": options, "freeform": freeform}


def _has(attrset: Node, name: str) -> bool:
    return any(b.path[:1] == (name,) for b in bindings(attrset))


def _module_options(body: Node, lets: dict[str, Node], depth: int = 0) -> tuple[dict[str, Any], bool]:
    """The `options` a module body declares, and whether it has a `freeformType`."""
    lets = {**lets, **_let_nodes(body)}
    options: dict[str, Any] = {}
    freeform = False
    for b in bindings(body):
        if b.path[:1] == ("freeformType",):
            freeform = True
        elif b.path[:1] == ("options",):
            _options_into(options, tuple(p or "?" for p in b.path[1:]), b.value, lets, depth)
        elif b.path == ("imports",) and _unwrap(b.value).kind == S.LIST and depth < 20:
            # `imports = [ sharedInterface ]` (wireguard): modules bound in a `let` or written inline
            for e in _unwrap(b.value).nodes():
                e = _unwrap(e)
                module = lets.get(_text(e)) if e.kind == S.IDENT else e
                inner = module_body(module) if module is not None else None
                if inner is not None:
                    more, more_free = _module_options(inner, {**lets, **_let_nodes(module)}, depth + 1)  # type: ignore[arg-type]
                    options.update(more)
                    freeform = freeform or more_free
    return options, freeform


def _options_into(
    out: dict[str, Any], path: tuple[str, ...], value: Node, lets: dict[str, Node], depth: int
) -> None:
    if not path:
        node = _unwrap(value)
        if node.kind == S.ATTR_SET:
            for b in bindings(node):
                _options_into(out, tuple(p or "?" for p in b.path), b.value, lets, depth)
        return
    if len(path) > 1:
        group = out.setdefault(path[0], {"type": "group", "options": {}})
        if group.get("type") == "group":
            _options_into(group["options"], path[1:], value, lets, depth)
        return
    opt = option(value, lets, depth)
    if opt is None:  # a nested set of options (`hostKeys.rsa.enable = mkEnableOption …`)
        group = out.setdefault(path[0], {"type": "group", "options": {}})
        _options_into(group["options"], (), value, lets, depth)
    else:
        out[path[0]] = opt


def option(value: Node, lets: dict[str, Node], depth: int = 0) -> dict[str, Any] | None:
    """One `mkOption { … }` (or mkEnableOption, mkPackageOption, mkRemovedOption) as data; None if the
    value is a plain attribute set of further options."""
    node = _unwrap(value)
    if node.kind == S.IDENT and _text(node) in lets and depth < 20:
        return option(lets[_text(node)], lets, depth + 1)
    if node.kind == S.ATTR_SET:
        return None
    head, args = _apply_parts(node) if node.kind == S.APPLY else (node, [])
    name = _head_name(head)
    if name == "mkEnableOption":
        return {"type": {"type": "bool"}, "default": False}
    if name == "mkPackageOption":
        return {"type": {"type": "package"}, "default": {"expr": _text(node)}}
    if name == "mkRemovedOption":
        why = [literal(a) for a in args]
        message = " ".join(w for w in why if isinstance(w, str))
        return {"type": {"type": "removed"}, "default": None, "removed": message}
    if name == "mkOption" and args and _unwrap(args[0]).kind == S.ATTR_SET:
        out: dict[str, Any] = {"type": {"type": "unspecified"}}
        for b in bindings(_unwrap(args[0])):
            key = b.path[0] if len(b.path) == 1 else None
            if key == "type":
                out["type"] = type_of(b.value, lets, depth)
            elif key == "default":
                out["default"] = literal(b.value)
            elif key == "defaultText":
                out["defaultText"] = True
        return out
    return {"type": {"type": "unknown", "text": _text(node)}}


def _let_nodes(node: Node) -> dict[str, Node]:
    """The bindings of the `let` blocks on the way from `node` down to its attribute set."""
    out: dict[str, Node] = {}
    node = node.nodes()[0] if node.kind == S.ROOT and node.nodes() else node
    while True:
        node = _unwrap(node)
        if node.kind == S.LET_IN:
            out.update({b.path[0]: b.value for b in bindings(node) if len(b.path) == 1 and b.path[0]})
            out.update(_inherits(node))
        if node.kind in (S.LAMBDA, S.LET_IN, S.WITH, S.ASSERT):
            node = node.nodes()[-1]
            continue
        return out


def _inherits(let: Node) -> dict[str, Node]:
    """`inherit (lib) mkOption types;`: each name to the node of its source (a function head)."""
    out: dict[str, Node] = {}
    for child in let.nodes():
        if child.kind == S.INHERIT:
            for attr in child.nodes():
                if attr.kind == S.ATTR:
                    tok = attr.first_token()
                    if tok is not None and tok.kind == T.ID:
                        out[tok.text] = attr
    return out


# ---- generators --------------------------------------------------------------------------------------


@dataclass
class _Gen:
    name: str
    when: list[str] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Scan:
    """Generators found while walking the modules of one role."""

    directory: Path
    service_dir: str
    lets: dict[str, Node]
    gens: dict[str, _Gen] = field(default_factory=dict)
    files_seen: set[str] = field(default_factory=set)
    lets_seen: set[str] = field(default_factory=set)
    extend: dict[str, bool] = field(default_factory=dict)  # extendSettings: option -> is instanceName

    def gen(self, name: str, when: list[str]) -> _Gen:
        g = self.gens.get(name)
        if g is None:
            g = self.gens[name] = _Gen(name, list(when))
        return g


def _zone(path: tuple[str, ...]) -> int | None:
    """Where the generator name sits in an attribute path `… vars.generators.<name> …`, if it is one."""
    for i in range(len(path) - 1):
        if path[i] == "vars" and path[i + 1] == "generators":
            return i + 2
    return None


def _visit(scan: _Scan, node: Node, prefix: tuple[str, ...], when: list[str], env: dict[str, str]) -> None:
    # an explicit stack, not recursion on the whole tree: modules nest deeply
    stack: list[tuple[Node, tuple[str, ...], list[str], dict[str, str]]] = [(node, prefix, when, env)]
    while stack:
        node, prefix, when, env = stack.pop()
        node = _unwrap(node)
        z = _zone(prefix)
        at_set = z is not None and len(prefix) == z  # a set of generators
        in_gen = z is not None and len(prefix) > z
        kind = node.kind
        if kind == S.ATTR_SET:
            if in_gen and (not bindings(node) or prefix[(z or 0) + 1 :] == ("validation",)):
                _leaf(scan, prefix, node, when, env)
                continue
            for child in node.nodes():
                if child.kind == S.BINDING and child.nodes() and child.nodes()[0].kind == S.ATTRPATH:
                    path = prefix + _path_of(child, env)
                    pz = _zone(path)
                    if pz is not None and len(path) > pz:
                        scan.gen(path[pz], when)
                    stack.append((child.nodes()[1], path, when, env))
            continue
        if kind == S.LET_IN:
            env = dict(env)
            for lb in bindings(node):
                v = _unwrap(lb.value)
                if len(lb.path) == 1 and lb.path[0] and v.kind in (S.STRING, S.IND_STRING):
                    env[lb.path[0]] = template(v, env)
            stack.extend((lb.value, (), when, env) for lb in bindings(node))
            stack.append((node.nodes()[-1], prefix, when, env))
            continue
        if kind == S.APPLY:
            head, args = _apply_parts(node)
            name = _head_name(head)
            if name in _CONDITIONAL and len(args) == 2:
                cond = _text(args[0])
                if in_gen and len(prefix) == (z or 0) + 1:
                    scan.gen(prefix[-1], when).when.append(cond)
                elif in_gen:
                    _cond_leaf(scan, prefix, cond)
                stack.append((args[1], prefix, when if in_gen else [*when, cond], env))
                continue
            if name in _TRANSPARENT and args:
                stack.append((args[-1], prefix, when, env))
                continue
            if name == "mkMerge" and args and _unwrap(args[-1]).kind == S.LIST:
                stack.extend((e, prefix, when, env) for e in _unwrap(args[-1]).nodes())
                continue
            if name == "nameValuePair" and at_set and len(args) == 2:
                gname = template(args[0], env)
                scan.gen(gname, when)
                stack.append((args[1], (*prefix, gname), when, env))
                continue
            if name == "extendSettings" and args and _unwrap(args[-1]).kind == S.ATTR_SET:
                # `extendSettings { user = lib.mkOptionDefault instanceName; }` (users): a default that is
                # the instance's name; any other value is a default dendrite does not know
                for eb in bindings(_unwrap(args[-1])):
                    value = _unwrap(eb.value)
                    if value.kind == S.APPLY:
                        value = _unwrap(_apply_parts(value)[1][-1])
                    scan.extend[eb.path[0] or ""] = _text(value) == "instanceName"
            if name == "import" and args and _unwrap(args[0]).kind == S.PATH:
                _import(scan, _unwrap(args[0]), env)
            if in_gen:
                _leaf(scan, prefix, node, when, env)
                continue
            inner = prefix if at_set else ()
            stack.extend((c, inner, when, env) for c in reversed(node.nodes()))
            continue
        if in_gen:
            _leaf(scan, prefix, node, when, env)
            continue
        if kind == S.BIN_OP and at_set:  # `a // b`: both sides are sets of generators
            stack.extend((c, prefix, when, env) for c in node.nodes())
            continue
        if kind == S.IF_ELSE:
            kids = node.nodes()
            stack.extend(
                (c, prefix, [*when, f"({_text(kids[0])}) is {i == 1}"], env)
                for i, c in enumerate(kids[1:], 1)
            )
            continue
        if kind == S.PATH:
            _import(scan, node, env)
            continue
        if kind == S.IDENT:
            name = _text(node)
            if name in scan.lets and name not in scan.lets_seen:
                scan.lets_seen.add(name)
                stack.append((scan.lets[name], (), when, env))
            continue
        inner = prefix if at_set and kind in (S.LAMBDA, S.WITH) else ()
        stack.extend((c, inner, when, env) for c in reversed(node.nodes()))


def _import(scan: _Scan, path: Node, env: dict[str, str]) -> None:
    """A `./x.nix` the role's modules import: scanned once, as a module of the role."""
    rel = _text(path)
    if not rel.startswith("./") or not rel.endswith(".nix"):
        return
    target = f"{scan.service_dir}/{rel[2:]}"
    if target in scan.files_seen:
        return
    scan.files_seen.add(target)
    parsed = _parse(scan.directory, target)
    if parsed is not None:
        root = parsed.result.root
        saved = scan.lets
        scan.lets = {**scan.lets, **_let_nodes(root)}
        _visit(scan, root, (), [], env)
        scan.lets = saved


def _leaf(scan: _Scan, path: tuple[str, ...], value: Node, when: list[str], env: dict[str, str]) -> None:
    z = _zone(path)
    assert z is not None
    g = scan.gen(path[z], when)
    rest = path[z + 1 :]
    if not rest:
        return
    if rest[0] == "files" and len(rest) >= 2:
        f = g.files.setdefault(rest[1], {})
        if len(rest) == 3 and rest[2] in _FILE_KEYS:
            f[rest[2]] = literal(value)
    elif rest[0] == "prompts" and len(rest) >= 2:
        p = g.prompts.setdefault(rest[1], {})
        if len(rest) == 3 and rest[2] in _PROMPT_KEYS:
            p[rest[2]] = literal(value)
    elif rest == ("share",):
        g.fields["share"] = literal(value)
    elif rest == ("dependencies",):
        node = _unwrap(value)
        if node.kind == S.LIST:
            g.fields["dependencies"] = [template(e, env) for e in node.nodes()]
        else:
            g.fields["dependencies"] = {"expr": _text(value)}
    elif rest[0] == "validation":  # `validation = { … }` or `validation.x = …`
        text = _text(value) if len(rest) == 1 else f"{{ {'.'.join(rest[1:])} = {_text(value)}; }}"
        g.fields["validation"] = {"expr": text}
    elif rest[0] == "script":
        g.fields["script"] = True


def _cond_leaf(scan: _Scan, path: tuple[str, ...], cond: str) -> None:
    """A `mkIf` inside a generator (`prompts.x = mkIf settings.prompt { … }`): kept on what it guards."""
    z = _zone(path)
    assert z is not None
    g = scan.gen(path[z], [])
    rest = path[z + 1 :]
    if rest[:1] == ("prompts",) and len(rest) == 2:
        g.prompts.setdefault(rest[1], {})["when"] = cond
    elif rest[:1] == ("files",) and len(rest) == 2:
        g.files.setdefault(rest[1], {})["when"] = cond


def _generator_data(g: _Gen) -> dict[str, Any]:
    out: dict[str, Any] = {"name": g.name}
    if g.when:
        out["when"] = list(dict.fromkeys(g.when))
    out["files"] = {k: g.files[k] for k in sorted(g.files)}
    out["share"] = g.fields.get("share", False)
    out["dependencies"] = g.fields.get("dependencies", [])
    if g.prompts:
        out["prompts"] = {k: g.prompts[k] for k in sorted(g.prompts)}
    if "validation" in g.fields:
        out["validation"] = g.fields["validation"]
    return out


# ---- services ----------------------------------------------------------------------------------------


def _parse(directory: Path, rel: str) -> ParsedFile | None:
    fs = RepoFS(directory)
    if not fs.is_file(rel):
        return None
    parsed = parse_bytes(fs.read_bytes(rel), f"{directory}/{rel}")
    if not parsed.ok:
        raise InputError(f"{parsed.diagnostics[0]}", hint="clan-core's services must parse")
    return parsed


def _role_bindings(body: Node) -> Iterator[tuple[str, tuple[str, ...], Node]]:
    """(role, path below roles.<role>, value) for each `roles.…` binding of a service module."""
    for b in bindings(body):
        if b.path[:1] != ("roles",) or None in b.path:
            continue
        path = tuple(p for p in b.path if p is not None)
        if len(path) == 1:
            value = _unwrap(b.value)
            for inner in bindings(value) if value.kind == S.ATTR_SET else []:
                if inner.path and None not in inner.path:
                    p = tuple(x for x in inner.path if x is not None)
                    yield p[0], p[1:], inner.value
        else:
            yield path[1], path[2:], b.value


def _service_files(directory: Path, service: str) -> list[tuple[str, ParsedFile]]:
    """default.nix and the files its top-level `imports` name (admin's ssh.nix, root-password.nix)."""
    first = _parse(directory, f"{service}/default.nix")
    if first is None:
        return []
    out = [(f"{service}/default.nix", first)]
    body = module_body(first.result.root)
    for b in bindings(body) if body is not None else []:
        value = _unwrap(b.value)
        if b.path == ("imports",) and value.kind == S.LIST:
            for e in value.nodes():
                rel = _text(e)
                if _unwrap(e).kind == S.PATH and rel.startswith("./") and rel.endswith(".nix"):
                    parsed = _parse(directory, f"{service}/{rel[2:]}")
                    if parsed is not None:
                        out.append((f"{service}/{rel[2:]}", parsed))
    return out


def extract_service(directory: Path, service: str) -> dict[str, Any] | None:
    """One service of a `clanServices` directory as data, or None if it has no default.nix."""
    files = _service_files(directory, service)
    if not files:
        return None
    top = _unwrap(files[0][1].result.root.nodes()[0]) if files[0][1].result.root.nodes() else None
    if top is not None and top.kind == S.APPLY and _head_name(_apply_parts(top)[0]) == "throw":
        message = literal(_apply_parts(top)[1][0])
        text = message if isinstance(message, str) else message["expr"]
        return {"manifest": service, "removed": " ".join(text.split()), "roles": {}}
    manifest: dict[str, Any] = {}
    constraints: dict[str, dict[str, Any]] = {}
    roles: dict[str, dict[str, Any]] = {}
    role_nodes: dict[str, list[tuple[Node, dict[str, Node]]]] = {}
    per_machine: list[tuple[Node, dict[str, Node]]] = []
    machine_path_classes: set[str] = set()
    for _rel, parsed in files:
        root = parsed.result.root
        body = module_body(root)
        if body is None:
            continue
        lets = _let_nodes(root)
        for b in bindings(body):
            path = tuple(p or "?" for p in b.path)
            if path[:1] == ("manifest",):
                _manifest(manifest, constraints, path[1:], b.value)
            elif path[:1] == ("perMachine",):
                per_machine.append((b.value, lets))
                machine_path_classes.update(_CLASS_OF[p] for p in path[1:] if p in _CLASS_OF)
        for role, rest, value in _role_bindings(body):
            r = roles.setdefault(role, {"description": "", "interface": {"options": {}, "freeform": False}})
            role_nodes.setdefault(role, [])
            _role_part(r, role_nodes[role], rest, value, lets)
    machine_classes = _module_classes(n for n, _ in per_machine) | machine_path_classes
    out_roles: dict[str, Any] = {}
    for role in sorted(roles):
        r = roles[role]
        found = _module_classes(n for n, _ in role_nodes[role])
        r["classes"] = sorted(machine_classes | found | set(r.get("classes", [])))
        scan = _Scan(directory, service, {})
        for node, lets in role_nodes[role]:
            scan.lets = lets
            _visit(scan, node, (), [], {})
        for opt, is_instance_name in scan.extend.items():
            if opt in r["interface"]["options"]:
                key = "defaultFromInstance" if is_instance_name else "defaultText"
                r["interface"]["options"][opt][key] = True
        r["generators"] = [_generator_data(g) for g in sorted(scan.gens.values(), key=lambda g: g.name)]
        r.update(constraints.get(role, {}))
        out_roles[role] = r
    scan = _Scan(directory, service, {})
    for node, lets in per_machine:
        scan.lets = lets
        _visit(scan, node, (), [], {})
    return {
        "manifest": manifest.get("name", service),
        "description": manifest.get("description", ""),
        "roles": out_roles,
        "perMachineGenerators": [
            _generator_data(g) for g in sorted(scan.gens.values(), key=lambda g: g.name)
        ],
    }


_CLASS_OF = {"nixosModule": "nixos", "darwinModule": "darwin"}


def _module_classes(nodes: Iterator[Node]) -> set[str]:
    """The machine classes a role has modules for (`nixosModule`, `darwinModule` in perInstance/perMachine)."""
    out: set[str] = set()
    for node in nodes:
        for n in node.walk():
            if n.kind == S.BINDING and n.nodes() and n.nodes()[0].kind == S.ATTRPATH:
                out.update(_CLASS_OF[a] for a in attr_names(n.nodes()[0]) if a in _CLASS_OF)
    return out


def _manifest(
    manifest: dict[str, Any], constraints: dict[str, dict[str, Any]], path: tuple[str, ...], value: Node
) -> None:
    if path in (("name",), ("description",)):
        v = literal(value)
        if isinstance(v, str):
            manifest[path[0]] = v
    elif (
        path[:2] == ("constraints", "roles") and len(path) == 4 and path[3] in ("minMachines", "maxMachines")
    ):
        v = literal(value)
        if isinstance(v, int):
            constraints.setdefault(path[2], {})[path[3]] = v
    elif path == ("constraints",) or path[:2] == ("constraints", "roles"):
        node = _unwrap(value)
        if node.kind == S.ATTR_SET:
            for b in bindings(node):
                _manifest(manifest, constraints, path + tuple(p or "?" for p in b.path), b.value)


def _role_part(
    r: dict[str, Any],
    nodes: list[tuple[Node, dict[str, Node]]],
    rest: tuple[str, ...],
    value: Node,
    lets: dict[str, Node],
) -> None:
    if not rest:
        node = _unwrap(value)
        for b in bindings(node) if node.kind == S.ATTR_SET else []:
            _role_part(r, nodes, tuple(p or "?" for p in b.path), b.value, lets)
        return
    if rest == ("description",):
        v = literal(value)
        if isinstance(v, str):
            r["description"] = v
    elif rest[0] == "interface":
        node = _unwrap(value)
        body = node if node.kind == S.ATTR_SET else module_body(node)
        if len(rest) > 1:
            _options_into(r["interface"]["options"], rest[2:] if rest[1] == "options" else (), value, lets, 0)
        elif body is not None:
            options, freeform = _module_options(body, {**lets, **_let_nodes(node)})
            r["interface"]["options"].update(options)
            r["interface"]["freeform"] = r["interface"]["freeform"] or freeform
    elif rest[0] in ("perInstance", "perMachine"):
        nodes.append((value, lets))
        # `perInstance.nixosModule = …`: the class is in the path, not in the value
        r.setdefault("classes", [])
        r["classes"] = sorted({*r["classes"], *(_CLASS_OF[p] for p in rest[1:] if p in _CLASS_OF)})


def catalogue_data(directory: Path, revision: str, date: str) -> dict[str, Any]:
    """What `dendrite/data/clan-services.json` holds: the services and the clan-core they came from."""
    return {"clanCore": {"revision": revision, "date": date}, "services": extract(directory)}


def extract(directory: Path) -> dict[str, dict[str, Any]]:
    """Every service below a `clanServices` directory, by directory name."""
    fs = RepoFS(directory)
    out: dict[str, dict[str, Any]] = {}
    for e in sorted(fs.entries("."), key=lambda e: e.name):
        if e.kind == "dir":
            data = extract_service(directory, e.name)
            if data is not None:
                out[e.name] = data
    return out
