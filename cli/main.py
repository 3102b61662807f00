"""`avatar-studio`: the headless front door. With no arguments it opens the studio window (cli/launcher.py).

Every subcommand prints one line `error: ...` and exits non-zero on bad input — no traceback
(set AVATAR_STUDIO_DEBUG=1 to see one).
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import warnings

from ..core.errors import CancelledError, StudioError
# At import, not in `main`: a Ctrl-C during this import meets the package's one-line hook, not a silent exit.
from ..core.io.atomic import Terminated, sigterm_unwinds


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. SIGTERM unwinds (writers remove their temp files) and exits 143; Ctrl-C exits 130."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        with sigterm_unwinds(), warnings.catch_warnings():
            if not os.environ.get("AVATAR_STUDIO_DEBUG"):  # numpy's notes on damaged values break the one line
                warnings.simplefilter("ignore", RuntimeWarning)
            return _run(argv)
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


def _caused_by_interrupt(err: BaseException) -> bool:
    """True when a Ctrl-C is behind `err` (a C extension's import turns KeyboardInterrupt into ImportError)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def _run(argv: list[str]) -> int:
    try:
        from ..core.io.atomic import sweep_stale
        sweep_stale(tempfile.gettempdir())  # scratch folders a killed run left behind
        if not argv:  # the window: skip building the parser
            from .launcher import open_window
            return open_window([])
        from .parser import build_parser
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0
        return int(args.func(args) or 0)
    except CancelledError as err:
        print(f"cancelled: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except StudioError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, whatever the message
        return 2
    except Exception as err:  # a bug: one line for users, full trace with AVATAR_STUDIO_DEBUG
        if _caused_by_interrupt(err):
            print("cancelled", file=sys.stderr)
            return 130
        if os.environ.get("AVATAR_STUDIO_DEBUG"):
            raise
        from ..core.io.safe import excerpt
        print(f"internal error: {type(err).__name__}: {excerpt(str(err), 200)} (set AVATAR_STUDIO_DEBUG=1 for details)",
              file=sys.stderr)
        return 3


def entry() -> None:
    """The `avatar-studio` console script: `main`, then exit with its code. Once the work is done SIGINT is
    ignored (a process-wide disposition that Python keeps through its shutdown; blocking would cover the
    main thread only), so a Ctrl-C that only races the exit cannot turn it into a signal death."""
    try:
        code = main()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:  # arrived between main's return and the line above
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    entry()
