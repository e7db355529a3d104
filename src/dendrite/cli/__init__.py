"""The command line: argument parsing and rendering only; all work is done by the library."""
