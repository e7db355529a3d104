"""Migration control: the seed's plan (phases, criteria, red flags) made executable.

Below the CLI and above the engines: probes call `dendrite.layout`, `dendrite.inventory`,
`dendrite.vars` and `dendrite.secrets` directly, never the CLI. The plan lives in
`migration/plan.toml` (editable by hand), what happened in the append-only `migration/journal.jsonl`.
The library never prints; `dendrite.cli.migrate_cmd` renders.
"""

PLAN_FILE = "migration/plan.toml"
JOURNAL_FILE = "migration/journal.jsonl"
