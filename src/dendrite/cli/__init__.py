"""The command line: argument parsing and rendering only; all work is done by the library.

`cli.main` imports `helpfmt`, which sets the shape of every command's help before any command is
built; not here, so that `dendrite --version` (cli.entry) imports no framework at all.
"""

import _signal  # type: ignore[import-not-found]  # the C module Python has loaded: no import work before the handler
import os  # loaded by the interpreter's own start-up (site): no import work either


def _interrupted_at_start(signum: int, frame: "FrameType | None") -> None:  # quoted: `types` comes after
    # Ctrl-C while the CLI is still being imported: nothing has been read or written yet, and a
    # traceback from the middle of an import would be noise. `cli.boundary.run` replaces this handler.
    os.write(2, b"interrupted; nothing was changed\n")
    os._exit(130)


_signal.signal(_signal.SIGINT, _interrupted_at_start)

# after the handler: `types` may not be loaded yet, and a Ctrl-C while it loads would be a traceback
from types import FrameType  # noqa: E402  (the handler's annotation only)
