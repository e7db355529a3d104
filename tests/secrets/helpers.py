"""Building clan sops/ trees the way clan-core does, with the real sops binary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.conftest import run_sops


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(target, link_path.parent), link_path)


def write_key(directory: Path, public: str, legacy: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body: object = {"publickey": public, "type": "age"}
    (directory / "key.json").write_text(json.dumps(body if legacy else [body], indent=2))


def clan_encrypt(
    sops_bin: str, env: dict[str, str], tmp: Path, secret_dir: Path, value: bytes, recipients: list[str]
) -> None:
    """clan's encrypt_secret: temp config with one key group, extension-less temp file, in-place encrypt."""
    cfg = tmp / "clan-sops-config.json"
    cfg.write_text(json.dumps({"creation_rules": [{"key_groups": [{"age": recipients, "pgp": []}]}]}))
    plain = tmp / "clan-plaintext"
    plain.write_bytes(value)
    run_sops(sops_bin, ["--config", str(cfg), "encrypt", "--in-place", str(plain)], env)
    secret_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(plain, secret_dir / "secret")
