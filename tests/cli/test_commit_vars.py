"""`dendrite vars …` in a git repository: a commit per generator with clan's message; a new var is
tracked, so a git flake sees it.

clan's behaviour: clan_lib/vars/generator.py (`Generator.execute`: "vars: update via generator
{GeneratorId}", str of GeneratorId in clan_lib/vars/_types.py: "<name> (shared)" or
"<name> (machine: <m>)"), clan_lib/vars/set.py ("vars: update <var id> for machine <m>"),
clan_lib/vars/secret_modules/sops.py `ensure_machine_key`.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Keys, run_cli
from tests.gitutil import git, git_env, init, status, subjects
from tests.vars.conftest import PROMPTS, clan  # noqa: F401  (the fixture)


def test_generate_commits_each_generator_and_set_commits_the_var(
    clan: Path,  # noqa: F811
    keys: Keys,
    tmp_path: Path,
) -> None:
    init(clan)  # the fixture's files (inventory, dendrite.toml, sops/) are the first commit
    env = {**keys.env, **git_env(Path(keys.env["HOME"])), "SOPS_AGE_KEY_FILE": str(keys.file)}
    (clan / "notes.txt").write_text("the user's\n")
    pv = tmp_path / "pv.json"
    pv.write_text(json.dumps(PROMPTS))
    cli = ["--repo", str(clan), "vars"]
    res = run_cli([*cli, "generate", "cinnabar", "--prompt-values", str(pv)], env)
    assert res.returncode == 0, res.stderr
    made = subjects(clan)
    keys_made = [m for m in ("cinnabar", "orb", "stibnite") if f"secrets: add machine {m}" in made]
    assert "cinnabar" in keys_made and made[: 2 * len(keys_made)] == [
        line for m in keys_made for line in (f"secrets: update {m}-age.key", f"secrets: add machine {m}")
    ]
    expected = []  # one commit per line of the report ("<machine>: <generator>[ (shared)]"), in its order
    for line in res.stdout.decode().splitlines():
        machine, gen = line.split(": ", 1)
        shared = gen.endswith(" (shared)")
        expected.append(
            (gen.removesuffix(" (shared)"), "shared" if shared else f"machine: {machine}", machine, shared)
        )
    gen_commits = made[2 * len(keys_made) :]
    assert gen_commits == [f"vars: update via generator {g} ({where})" for g, where, _, _ in expected]
    assert "vars: update via generator site-key (shared)" in gen_commits
    for i, (g, _, machine, shared) in enumerate(reversed(expected)):
        under = f"vars/shared/{g}/" if shared else f"vars/per-machine/{machine}/{g}/"
        touched = git(clan, "show", "--name-only", "--format=", f"HEAD~{i}").split()
        assert touched and all(p.startswith(under) for p in touched), (g, touched)
    assert status(clan) == ["?? notes.txt"]  # every new var is tracked: the flake sees it
    assert "vars/per-machine/cinnabar/hello/banner/value" in git(clan, "ls-files").split()

    res = run_cli([*cli, "set", "cinnabar", "hello/greeting", "--force"], env, stdin=b"by hand")
    assert res.returncode == 0, res.stderr
    assert subjects(clan)[-1] == "vars: update hello/greeting for machine cinnabar"
    assert status(clan) == ["?? notes.txt"]

    # the forced set left hello outdated (vars set --force): the next run makes it and its dependent anew,
    # one commit each; a run after that is up to date and commits nothing
    again = run_cli([*cli, "generate", "cinnabar", "--prompt-values", str(pv)], env)
    assert again.returncode == 0 and subjects(clan)[len(made) + 1 :] == [
        "vars: update via generator hello (machine: cinnabar)",
        "vars: update via generator derived (machine: cinnabar)",
    ]
    count = len(subjects(clan))
    again = run_cli([*cli, "generate", "cinnabar", "--prompt-values", str(pv)], env)
    assert again.returncode == 0 and len(subjects(clan)) == count  # up to date: no commit

    res = run_cli(
        [*cli, "keygen"],
        {**env, "SOPS_AGE_KEY_FILE": str(tmp_path / "bob.txt"), "USER": "bob", "LOGNAME": "bob"},
    )
    assert res.returncode == 0, res.stderr
    assert subjects(clan)[-1] == "secrets: add user bob"
    count = len(subjects(clan))
    assert run_cli([*cli, "fix", "cinnabar"], env).returncode == 0
    assert len(subjects(clan)) == count  # nothing to fix: no commit
    plain = tmp_path / "plain"
    assert run_cli([*cli, "export", str(plain)], env).returncode == 0
    res = run_cli([*cli, "import", str(plain)], env)
    assert res.returncode == 0, res.stderr
    assert subjects(clan)[-1] == "vars: import from plain"
    assert status(clan) == ["?? notes.txt"]
