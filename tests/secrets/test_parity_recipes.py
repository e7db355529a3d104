"""Issue 10, item 10: the built-in recipes produce what clan's generator scripts produce.

clan-core `clanServices/users/default.nix` and `clanServices/admin/root-password.nix`:
`echo "$prompt_value" | tr -d "\\n" > $out/…password`, else `xkcdpass --numwords 6 --delimiter - --count 1
| tr -d "\\n"`, then `mkpasswd -s < password | tr -d "\\n"`. `clanServices/sshd/default.nix`:
`ssh-keygen -t ed25519 -N "" -C ""` (and `-C "root@<machine>"` for openssh-root), and openssh-cert runs
`ssh-keygen -s ca -I <machine> -h -n <machine>.<domain>,…` with no `-V` and no `-z`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from xkcdpass import xkcd_password

from dendrite.vars.recipes import (
    RecipeInput,
    root_password,
    ssh_ca,
    ssh_ed25519,
    ssh_host_certificate,
    ssh_root,
    user_password,
    words,
)


def _input(gen: str, prompts: dict[str, str] | None = None, **kw: object) -> RecipeInput:
    return RecipeInput("cinnabar", gen, kw.get("inputs", {}), prompts or {}, kw.get("validation"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("recipe", "prompt", "files"),
    [
        (user_password, "user-password", ("user-password", "user-password-hash")),
        (root_password, "password", ("password", "password-hash")),
    ],
)
def test_prompted_password_loses_its_newlines(recipe: object, prompt: str, files: tuple[str, str]) -> None:
    """ "hunter2\\n" from a pipe is stored as "hunter2", and the hash is of "hunter2": checked with the real
    `openssl passwd -6` and the hash's own salt."""
    out = recipe(_input("g", {prompt: "hunter2\n"}))  # type: ignore[operator]
    assert out[files[0]] == b"hunter2"
    hashed = out[files[1]].decode()
    assert "\n" not in hashed
    salt = hashed.split("$")[2]
    real = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=b"hunter2",
        capture_output=True,
        check=True,
    )
    assert real.stdout.decode().strip() == hashed


def test_an_answer_of_newlines_only_is_no_answer() -> None:
    """`[[ -n "$(cat prompt)" ]]` is false for newlines only: six words are generated instead."""
    pw = user_password(_input("user-password", {"user-password": "\n\n"}))["user-password"].decode()
    assert len(pw.split("-")) == 6


def _six_words(parts: list[str], allowed: set[str], n: int = 6) -> bool:
    """Whether `parts` (split at '-') are n allowed words; eff-long has words with a '-' (yo-yo)."""
    if not parts:
        return n == 0
    return any(
        "-".join(parts[:i]) in allowed and _six_words(parts[i:], allowed, n - 1)
        for i in range(1, len(parts) + 1)
    )


def test_passwords_are_six_words_of_xkcdpass_defaults() -> None:
    """xkcdpass's defaults as clan calls it: the eff-long list, words of 5 to 9 characters, '-' between."""
    allowed = set(xkcd_password.generate_wordlist(wordfile=xkcd_password.locate_wordfile()))
    assert allowed and all(5 <= len(w) <= 9 for w in allowed)
    for _ in range(200):
        pw = words()
        assert _six_words(pw.split("-"), allowed), pw


def test_public_keys_carry_ssh_keygens_trailing_space(tmp_path: Path) -> None:
    """The `.pub` file of `ssh-keygen -C ""` ends with " \\n" (an empty comment); ours ends the same way,
    and the root key keeps its comment in the private key as `ssh-keygen -C root@<m>` does."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(tmp_path / "real")], check=True
    )
    real = (tmp_path / "real.pub").read_bytes()
    ours = ssh_ed25519(_input("openssh"))["ssh.id_ed25519.pub"]
    assert real.endswith(b" \n") and ours.endswith(b" \n")
    assert len(real.split(b" ")) == len(ours.split(b" ")) == 3
    root = ssh_root(_input("openssh-root"))
    assert root["id_ed25519.pub"].endswith(b" root@cinnabar\n")
    key = tmp_path / "root"
    key.write_bytes(root["id_ed25519"])
    key.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, check=True).stdout
    assert derived == root["id_ed25519.pub"]


def test_host_certificate_is_serial_zero_and_valid_forever(tmp_path: Path) -> None:
    host, ca = ssh_ed25519(_input("openssh")), ssh_ca(_input("openssh-ca"))
    validation = {"name": "cinnabar", "domains": {"lan": "lan", "example.org": "example.org"}}
    cert = ssh_host_certificate(
        _input("openssh-cert", inputs={"openssh": host, "openssh-ca": ca}, validation=validation)
    )
    path = tmp_path / "ssh.id_ed25519-cert.pub"
    path.write_bytes(cert["ssh.id_ed25519-cert.pub"])
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, check=True, text=True
    ).stdout
    assert re.search(r"^\s+Serial: 0$", shown, re.M) and re.search(r"^\s+Valid: forever$", shown, re.M)
    assert re.search(r'Key ID: "cinnabar"', shown) and "host certificate" in shown
    principals = shown.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["cinnabar.example.org", "cinnabar.lan"]
    assert re.search(r"Critical Options: \(none\)\n\s+Extensions: \(none\)", shown)
    # the same as the real ssh-keygen signs with clan's arguments
    (tmp_path / "ca").write_bytes(ca["id_ed25519"])
    (tmp_path / "ca").chmod(0o600)
    (tmp_path / "h.pub").write_bytes(host["ssh.id_ed25519.pub"])
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-s",
            str(tmp_path / "ca"),
            "-I",
            "cinnabar",
            "-h",
            "-n",
            "cinnabar.example.org,cinnabar.lan",
            str(tmp_path / "h.pub"),
        ],
        check=True,
        capture_output=True,
    )
    real = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(tmp_path / "h-cert.pub")], capture_output=True, check=True, text=True
    ).stdout
    strip = lambda text: [ln for ln in text.splitlines()[1:] if "Public key:" not in ln]  # noqa: E731
    assert strip(real) == strip(shown)
