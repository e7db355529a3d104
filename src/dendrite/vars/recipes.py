"""The built-in generators, in Python: clan's file names and formats, without shell or Nix.

Each recipe takes what the generator has (its machine, dependencies' files, prompt answers, validation)
and returns the bytes of every declared file.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
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
    """n random words joined by '-', from xkcdpass's list (what clan's generators run)."""
    if not _WORDS:
        _WORDS.extend(
            xkcd_password.generate_wordlist(
                wordfile=xkcd_password.locate_wordfile(), min_length=3, max_length=9
            )
        )
    return str(xkcd_password.generate_xkcdpassword(_WORDS, numwords=n, delimiter="-"))


def crypt_hash(password: str) -> bytes:
    """SHA-512 crypt(3) ($6$), which NixOS accepts for hashedPasswordFile; glibc's default rounds."""
    return str(sha512_crypt.using(rounds=5000).hash(password)).encode()


def _ed25519(comment: str = "") -> tuple[bytes, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public + (b" " + comment.encode() if comment else b"") + b"\n"


def ssh_ed25519(r: RecipeInput) -> dict[str, bytes]:
    private, public = _ed25519()
    return {"ssh.id_ed25519": private, "ssh.id_ed25519.pub": public}


def ssh_rsa(r: RecipeInput) -> dict[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return {"ssh.id_rsa": private, "ssh.id_rsa.pub": public + b"\n"}


def ssh_ca(r: RecipeInput) -> dict[str, bytes]:
    private, public = _ed25519()
    return {"id_ed25519": private, "id_ed25519.pub": public}


def ssh_root(r: RecipeInput) -> dict[str, bytes]:
    private, public = _ed25519(f"root@{r.machine}")
    return {"id_ed25519": private, "id_ed25519.pub": public}


def ssh_host_certificate(r: RecipeInput) -> dict[str, bytes]:
    """The host key signed by the clan's CA: identity <machine>, principals <machine>.<domain> per domain."""
    try:
        host_pub = r.inputs["openssh"]["ssh.id_ed25519.pub"]
        ca_key = r.inputs["openssh-ca"]["id_ed25519"]
    except KeyError as exc:
        raise InputError(f"openssh-cert needs the file {exc} from its dependencies") from None
    ca = serialization.load_ssh_private_key(ca_key, password=None)
    host = serialization.load_ssh_public_identity(host_pub)
    domains = list((r.validation or {}).get("domains", {}).values()) if isinstance(r.validation, dict) else []
    now = dt.datetime.now(dt.UTC)
    cert = (
        serialization.SSHCertificateBuilder()
        .public_key(host)  # type: ignore[arg-type]
        .type(serialization.SSHCertificateType.HOST)
        .key_id(r.machine.encode())
        .valid_principals([f"{r.machine}.{d}".encode() for d in domains] or [r.machine.encode()])
        .serial(int.from_bytes(__import__("os").urandom(8), "big"))
        .valid_after(int((now - dt.timedelta(minutes=5)).timestamp()))
        .valid_before(int((now + dt.timedelta(days=3650)).timestamp()))
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
    return prompted if prompted else words(n)


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
