"""Oracle agreement: dendrite accepts a file exactly when `nix-instantiate --parse` does."""

from __future__ import annotations

from pathlib import Path

from dendrite.nixlang.parser import parse
from dendrite.nixlang.syntax import print_tree
from tests.nixlang.corpus import INVALID, PIPES, SCOPE_CASES, VALID
from tests.nixlang.oracle import needs_nix, nix_verdicts


def _write(tmp_path: Path, sources: list[str]) -> list[Path]:
    paths = []
    for i, src in enumerate(sources):
        p = tmp_path / f"case{i:04d}.nix"
        p.write_text(src)
        paths.append(p)
    return paths


@needs_nix
def test_acceptance_agrees_with_nix(tmp_path: Path) -> None:
    # raw, and under `with builtins;` where every name may be bound (so that syntax alone decides)
    wrapped = [f"with builtins; {s}" for s in VALID + INVALID]
    sources = VALID + INVALID + wrapped + SCOPE_CASES
    nix = nix_verdicts(_write(tmp_path, sources))
    ours = [parse(s).ok for s in sources]
    mismatches = [
        f"{'nix accepts' if n else 'nix rejects'}, dendrite {'accepts' if o else 'rejects'}: {s[:80]!r}"
        for s, n, o in zip(sources, nix, ours, strict=True)
        if n != o
    ]
    assert not mismatches, "\n".join(mismatches)
    # the corpus means what it says: every VALID program is valid, every INVALID one is not
    n_valid, n_all = len(VALID), len(VALID) + len(INVALID)
    assert all(nix[n_all : n_all + n_valid]), "a VALID corpus entry is not valid Nix"
    assert not any(nix[n_valid:n_all]) and not any(nix[n_all + n_valid : 2 * n_all]), (
        "an INVALID entry parses"
    )


def test_every_corpus_file_prints_back_exactly() -> None:
    for src in VALID + INVALID:
        assert print_tree(parse(src).root) == src


@needs_nix
def test_pipe_operators_are_an_extension(tmp_path: Path) -> None:
    wrapped = [f"with builtins; {p}" for p in PIPES]
    assert not any(nix_verdicts(_write(tmp_path, wrapped)))
    assert all(parse(p).ok for p in wrapped)
