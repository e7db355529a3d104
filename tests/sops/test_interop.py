"""Both directions against the real sops 3.11 binary, for every store and value type sops writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dendrite import sops
from dendrite.sops.stores.yaml import parse_yaml
from dendrite.sops.tree import to_plain
from tests.conftest import Keys, run_sops

YAML_ALL_TYPES = b"""\
# a head comment
name: dendrite
count: 42
negative: -7
octal_old: 0755
octal_new: 0o17
hex: 0x1F
underscored: 1_000
ratio: 1.5
whole_float: 1.0
exp: 1e5
tiny: 1.5e-7
dot: .5
inf: .inf
enabled: true
disabled: False
yes_is_a_string: yes
nothing: null
tilde: ~
empty: ""
date: 2024-01-02
stamp: 2024-05-06T07:08:09.12Z
offset: 2024-05-06T07:08:09+02:00
spaced: 2024-1-2 3:04:05
quoted_number: "0o17"
single: 'single'
eight: 08
block: |
  line one
  line two
folded: >
  folded
  text
nested:
  deep:
    list:
      - 1
      - two
      - {three: 3}
      - [4, 5]
    # a comment inside a mapping
    leaf: value
list_of_maps:
  - a: 1
  - b: [x, y]
anchor: &anc {k: v}
alias: *anc
password_unencrypted: plain-and-visible
unicode: "caf\\u00e9 \\u2603"
"""

EXPECTED_PLAIN = {
    "name": "dendrite",
    "count": 42,
    "negative": -7,
    "octal_old": 493,
    "octal_new": 15,
    "hex": 31,
    "underscored": 1000,
    "ratio": 1.5,
    "whole_float": 1.0,
    "exp": 100000.0,
    "tiny": 1.5e-7,
    "dot": 0.5,
    "inf": math.inf,
    "enabled": True,
    "disabled": False,
    "yes_is_a_string": "yes",
    "nothing": None,
    "tilde": None,
    "empty": "",
    "date": "2024-01-02T00:00:00Z",
    "stamp": "2024-05-06T07:08:09.12Z",
    "offset": "2024-05-06T07:08:09+02:00",
    "spaced": "2024-01-02T03:04:05Z",
    "quoted_number": "0o17",
    "single": "single",
    "eight": 8.0,
    "block": "line one\nline two\n",
    "folded": "folded text\n",
    "nested": {"deep": {"list": [1, "two", {"three": 3}, [4, 5]], "leaf": "value"}},
    "list_of_maps": [{"a": 1}, {"b": ["x", "y"]}],
    "anchor": {"k": "v"},
    "alias": {"k": "v"},
    "password_unencrypted": "plain-and-visible",
    "unicode": "caf\u00e9 \u2603",
}


def _plain_yaml(data: bytes) -> object:
    docs = parse_yaml(data, "out")
    return to_plain(docs[0]) if len(docs) == 1 else [to_plain(d) for d in docs]


def test_sops_yaml_with_every_type_decrypts_with_mac_verified(
    tmp_path: Path, keys: Keys, sops_bin: str
) -> None:
    f = tmp_path / "all.yaml"
    f.write_bytes(YAML_ALL_TYPES)
    run_sops(
        sops_bin, ["encrypt", "--age", f"{keys.a.public},{keys.b.public}", "--in-place", str(f)], keys.env
    )
    text = f.read_text()
    assert (
        "type:time" in text and "type:comment" in text and "password_unencrypted: plain-and-visible" in text
    )
    doc = sops.decrypt_document(f.read_bytes(), "yaml", keys.identities, where=str(f))
    assert to_plain(doc.branches[0]) == EXPECTED_PLAIN
    assert set(doc.metadata.recipients) == {keys.a.public, keys.b.public}
    # and the textual output reads back to the same values
    out = sops.decrypt(f.read_bytes(), keys.identities, input_format="yaml")
    assert _plain_yaml(out) == EXPECTED_PLAIN


def test_each_recipient_alone_can_decrypt(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    f = tmp_path / "two.yaml"
    f.write_bytes(b"a: 1\n")
    run_sops(
        sops_bin, ["encrypt", "--age", f"{keys.a.public},{keys.b.public}", "--in-place", str(f)], keys.env
    )
    for k in (keys.a, keys.b):
        ids = sops.identities_from_text(k.secret)
        assert sops.decrypt(f.read_bytes(), ids, input_format="yaml") == b"a: 1\n"


def test_sops_encrypted_regex_and_mac_only_encrypted(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    f = tmp_path / "regex.yaml"
    f.write_bytes(b"data:\n  password: hunter2\n  port: 5432\nvisible: 1.0\nother: [a, b]\n")
    cfg = tmp_path / ".sops.yaml"  # sops 3.11 takes mac_only_encrypted from a creation rule only
    cfg.write_text(
        json.dumps(
            {
                "creation_rules": [
                    {"age": keys.a.public, "encrypted_regex": "^(password|port)$", "mac_only_encrypted": True}
                ]
            }
        )
    )
    run_sops(sops_bin, ["--config", str(cfg), "encrypt", "--in-place", str(f)], keys.env)
    raw = f.read_text()
    assert "visible: 1" in raw and "mac_only_encrypted: true" in raw and "hunter2" not in raw
    plain = to_plain(sops.decrypt_document(f.read_bytes(), "yaml", keys.identities, where="f").branches[0])
    assert plain == {"data": {"password": "hunter2", "port": 5432}, "visible": 1.0, "other": ["a", "b"]}


def test_sops_binary_with_non_utf8_bytes(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    payload = bytes(range(256)) * 4 + b"\xff\xfe\x00end"
    f = tmp_path / "secret"
    f.write_bytes(payload)
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env)
    assert json.loads(f.read_text())["data"].startswith("ENC[")
    assert sops.decrypt(f.read_bytes(), keys.identities, input_format="binary") == payload


def test_sops_json_decrypts(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    f = tmp_path / "x.json"
    f.write_text('{"a": 1, "b": [1.5, "x", {"c": null, "d": true}], "e": "<&>", "f": "", "g": {}}')
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env)
    out = sops.decrypt(f.read_bytes(), keys.identities, input_format="json")
    assert json.loads(out) == {"a": 1, "b": [1.5, "x", {"c": None, "d": True}], "e": "<&>", "f": "", "g": {}}


def test_sops_dotenv_and_ini_decrypt(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    env_file = tmp_path / "x.env"
    env_file.write_text("# comment\nA=1\nB=two\\nlines\nC=\n")
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(env_file)], keys.env)
    out = sops.decrypt(env_file.read_bytes(), keys.identities, input_format="dotenv")
    assert out == b"# comment\nA=1\nB=two\\nlines\nC=\n"
    ini = tmp_path / "x.ini"
    ini.write_text("[db]\nuser = admin\npassword = s3cret\n\n[web]\nport = 80\n")
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(ini)], keys.env)
    out = sops.decrypt(ini.read_bytes(), keys.identities, input_format="ini")
    assert out == b"[db]\nuser = admin\npassword = s3cret\n\n[web]\nport = 80\n"


def test_sops_multi_document_yaml(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    f = tmp_path / "multi.yaml"
    f.write_bytes(b"a: 1\n---\nb: two\n")
    run_sops(sops_bin, ["encrypt", "--age", keys.a.public, "--in-place", str(f)], keys.env)
    doc = sops.decrypt_document(f.read_bytes(), "yaml", keys.identities, where="f")
    assert [to_plain(b) for b in doc.branches] == [{"a": 1}, {"b": "two"}]


# ------------------------------------------------------------------------------ dendrite writes, sops reads


@pytest.mark.parametrize(
    "fmt,name", [("yaml", "x.yaml"), ("json", "x.json"), ("binary", "x.bin"), ("dotenv", "x.env")]
)
def test_dendrite_output_decrypts_with_sops(
    tmp_path: Path, keys: Keys, sops_bin: str, fmt: str, name: str
) -> None:
    sources = {
        "yaml": YAML_ALL_TYPES,
        "json": b'{"a": 1, "b": [1.5, "x", {"c": null, "d": false}], "e": "<&>", "big": 12345678901234567}',
        "binary": bytes(range(256)) + b"\n\x00tail",
        "dotenv": b"A=1\nB=two\\nlines\nC=\n",
    }
    f = tmp_path / name
    enc = sops.encrypt(sources[fmt], [keys.a.public, keys.b.public], input_format=fmt, where=name)
    f.write_bytes(enc)
    out = run_sops(sops_bin, ["decrypt", str(f)], keys.env).stdout
    if fmt == "yaml":
        assert _plain_yaml(out) == EXPECTED_PLAIN
    elif fmt == "json":
        assert json.loads(out) == json.loads(sources["json"])
    else:
        assert out == sources[fmt]


def test_dendrite_regex_and_suffix_rules_read_by_sops(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    src = b"db:\n  password: hunter2\n  host: example\ntoken_unencrypted: visible\n"
    for rule in (sops.CryptRule("encrypted_regex", "^password$"), sops.CryptRule()):
        for moe in (False, True):
            f = tmp_path / "r.yaml"
            f.write_bytes(
                sops.encrypt(src, [keys.a.public], input_format="yaml", rule=rule, mac_only_encrypted=moe)
            )
            assert b"hunter2" not in f.read_bytes()
            out = run_sops(sops_bin, ["decrypt", str(f)], keys.env).stdout
            assert _plain_yaml(out) == {
                "db": {"password": "hunter2", "host": "example"},
                "token_unencrypted": "visible",
            }


def test_updatekeys_interop_both_ways(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    f = tmp_path / "u.yaml"
    f.write_bytes(sops.encrypt(b"a: secret\n", [keys.a.public], input_format="yaml"))
    before = sops.read_metadata(f.read_bytes(), "yaml", "f")
    # dendrite re-wraps for b only; the real sops decrypts with b alone
    f.write_bytes(sops.updatekeys(f.read_bytes(), [keys.b.public], keys.identities, fmt="yaml", where="f"))
    after = sops.read_metadata(f.read_bytes(), "yaml", "f")
    assert after.recipients == (keys.b.public,) and after.mac == before.mac
    env_b = dict(keys.env)
    only_b = tmp_path / "b.txt"
    only_b.write_text(keys.b.secret + "\n")
    env_b["SOPS_AGE_KEY_FILE"] = str(only_b)
    assert run_sops(sops_bin, ["decrypt", str(f)], env_b).stdout == b"a: secret\n"
    # the real sops updatekeys on dendrite's output keeps it valid for dendrite
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        json.dumps({"creation_rules": [{"key_groups": [{"age": [keys.a.public, keys.b.public]}]}]})
    )
    run_sops(sops_bin, ["--config", str(cfg), "updatekeys", "--yes", str(f)], env_b)
    meta = sops.read_metadata(f.read_bytes(), "yaml", "f")
    assert set(meta.recipients) == {keys.a.public, keys.b.public}
    ids_a = sops.identities_from_text(keys.a.secret)
    assert sops.decrypt(f.read_bytes(), ids_a, input_format="yaml") == b"a: secret\n"


def test_rotate_changes_data_key_and_sops_still_reads(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    f = tmp_path / "r.json"
    f.write_bytes(sops.encrypt(b'{"k": "v"}', [keys.a.public], input_format="json"))
    old = sops.decrypt_document(f.read_bytes(), "json", keys.identities, where="f").data_key
    f.write_bytes(sops.rotate(f.read_bytes(), keys.identities, fmt="json", where="f"))
    new = sops.decrypt_document(f.read_bytes(), "json", keys.identities, where="f").data_key
    assert old != new
    assert json.loads(run_sops(sops_bin, ["decrypt", str(f)], keys.env).stdout) == {"k": "v"}


def test_comment_selected_rules_read_from_sops_yaml(tmp_path: Path, keys: Keys, sops_bin: str) -> None:
    src = (
        "# sops:enc\npassword: hunter2\nport: 5432\nnested:\n    # sops:enc\n    token: abc\n    plain: visible\n"
        "list:\n    - a\n    - b\n"
    )
    expected = {
        "password": "hunter2",
        "port": 5432,
        "nested": {"token": "abc", "plain": "visible"},
        "list": ["a", "b"],
    }
    for rule in ("encrypted_comment_regex", "unencrypted_comment_regex"):
        for moe in (False, True):
            f = tmp_path / f"{rule}-{moe}.yaml"
            f.write_text(src)
            cfg = tmp_path / ".sops.yaml"
            cfg.write_text(
                json.dumps(
                    {"creation_rules": [{"age": keys.a.public, rule: "sops:enc", "mac_only_encrypted": moe}]}
                )
            )
            run_sops(sops_bin, ["--config", str(cfg), "encrypt", "--in-place", str(f)], keys.env)
            raw = f.read_text()
            assert ("hunter2" in raw) == (rule == "unencrypted_comment_regex"), raw
            doc = sops.decrypt_document(f.read_bytes(), "yaml", keys.identities, where=str(f))
            assert to_plain(doc.branches[0]) == expected
            assert doc.metadata.rule.kind == rule
