"""The built-in generators, in Python: clan's file names and formats, without shell or Nix.

Each recipe takes what the generator has (its machine, dependencies' files, prompt answers, validation)
and returns the bytes of every declared file.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from passlib.hash import sha512_crypt
from xkcdpass import xkcd_password

from dendrite.errors import InputError
from dendrite.vars import zerotier


@dataclass(frozen=True)
class RecipeInput:
    machine: str
    generator: str
    inputs: dict[str, dict[str, bytes]]  # dependency -> file -> bytes
    prompts: dict[str, str]
    validation: Any


Recipe = Callable[[RecipeInput], dict[str, bytes]]
_WORDS: list[str] = []


def words(n: int = 6) -> str:
    """`xkcdpass --numwords 6 --delimiter - --count 1 | tr -d "\\n"` (clanServices/users, admin,
    emergency-access): xkcdpass's defaults, the eff-long list and words of 5 to 9 letters, no newline."""
    if not _WORDS:
        _WORDS.extend(
            xkcd_password.generate_wordlist(
                wordfile=xkcd_password.locate_wordfile(), min_length=5, max_length=9
            )
        )
    return str(xkcd_password.generate_xkcdpassword(_WORDS, numwords=n, delimiter="-"))


def crypt_hash(password: str) -> bytes:
    """SHA-512 crypt(3) ($6$), which NixOS accepts for hashedPasswordFile; glibc's default rounds.

    clan runs `mkpasswd -s < password | tr -d "\\n"`: the hash of exactly the stored password, no newline.
    """
    return str(sha512_crypt.using(rounds=5000).hash(password)).encode()


def _openssh_line(blob_line: bytes, comment: str) -> bytes:
    """A public key file as ssh-keygen writes it: `<type> <base64> <comment>\\n`, the space kept when
    the comment is empty (`-C ""`, what clan's generators pass)."""
    return blob_line + b" " + comment.encode() + b"\n"


def _string(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def _openssh_ed25519_private(key: ed25519.Ed25519PrivateKey, comment: str) -> bytes:
    """An unencrypted `openssh-key-v1` file holding `comment`, as `ssh-keygen -C <comment>` writes it
    (cryptography's serializer always writes an empty comment)."""
    raw_pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw_priv = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pub_blob = _string(b"ssh-ed25519") + _string(raw_pub)
    check = os.urandom(4)
    inner = check + check + pub_blob + _string(raw_priv + raw_pub) + _string(comment.encode())
    inner += bytes(range(1, 1 + (-len(inner)) % 8))  # padding 1, 2, 3, … to the cipher block size (8)
    body = b"openssh-key-v1\0" + _string(b"none") + _string(b"none") + _string(b"")
    body += (1).to_bytes(4, "big") + _string(pub_blob) + _string(inner)
    b64 = base64.b64encode(body).decode()
    lines = [b64[i : i + 70] for i in range(0, len(b64), 70)]
    return (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"
    ).encode()


def _ed25519(comment: str = "") -> tuple[bytes, bytes]:
    """`ssh-keygen -t ed25519 -N "" -C <comment>`: the private key file and the `.pub` file."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = _openssh_ed25519_private(key, comment)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, _openssh_line(public, comment)


def ssh_ed25519(r: RecipeInput) -> dict[str, bytes]:
    private, public = _ed25519()
    return {"ssh.id_ed25519": private, "ssh.id_ed25519.pub": public}


def ssh_rsa(r: RecipeInput) -> dict[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return {"ssh.id_rsa": private, "ssh.id_rsa.pub": _openssh_line(public, "")}


def ssh_ca(r: RecipeInput) -> dict[str, bytes]:
    private, public = _ed25519()
    return {"id_ed25519": private, "id_ed25519.pub": public}


def ssh_root(r: RecipeInput) -> dict[str, bytes]:
    private, public = _ed25519(f"root@{r.machine}")
    return {"id_ed25519": private, "id_ed25519.pub": public}


def ssh_host_certificate(r: RecipeInput) -> dict[str, bytes]:
    """The host key signed by the clan's CA as clanServices/sshd runs it: `ssh-keygen -s ca -I <machine> -h
    -n <machine>.<domain>,…` with no `-V` and no `-z`: serial 0, valid forever, no options or extensions.

    The principals are the unique search domains in sorted order (`lib.uniqueStrings`, and the validation's
    `genAttrs` already sorts them). ssh-keygen ends the file with the comment of the key it signed, which is
    the path of that file when the comment is empty (a temporary directory of clan's run); dendrite writes
    no comment.
    """
    try:
        host_pub = r.inputs["openssh"]["ssh.id_ed25519.pub"]
        ca_key = r.inputs["openssh-ca"]["id_ed25519"]
    except KeyError as exc:
        raise InputError(f"openssh-cert needs the file {exc} from its dependencies") from None
    ca = serialization.load_ssh_private_key(ca_key, password=None)
    host = serialization.load_ssh_public_identity(host_pub)
    domains = (r.validation or {}).get("domains", {}) if isinstance(r.validation, dict) else {}
    unique = sorted({str(d) for d in (domains.values() if isinstance(domains, dict) else domains)})
    cert = (
        serialization.SSHCertificateBuilder()
        .public_key(host)  # type: ignore[arg-type]
        .type(serialization.SSHCertificateType.HOST)
        .key_id(r.machine.encode())
        .valid_principals([f"{r.machine}.{d}".encode() for d in unique] or [r.machine.encode()])
        .serial(0)
        .valid_after(0)
        .valid_before(2**64 - 1)  # ssh-keygen's "forever"
        .sign(ca)  # type: ignore[arg-type]
    )
    return {"ssh.id_ed25519-cert.pub": cert.public_bytes() + b"\n"}


def zerotier_identity(r: RecipeInput) -> dict[str, bytes]:
    return {"identity-secret": zerotier.generate_identity().secret_text().encode()}


def _identity_of(r: RecipeInput, prefix: str) -> zerotier.Identity:
    for dep, files in r.inputs.items():
        if dep.startswith(prefix) and "identity-secret" in files:
            return zerotier.parse_identity(files["identity-secret"].decode())
    raise InputError(f"{r.generator} needs a {prefix}* dependency with identity-secret")


def zerotier_network(r: RecipeInput) -> dict[str, bytes]:
    return {"network-id": zerotier.network_id(_identity_of(r, "zerotier-identity-").address).encode()}


def zerotier_ip(r: RecipeInput) -> dict[str, bytes]:
    identity = _identity_of(r, f"zerotier-identity-{r.machine}")
    net = next((f["network-id"] for d, f in r.inputs.items() if d.startswith("zerotier-network-")), None)
    if net is None:
        raise InputError(f"{r.generator} needs the zerotier-network-* dependency")
    ip = zerotier.member_ip(net.decode().strip(), identity.address)
    ipaddress.IPv6Address(ip)
    return {"ip": ip.encode()}


def _password(prompted: str | None, n: int = 6) -> str:
    """A prompted password as clan stores it, else six words.

    clanServices/users and admin/root-password.nix run `echo "$prompt_value" | tr -d "\\n"`: every newline
    goes, so "hunter2\\n" from a pipe is "hunter2" (and the hash is of "hunter2"). An answer that is
    empty once its newlines are gone is no answer (`[[ -n … ]]` on `$(cat …)`): six words are generated.
    """
    value = (prompted or "").replace("\n", "")
    return value if value else words(n)


def emergency_access(r: RecipeInput) -> dict[str, bytes]:
    pw = words(6)
    return {"password": pw.encode(), "password-hash": crypt_hash(pw)}


def root_password(r: RecipeInput) -> dict[str, bytes]:
    pw = _password(r.prompts.get("password"))
    return {"password": pw.encode(), "password-hash": crypt_hash(pw)}


def user_password(r: RecipeInput) -> dict[str, bytes]:
    pw = _password(r.prompts.get("user-password"))
    return {"user-password": pw.encode(), "user-password-hash": crypt_hash(pw)}


def luks_password(r: RecipeInput) -> dict[str, bytes]:
    return {"password": words(6).encode()}


RECIPES: dict[str, Recipe] = {
    "ssh-keygen-ed25519": ssh_ed25519,
    "ssh-keygen-rsa": ssh_rsa,
    "ssh-keygen-ed25519-ca": ssh_ca,
    "ssh-keygen-root": ssh_root,
    "ssh-host-certificate": ssh_host_certificate,
    "zerotier-identity": zerotier_identity,
    "zerotier-network": zerotier_network,
    "zerotier-ip": zerotier_ip,
    "xkcd-password-hash": emergency_access,
    "root-password": root_password,
    "user-password": user_password,
    "luks-password": luks_password,
}


def check_recipe(name: str, at: str) -> Recipe:
    """The built-in recipe `name`, else one sentence naming where it was asked for (`at`) and the
    built-ins: the one check of a recipe's name, whichever source (catalogue, dendrite.toml) named it."""
    recipe = RECIPES.get(name)
    if recipe is None:
        raise InputError(f"{at} '{name}' is not a built-in", hint="built-ins: " + ", ".join(sorted(RECIPES)))
    return recipe
