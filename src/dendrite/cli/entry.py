"""The `dendrite` console script: answers `--version` before anything is imported, runs `secrets get`
without the CLI framework (`cli.fast`), and everything else through `main.run`.

Why a module of its own: importing `dendrite.cli.main` imports the CLI framework (Typer, tens of
milliseconds); `dendrite --version`, the probe scripts and packagers run most, needs none of it, and
neither does reading a secret, the commonest command of scripts, nor a plain
`dendrite nix check-syntax PATH...`, which editors and hooks run on every save
(cli.check_syntax.quick; it hands anything it cannot answer to the full CLI).
"""

from __future__ import annotations

import gc
import os
import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from dendrite import __version__

        if sys.stdout is None:  # started with `>&-`: as every command says it (cli.console.ClosedStdout)
            sys.stderr.write("error: cannot write to standard output: it is closed\n")
            sys.exit(2)
        try:
            sys.stdout.write(f"dendrite {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:  # as main.run answers it
            sys.exit(1)
        return
    if _plain_check_syntax(sys.argv[1:]):
        _quick_check_syntax()
    from dendrite.cli import fast

    request = fast.request(sys.argv[1:], os.environ)
    if request is not None:
        fast.run(request)
        return
    try:
        from dendrite.cli.main import run as main_run
    except KeyboardInterrupt:  # Ctrl-C while starting up: nothing has run yet
        sys.stderr.write("interrupted; nothing was changed\n")
        sys.exit(130)
    main_run()


def _plain_check_syntax(args: list[str]) -> bool:
    """`nix check-syntax` and paths only: no option (nor `--`), no empty path (Typer makes it `.`),
    and no shell completion under way (it runs the CLI with the words in its environment)."""
    return (
        args[:2] == ["nix", "check-syntax"]
        and len(args) > 2
        and all(a and not a.startswith("-") for a in args[2:])
        and "_DENDRITE_COMPLETE" not in os.environ
    )


def _quick_check_syntax() -> None:
    """Run `nix check-syntax` through cli.check_syntax.quick and end the process, or return (nothing
    written) for the full CLI to run it.

    The cycle collector waits meanwhile (the imports and the parse make no garbage cycles, yet it would
    walk their objects again and again), and the process ends by os._exit once the output is flushed:
    the interpreter's teardown frees every module and object one by one, a tenth of a small check,
    for a process about to end that has nothing to clean up (no lock, no temporary file, no change).
    """
    gc.disable()
    from dendrite.cli.check_syntax import quick

    code = quick(sys.argv[3:])
    if code is None:
        gc.enable()
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # as main.run answers it
        code = 1
    try:
        sys.stderr.flush()
    finally:
        os._exit(code)
