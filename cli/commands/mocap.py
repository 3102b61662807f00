"""`avatar-studio mocap VIDEO -o MOTION.npz`: motion capture from a video, offline on the CPU.

Ctrl-C cancels cleanly (the capture stops at the next frame or solver step, nothing is written).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from ...core.errors import InputError


def register(subparsers) -> None:
    sp = subparsers.add_parser(
        "mocap", help="video -> SMPL-X motion (offline, CPU)",
        description="Capture one person's motion from a video (mp4/mov/webm...) or a folder of frame pictures, "
                    "and write it as a motion: .npz (AMASS), .bvh, or a folder name (LHM smplx_params). "
                    "Needs the optional landmark model: avatar-studio install-landmarks")
    sp.add_argument("video", help="video file, or a folder of frame pictures")
    sp.add_argument("-o", "--output", required=True, help="motion to write: .npz, .bvh, or a folder (LHM)")
    sp.add_argument("--start", type=float, default=None, help="start time in seconds (default: 0)")
    sp.add_argument("--end", type=float, default=None, help="end time in seconds (default: the end)")
    sp.add_argument("--stride", type=int, default=1, help="use every N-th frame (default 1)")
    sp.add_argument("--fps", type=float, default=None,
                    help="frame rate of the source (default: the video's; 30 for picture folders)")
    sp.add_argument("--fov", type=float, default=60.0,
                    help="guessed camera field of view across the long side, degrees (default 60)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sp.set_defaults(func=cmd_mocap)


@contextlib.contextmanager
def _native_logs_muted():
    """Send what native libraries write to file descriptor 2 (mediapipe's TensorFlow Lite and absl
    start-up chatter) to /dev/null, while Python's own stderr (progress, errors) still shows."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real stderr (e.g. captured by a test runner)
        yield
        return
    python_stderr = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        for fd in (devnull, saved):
            os.close(fd)
        sys.stderr.close()
        sys.stderr = python_stderr


def cmd_mocap(args: argparse.Namespace) -> int:
    from ..progress import ConsoleProgress
    from ...core.mocap.pipeline import MocapSettings, capture_motion
    from ...core.motion.detect import save_motion
    from ...core.jobs import CancelToken
    out = Path(args.output)
    if out.suffix.lower() not in (".npz", ".bvh", ""):
        raise InputError(f"Cannot write a motion to '{out.name}': use .npz, .bvh, or a folder name (LHM).")
    settings = MocapSettings()
    settings.fit.fov_deg = float(args.fov)
    if not 10.0 <= settings.fit.fov_deg <= 150.0:
        raise InputError(f"Field of view must be between 10 and 150 degrees, got {args.fov}.")
    token = CancelToken()
    prog = ConsoleProgress("mocap", args.quiet)
    previous = None
    if threading.current_thread() is threading.main_thread():
        def on_sigint(signum, frame):  # first Ctrl-C: cancel cleanly; a second one interrupts
            token.cancel()
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)
        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with _native_logs_muted():
            result = capture_motion(args.video, fps=args.fps, start=args.start, end=args.end, stride=args.stride,
                                    progress=prog.stage, cancel=token, settings=settings)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    save_motion(result.motion, out)
    d = result.diagnostics
    prog.done(f"{d.frames} frames ({d.detected} with a person) at {result.motion.fps:g} fps, "
              f"{d.fps:.1f} frames/s -> {out}")
    if not args.quiet:
        for note in d.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0
