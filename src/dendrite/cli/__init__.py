"""The command line: argument parsing and rendering only; all work is done by the library.

Importing it sets the shape of every command's help (`helpfmt`), before any command is built.
"""

from dendrite.cli import helpfmt as helpfmt
