"""The command line: argument parsing and rendering only; all work is done by the library.

`cli.main` imports `helpfmt`, which sets the shape of every command's help before any command is
built; not here, so that `dendrite --version` (cli.entry) imports no framework at all.
"""
