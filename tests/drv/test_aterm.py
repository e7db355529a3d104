"""The ATerm parser and printer against the .drv files the real Nix writes, and against malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrite.drv import aterm
from dendrite.drv.aterm import Derivation, Output
from dendrite.drv.store import DrvReader
from dendrite.errors import DrvParseError, InputError
from tests.drv.nixdrv import instantiate, needs_nix

GRAPH = r"""
let
  mk = name: attrs: builtins.derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo ${name} > $out" ];
  } // attrs);
  a = mk "a" { };
  b = mk "b" { outputs = [ "out" "dev" "lib" ]; };
  fixed = mk "fixed" { outputHashAlgo = "sha256"; outputHashMode = "recursive";
    outputHash = "0000000000000000000000000000000000000000000000000000"; };
  long = builtins.concatStringsSep "\n" (builtins.genList
    (i: "line ${toString i}: \"quoted\" back\\slash\ttab\r and ünïcode ${"$"}{not interpolated}") 400);
in
mk "top" {
  deps = [ a b.dev b.lib fixed ];
  src = ./graph.nix;
  inherit long;
  empty = "";
  args = [ "-c" "cat ${a} ${b.dev} > $out" "arg with \"quotes\"" ];
}
"""

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
BYTES_TEXT = st.binary(max_size=40).map(lambda b: b.decode("utf-8", "surrogateescape"))
ANY = st.one_of(TEXT, BYTES_TEXT)

DRVS = st.builds(
    Derivation,
    st.lists(st.builds(Output, ANY, ANY, ANY, ANY), max_size=3).map(tuple),
    st.lists(st.tuples(ANY, st.lists(ANY, max_size=3).map(tuple)), max_size=3).map(tuple),
    st.lists(ANY, max_size=3).map(tuple),
    ANY,
    ANY,
    st.lists(ANY, max_size=4).map(tuple),
    st.lists(st.tuples(ANY, ANY), max_size=5).map(tuple),
)


@given(DRVS)
def test_print_then_parse_is_identity(drv: Derivation) -> None:
    assert aterm.parse(aterm.unparse(drv)) == drv


@given(DRVS)
def test_parse_then_print_gives_the_same_bytes(drv: Derivation) -> None:
    data = aterm.unparse(drv)
    assert aterm.unparse(aterm.parse(data)) == data


@given(DRVS, st.data())
def test_a_cut_file_is_refused_with_its_offset(drv: Derivation, data: st.DataObject) -> None:
    raw = aterm.unparse(drv)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(DrvParseError) as err:
        aterm.parse(raw[:cut], "x.drv")
    assert 0 <= err.value.offset <= cut and "x.drv is not a valid derivation" in err.value.message


@pytest.mark.parametrize(
    ("data", "expected", "offset"),
    [
        (b"", "'Derive('", 0),
        (b'Derive([],[],[],"s","b",[],[])x', "the end of the file", 30),
        (b'Derive([("out","/p","","")],[],[],"s","b",[],[("k",)])', "a quoted string", 51),
        (b'Derive([],[],[],"s","b",["a" "b"],[])', "']'", 28),
        (b'Derive([],[],[],"s\\"', "a closing quote", 16),
        ('Derive([],[],[],"ü",x'.encode(), "a quoted string", 21),  # bytes, not characters
    ],
)
def test_malformed_input_says_what_and_where(data: bytes, expected: str, offset: int) -> None:
    with pytest.raises(DrvParseError) as err:
        aterm.parse(data, "bad.drv")
    assert expected in err.value.message and f"at byte {offset}," in err.value.message
    assert err.value.offset == offset and err.value.hint


@needs_nix
def test_real_drv_files_round_trip_byte_for_byte(tmp_path: Path) -> None:
    (tmp_path / "graph.nix").write_text(GRAPH)
    (top,) = instantiate(tmp_path / "graph.nix")
    reader = DrvReader()
    drv = reader.read(top)
    seen = [top, *(p for p, _ in drv.input_drvs)]
    assert len(seen) == 4
    for path in seen:
        raw = Path(path).read_bytes()
        assert aterm.unparse(aterm.parse(raw)) == raw
    env = drv.env_map
    assert env["long"].count("\n") == 399 and '"quoted" back\\slash\ttab\r and ünïcode ${not' in env["long"]
    assert drv.args[-1] == 'arg with "quotes"' and env["empty"] == ""
    assert {o for _, outs in drv.input_drvs for o in outs} == {"out", "dev", "lib"}
    assert drv.input_srcs[0].endswith("-graph.nix") and drv.builder == "/bin/sh"
    fixed = next(reader.read(p) for p, _ in drv.input_drvs if p.endswith("-fixed.drv"))
    assert fixed.outputs[0].hash_algo == "r:sha256" and fixed.outputs[0].hash == "0" * 64


def test_the_reader_reads_only_derivations_in_the_store(tmp_path: Path) -> None:
    fake = tmp_path / ("0" * 32 + "-x.drv")
    fake.write_bytes(b'Derive([],[],[],"s","b",[],[])')
    with pytest.raises(InputError, match="is not a derivation in /nix/store"):
        DrvReader().read(str(fake))
    assert DrvReader(store_dir=tmp_path).read(str(fake)).builder == "b"
    big = tmp_path / ("1" * 32 + "-big.drv")
    big.write_bytes(b"Derive(" + b" " * 100)
    with pytest.raises(InputError, match="at most 50 bytes"):
        DrvReader(store_dir=tmp_path, max_bytes=50).read(str(big))
    link = tmp_path / ("2" * 32 + "-link.drv")
    link.symlink_to(fake)
    with pytest.raises(InputError, match="cannot read"):
        DrvReader(store_dir=tmp_path).read(str(link))
    with pytest.raises(InputError, match="is not a derivation"):
        DrvReader(store_dir=tmp_path).read(str(tmp_path / "../etc.drv"))
