"""Nix derivations (.drv files): read them, compare two graphs of them, and verify migrated hosts."""
