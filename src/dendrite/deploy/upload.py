"""`vars upload`: the machine's age key and its activation secrets, put in place on the machine in one step.

What is uploaded is clan's (`clan_lib/vars/secret_modules/sops.py`, `SecretStore.populate_dir` and
`upload`, called by `clan_lib/vars/upload.py` with the phases activation, users and services):

- `key.txt`: the machine's age key, the secret `sops/secrets/<machine>-age.key` decrypted;
- `activation/<rel_dir>/<file>` for every secret file with `neededFor = "activation"`, where rel_dir is
  clan's `per-machine/<machine>/<generator>` or `shared/<generator>` (the path the NixOS module
  `clanCore/vars/secret/sops/default.nix` gives the file).

On the machine (`clan_lib/ssh/upload.py` `upload`) everything is owned by root, directories 0700 and
files 0400, whatever was declared: the tarball's modes decide, as in clan. With `--directory` the tree
is written locally as `populate_dir` writes it: key.txt 0600 and each file with its declared mode.

Where dendrite differs, on purpose: clan empties the destination (`find -mindepth 1 -delete`) and then
extracts the tarball, so a cut connection leaves the machine without its key. dendrite extracts into a
staging directory beside the destination, checks that the whole stream arrived (a marker carrying a
nonce is the archive's last member), and switches in one rename: the destination is a symbolic link to
the current generation directory, replaced by `mv -T` (rename(2) of a link over a link). At every
moment the machine holds the previous complete set or the new one. A destination that is still a real
directory (made by clan) is exchanged with the link by `mv --exchange` where coreutils has it
(renameat2 RENAME_EXCHANGE), else moved aside and replaced by two renames a few microseconds apart,
once. Staging and old generations (`.<name>.dendrite-*` beside the destination) are removed after the
switch, including those a killed run left behind.

Plaintext stays in memory: the tar stream is built here and fed to ssh's stdin. Only `--directory`
writes it to disk, because that is what was asked for.
"""

from __future__ import annotations

import io
import os
import re
import secrets as pysecrets
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dendrite.deploy.ssh import Connection
from dendrite.errors import CommandError, DendriteError, InputError
from dendrite.secrets.store import SecretsStore
from dendrite.text import did_you_mean

DEFAULT_UPLOAD_DIR = "/var/lib/sops-nix"  # clan.core.vars.sops.secretUploadDirectory's default
PHASES = ("activation", "users", "services")  # clan_lib/vars/upload.py upload_secret_vars
MARKER = ".dendrite-complete"
UPLOAD_TIMEOUT = 300.0

Progress = Callable[[str], None] | None


class UploadCut(DendriteError):
    """The stream did not arrive whole; the machine kept its previous set."""


@dataclass(frozen=True)
class PayloadFile:
    path: str  # relative, POSIX: "key.txt", "activation/per-machine/m/gen/file"
    data: bytes
    mode: int  # the declared mode, used by --directory; on the machine every file is 0400


@dataclass(frozen=True)
class Payload:
    machine: str
    files: tuple[PayloadFile, ...]

    @property
    def size(self) -> int:
        return sum(len(f.data) for f in self.files)


def collect(root: Path, machine: str, store: SecretsStore | None = None) -> Payload:
    """clan's populate_dir for the phases activation, users and services, decrypted in memory."""
    from dendrite.vars.sources import machine_generators
    from dendrite.vars.storage import VarsStore

    _, per_machine = machine_generators(root)
    if machine not in per_machine:
        raise InputError(
            f"machine '{machine}' is not in the inventory", hint=did_you_mean(machine, tuple(per_machine))
        )
    secrets = store or SecretsStore(root)
    key_name = f"{machine}-age.key"
    if key_name not in secrets.secrets():
        # clan uploads nothing then (populate_dir returns early); dendrite refuses instead of emptying
        # the machine's directory, which is what clan's upload of an empty tarball would do
        raise InputError(
            f"machine '{machine}' has no age key in sops/secrets ({key_name} is missing): nothing to upload",
            hint=f"run 'dendrite vars generate {machine}', which makes the machine's key",
        )
    files = [PayloadFile("key.txt", secrets.get(key_name), 0o600)]
    vs = VarsStore(root, secrets)
    for gen in sorted(per_machine[machine].values(), key=lambda g: g.name):
        for f in gen.files:
            if f.needed_for == "activation" and f.secret:
                path = f"activation/{gen.rel_dir(machine)}/{f.name}"
                files.append(PayloadFile(path, vs.read(gen, machine, f.name), int(f.mode, 8)))
    return Payload(machine, tuple(files))


def tar_stream(payload: Payload, nonce: str) -> bytes:
    """The archive clan's upload makes (root-owned, directories 0700, files 0400), then the marker."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()

        def add(name: str, data: bytes | None) -> None:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = now
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o700
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o400
                tar.addfile(info, io.BytesIO(data))

        for f in payload.files:
            parts = PurePosixPath(f.path).parts
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    add(d, None)
            add(f.path, f.data)
        add(MARKER, nonce.encode())
    return buf.getvalue()


# The remote side: POSIX sh and tools plus `mv -T` (GNU; `mv -h` on BSD). $1 the destination, $2 the nonce.
# Signals of a dropped connection are ignored: once the stream is complete the switch must finish.
REMOTE_SCRIPT = r"""set -u
trap '' HUP PIPE
dest=$1 nonce=$2
parent=${dest%/*}
base=${dest##*/}
umask 077
mkdir -p -- "$parent" || exit 65
gen=.$base.dendrite-$nonce
stage=$parent/$gen.new
rm -rf -- "$stage"
mkdir -m 700 -- "$stage" || exit 65
if ! tar -xf - -C "$stage" || [ "$(cat -- "$stage/.dendrite-complete" 2>/dev/null)" != "$nonce" ]; then
  rm -rf -- "$stage"
  echo "dendrite: the upload stream was cut short; $dest is unchanged" >&2
  exit 75
fi
rm -f -- "$stage/.dendrite-complete"
find "$stage" -type d -exec chmod 700 {} + && find "$stage" -type f -exec chmod 400 {} + || exit 65
if [ "$(id -u)" = 0 ]; then chown -R 0:0 "$stage" || exit 65; fi
find "$stage" -type f -exec sync -- {} + 2>/dev/null || sync
mv -- "$stage" "$parent/$gen" || exit 65
ln -s -- "$gen" "$parent/$gen.link" || exit 65
swap() { mv -fT -- "$1" "$2" 2>/dev/null || mv -fh -- "$1" "$2"; }
if [ -d "$dest" ] && [ ! -L "$dest" ]; then
  if mv --exchange -T -- "$parent/$gen.link" "$dest" 2>/dev/null; then
    mv -T -- "$parent/$gen.link" "$parent/.$base.dendrite-legacy" || exit 65
  else
    rm -rf -- "$parent/.$base.dendrite-legacy"
    mv -- "$dest" "$parent/.$base.dendrite-legacy" && swap "$parent/$gen.link" "$dest" || exit 65
  fi
else
  swap "$parent/$gen.link" "$dest" || exit 65
fi
for old in "$parent"/.$base.dendrite-*; do
  [ "$old" = "$parent/$gen" ] || rm -rf -- "$old"
done
echo "$parent/$gen"
"""

_SAFE = re.compile(r"^[A-Za-z0-9._+@-]+$")
MIN_SAFE_DEPTH = 3  # clan_lib/ssh/upload.py: at least /a/b/c ...
MIN_EXCEPTION_DEPTH = 2  # ... or /tmp/x, /root/x, /etc/x


def check_destination(dest: str) -> PurePosixPath:
    """An absolute path of plain names, deep enough by clan's rule (its upload empties the destination;
    dendrite removes only its own siblings, but a shallow path is a mistake either way)."""
    path = PurePosixPath(dest)
    if not path.is_absolute() or any(not _SAFE.match(p) or p in (".", "..") for p in path.parts[1:]):
        raise InputError(
            f"upload directory {dest!r} is not an absolute path of plain names",
            hint=f"the default is {DEFAULT_UPLOAD_DIR}",
        )
    depth = len(path.parts) - 1
    exception = depth >= MIN_EXCEPTION_DEPTH and path.parts[1] in ("tmp", "root", "etc")
    if depth < MIN_SAFE_DEPTH and not exception:
        raise InputError(
            f"upload directory {dest!r} is too shallow (depth {depth})",
            hint="as clan: at least 3 levels (/var/lib/sops-nix), or 2 below /tmp, /root or /etc",
        )
    return path


@dataclass(frozen=True)
class UploadResult:
    machine: str
    destination: str
    generation: str  # the directory the destination now points to
    files: int
    bytes: int
    seconds: float


def upload(
    conn: Connection, payload: Payload, dest: str = DEFAULT_UPLOAD_DIR, progress: Progress = None
) -> UploadResult:
    """Stream the payload to `dest` on the connected host and switch to it in one rename."""
    path = check_destination(dest)
    nonce = pysecrets.token_hex(8)
    data = tar_stream(payload, nonce)
    if progress:
        progress(f"streaming {len(payload.files)} file(s), {len(data)} bytes to {conn.address}:{path}")
    started = time.monotonic()
    out = conn.run(
        ["sh", "-c", REMOTE_SCRIPT, "dendrite-upload", str(path), nonce],
        check=False,
        timeout=UPLOAD_TIMEOUT,
        input=data,
        what=f"the vars upload to {conn.address}",
    )
    if out.returncode == 75:
        raise UploadCut(
            f"the upload to {conn.address} was cut short; {path} there is unchanged",
            "run the same command again",
        )
    if out.returncode != 0:
        raise CommandError(
            f"the vars upload to {conn.address}:{path} failed with exit code {out.returncode}: "
            f"{(out.stderr_tail.splitlines() or ['no error output'])[-1]}",
            "the machine kept its previous set; run with --debug for the remote output",
            command=out.command,
            returncode=out.returncode,
            stderr_tail=out.stderr_tail,
        )
    seconds = time.monotonic() - started
    if progress:
        progress(f"switched {path} in {seconds:.2f} s")
    return UploadResult(
        payload.machine, str(path), out.text.strip(), len(payload.files), payload.size, seconds
    )


def remote_argv(dest: str) -> list[str]:
    """What runs on the machine (for --dry-run): the script with the destination and a fresh nonce."""
    return ["sh", "-c", REMOTE_SCRIPT, "dendrite-upload", str(check_destination(dest)), "<nonce>"]


def write_directory(payload: Payload, directory: Path) -> Path:
    """clan's `vars upload --directory`: the tree as populate_dir writes it, put in place in one rename.

    The tree is built in a private sibling directory and renamed onto `directory`, which must not exist
    or be empty: a non-empty directory is refused before anything is written.
    """
    directory = directory.absolute()
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        raise InputError(f"{directory} exists and is not a directory", hint="name a new or empty directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise InputError(
            f"{directory} is not empty", hint="name a new or empty directory; nothing was written"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    stage = directory.parent / f".{directory.name}.dendrite-{pysecrets.token_hex(6)}"
    os.mkdir(stage, 0o700)
    try:
        for f in payload.files:
            target = stage / f.path
            for d in reversed(target.relative_to(stage).parents[:-1]):
                (stage / d).mkdir(mode=0o700, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(f.data)
                fh.flush()
                os.fsync(fh.fileno())
                # after writing: a declared 0400 has no u+w. Permission bits only: the repository
                # declares the mode, and its generator the bytes, so `4755` must not make a set-uid
                # program of yours (or root's) out of them
                os.fchmod(fh.fileno(), f.mode & 0o777)
        os.rename(stage, directory)  # onto a missing or empty directory: one step
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return directory
