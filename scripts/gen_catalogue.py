#!/usr/bin/env python3
"""Regenerate src/dendrite/data/clan-services.json from a clan-core checkout, with dendrite's own parser.

    .venv/bin/python scripts/gen_catalogue.py /work/clan-core \\
        --revision d7c35d9127af3f773b57d8e792818597a9aaa29c --date 2026-08-22

The output is deterministic (sorted keys, indent 1): running it again on the same clan-core gives the
same bytes, which tests/inventory/test_catalogue_data.py checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dendrite.inventory.clanservices import catalogue_data

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "src" / "dendrite" / "data" / "clan-services.json"


def render(clan_core: Path, revision: str, date: str) -> str:
    data = catalogue_data(clan_core / "clanServices", revision, date)
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clan_core", type=Path, help="a clan-core source tree (with clanServices/)")
    ap.add_argument("--revision", required=True, help="the clan-core git revision of that tree")
    ap.add_argument("--date", required=True, help="the date of that revision (YYYY-MM-DD)")
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    if not (args.clan_core / "clanServices").is_dir():
        print(f"{args.clan_core} has no clanServices/ directory", file=sys.stderr)
        return 2
    text = render(args.clan_core, args.revision, args.date)
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
