"""Property tests of the two readers items 6 and 8 added, against clan's rule and the real Nix.

clan-core `pkgs/clan-cli/clan_cli/secrets/sops.py` (`get_public_age_keys`): the public keys of a key
file's `AGE-SECRET-KEY-` lines and any recipient named on a line. `clan.core.sops.defaultGroups`
(`clan_lib/nix_selectors.py`, `vars_sops_default_groups`) is a Nix list of group names: what dendrite
reads statically must be what `nix-instantiate --eval` gives.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dendrite.nixlang import to_nix
from dendrite.secrets.defaults import static_default_groups
from dendrite.secrets.whoami import public_keys_in
from tests.conftest import AgeKey, new_key

_KEYS = [new_key() for _ in range(4)]
_COMMENT = st.text(
    st.characters(codec="ascii", exclude_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"), max_size=30
).filter(lambda t: "age1" not in t and "ssh-" not in t)
_LINE = st.one_of(
    st.sampled_from(_KEYS).map(lambda k: ("secret", k)),
    st.sampled_from(_KEYS).map(lambda k: ("named", k)),
    _COMMENT.map(lambda t: ("comment", t)),
)


@given(st.lists(_LINE, max_size=12))
def test_key_file_public_keys(lines: list[tuple[str, object]]) -> None:
    text, want = [], set()
    for kind, item in lines:
        if kind == "comment":
            text.append(f"# {item}")
        else:
            assert isinstance(item, AgeKey)
            text.append(item.secret if kind == "secret" else f"# public key: {item.public}")
            want.add(item.public)
    assert set(public_keys_in("\n".join(text), "f")) == want


_GROUP = st.from_regex(r"[a-z_][a-z0-9_-]{0,10}", fullmatch=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_GROUP, max_size=5), st.booleans())
def test_static_groups_equal_nix_eval(groups: list[str], nested: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        body = (
            f"{{ clan = {{ core.sops = {{ defaultGroups = {to_nix(groups)}; }}; }}; }}"
            if nested
            else f"{{ clan.core.sops.defaultGroups = {to_nix(groups)}; }}"
        )
        (root / "flake.nix").write_text(body + "\n")
        res = subprocess.run(
            [
                "nix-instantiate",
                "--eval",
                "--strict",
                "--json",
                "-E",
                f"(import {root}/flake.nix).clan.core.sops.defaultGroups",
            ],
            capture_output=True,
            check=True,
        )
        real = json.loads(res.stdout)
        assert list(static_default_groups(root).everywhere) == list(dict.fromkeys(real))
