"""dendrite's own Nix language core: a lossless parser, queries, a literal evaluator, a printer, edits.

Primitives: `lexer`, `parser` (tree in `syntax`), `scope`, `strings`. Recipes: `source` (files and
diagnostics), `query`, `evaluate`, `printer`, `edit`.
"""

from dendrite.nixlang.evaluate import NotLiteral, evaluate, markers
from dendrite.nixlang.parser import ParseResult, parse
from dendrite.nixlang.printer import to_nix
from dendrite.nixlang.source import Diagnostic, ParsedFile, parse_bytes, parse_file
from dendrite.nixlang.syntax import Node, print_tree

__all__ = [
    "Diagnostic",
    "Node",
    "NotLiteral",
    "ParseResult",
    "ParsedFile",
    "evaluate",
    "markers",
    "parse",
    "parse_bytes",
    "parse_file",
    "print_tree",
    "to_nix",
]
