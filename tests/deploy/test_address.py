"""`[user@]host[:port]` as clan's Remote.from_ssh_uri reads it (clan_lib/ssh/remote.py `_parse_ssh_uri`):
user root when not given, an optional port, IPv6 in brackets; anything else one clear InputError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrite.deploy.ssh import Address, SshConfig, hostkey_options, parse_address
from dendrite.errors import InputError

NAME = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)


@given(user=NAME, host=NAME, port=st.one_of(st.none(), st.integers(1, 65535)))
def test_an_address_reads_back_as_written(user: str, host: str, port: int | None) -> None:
    text = f"{user}@{host}" + (f":{port}" if port else "")
    a = parse_address(text)
    assert a == Address(host, user, port)
    assert parse_address(str(a)) == a


@given(st.text(max_size=40))
def test_any_text_is_an_address_or_one_input_error(text: str) -> None:
    try:
        a = parse_address(text)
    except InputError as exc:
        assert "\n" not in exc.message
        return
    assert not a.host.startswith("-") and parse_address(str(a)) == a


def test_defaults_and_ipv6() -> None:
    assert parse_address("cinnabar.zt") == Address("cinnabar.zt", "root", None)
    v6 = parse_address("[fd00::1]:2222")
    assert v6 == Address("fd00::1", "root", 2222)
    assert parse_address(str(v6)) == v6
    assert v6.url("ssh-ng") == "ssh-ng://root@[fd00::1]"
    for bad in ("", "a b", "root@", "host:0", "host:99999", "-oProxyCommand=x", "u@-x"):
        with pytest.raises(InputError):
            parse_address(bad)


def test_host_key_modes_are_clans() -> None:
    """clan_lib/ssh/host_key.py hostkey_to_ssh_opts."""
    assert hostkey_options("strict") == ["-o", "StrictHostKeyChecking=yes"]
    assert hostkey_options("accept-new") == ["-o", "StrictHostKeyChecking=accept-new"]
    assert hostkey_options("none") == ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    with pytest.raises(InputError):
        SshConfig(options=("-oProxyCommand=evil",))
