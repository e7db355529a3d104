"""dendrite.toml gains the luks-password generator for a machine: whatever the file held, the result
is valid TOML, keeps every other value, and lists the machine exactly once."""

from __future__ import annotations

import tomllib

from hypothesis import given
from hypothesis import strategies as st

from dendrite.scaffold.disko import GENERATOR, _config_text

machine_names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@given(
    existing=st.one_of(st.none(), st.lists(machine_names, max_size=4, unique=True)),
    groups=st.lists(machine_names, max_size=3),
    machine=machine_names,
    trailing_newline=st.booleans(),
)
def test_generator_table_is_added_or_extended(
    existing: list[str] | None, groups: list[str], machine: str, trailing_newline: bool
) -> None:
    text = "[secrets]\ndefault_groups = " + str(groups).replace("'", '"') + "\n"
    if existing is not None:
        text += (
            f'\n[generators.{GENERATOR}]\nrecipe = "{GENERATOR}"\n'
            f'files.password = {{ neededFor = "partitioning" }}\n'
            "machines = " + str(existing).replace("'", '"') + '\n\n[generators.other]\nscript = "true"\n'
        )
    if not trailing_newline:
        text = text.rstrip("\n")
    before = tomllib.loads(text)
    after_text = _config_text(text, machine)
    if existing is not None and machine in existing:
        assert after_text is None
        return
    assert after_text is not None
    after = tomllib.loads(after_text)
    assert after["secrets"] == before["secrets"]
    gen = after["generators"][GENERATOR]
    assert gen["machines"] == [*(existing or []), machine]
    assert gen["files"]["password"]["neededFor"] == "partitioning"
    if existing is not None:
        assert after["generators"]["other"] == {"script": "true"}


def test_no_file_yet() -> None:
    text = _config_text(None, "cinnabar")
    assert text is not None
    assert tomllib.loads(text)["generators"][GENERATOR]["machines"] == ["cinnabar"]
