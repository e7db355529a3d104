"""The one error hierarchy of dendrite.

Every failure caused by input (files, arguments, keys, the environment) is a DendriteError with a
one-sentence message saying what and where, and an optional hint saying what to do. The CLI turns it
into a clean message and exit code 2; anything else is a bug and shows a traceback only with --debug.
"""

from __future__ import annotations


class DendriteError(Exception):
    """Base of every user-facing error."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(DendriteError):
    """Bad arguments or bad file contents."""


class NameError_(InputError):
    """A user, machine, group or secret name that clan would reject."""


class SopsError(DendriteError):
    """A SOPS file that cannot be parsed, decrypted or verified."""


class MacMismatchError(SopsError):
    """The file's MAC does not match its contents: it was tampered with or damaged."""


class NoKeyError(SopsError):
    """None of the available age identities can open the file's data key."""


class StoreError(DendriteError):
    """The clan sops/ store is inconsistent (missing admin, broken link, bad key.json...)."""


class LockError(DendriteError):
    """Another dendrite process holds the repository lock."""


class UnsafePathError(InputError):
    """A repository path dendrite refuses to use: a symlink, a special file, too large, or outside the root."""


class ToolMissing(DendriteError):
    """A program dendrite needs (nix, git, bwrap, ssh...) is not installed or not on PATH."""

    def __init__(self, tool: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.tool = tool


class CommandError(DendriteError):
    """A program dendrite ran failed: the command, its exit code (None on a timeout) and its output.

    The message is one sentence ending with the last line the program wrote to stderr, which is what
    the user needs; the rest of stderr's tail and stdout stay on the exception for --debug and callers.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        command: tuple[str, ...],
        returncode: int | None,
        stdout: bytes = b"",
        stderr_tail: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.command = command
        self.returncode = returncode
        self.stdout = stdout
        self.stderr_tail = stderr_tail


class CommandTimeout(CommandError):
    """A program dendrite ran did not finish within its time limit and was killed."""


class NixEvalError(CommandError, InputError):
    """`nix eval` rejected the flake: the flake is the user's input, so this is an InputError too."""


class JsonTooDeepError(InputError):
    """JSON nested deeper than `boundedjson.MAX_DEPTH`."""


class NestedTooDeepError(InputError):
    """A Nix expression nests deeper than `nixlang.evaluate.MAX_EVAL_DEPTH` evaluations."""


class SchemaError(InputError):
    """A value of clan's inventory that its schema rejects (a wrong type, an unknown key...)."""


class ConflictError(InputError):
    """Two inventory sources define the same value differently."""


class SandboxUnavailable(DendriteError):
    """Generator scripts are to run under bwrap, and bwrap does not run here."""


class ScriptFailed(DendriteError):
    """A generator's script exited non-zero or ran over its time limit."""


class DrvParseError(InputError):
    """A .drv file that is not Nix's ATerm `Derive(...)`: where (byte offset) and what was expected."""

    def __init__(self, message: str, hint: str | None = None, *, offset: int = 0) -> None:
        super().__init__(message, hint)
        self.offset = offset
