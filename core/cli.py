"""`avatar-studio`: the headless front door. With no subcommand it opens the studio window.

Every subcommand prints one line `error: ...` and exits non-zero on bad input — no traceback
(set AVATAR_STUDIO_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from .. import RESOURCES_DIR, __version__
from .errors import CancelledError, StudioError

SAMPLE_PHOTO = RESOURCES_DIR / "photos" / "sample_person_1.png"
SAMPLE_MOTION = RESOURCES_DIR / "motions" / "dance.npz"


# ---------------------------------------------------------------------- progress
class ConsoleProgress:
    """Progress on stderr: a redrawn bar on a terminal, a line per stage/10% otherwise."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        self.label, self.quiet = label, quiet
        self.tty = sys.stderr.isatty()
        self._last: tuple[str, int] = ("", -1)
        self._width = 24  # the widest stage text so far: a shorter one must blank it out when redrawn
        self._t0 = time.perf_counter()

    def stage(self, stage: str, fraction: float) -> None:
        if self.quiet:
            return
        pct = int(fraction * 100)
        if self.tty:
            bar = "#" * (pct // 5)
            self._width = max(self._width, len(stage))
            sys.stderr.write(f"\r{self.label}: [{bar:<20}] {pct:3d}% {stage:<{self._width}}")
            sys.stderr.flush()
        elif stage != self._last[0] or pct // 10 != self._last[1] // 10:
            sys.stderr.write(f"{self.label}: {pct:3d}% {stage}\n")
        self._last = (stage, pct)

    def frames(self, done: int, total: int) -> None:
        # On a terminal the frame count redraws in place; in a log one line per 10% is enough.
        self.stage(f"frame {done}/{total}" if self.tty else "rendering", done / max(total, 1))

    def done(self, message: str = "") -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r" + " " * (len(self.label) + 30 + self._width) + "\r")
        sys.stderr.write(f"{self.label}: done in {time.perf_counter() - self._t0:.1f} s{' — ' + message if message else ''}\n")


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text.lower():
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512 or 1280x720, not '{text}'") from None


# ---------------------------------------------------------------------- commands
def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .operations import reconstruct_photo
    prog = ConsoleProgress("reconstruct", args.quiet)
    path, count = reconstruct_photo(args.photo, args.output, backend=args.backend, model_dir=args.model,
                                     prior_dir=args.prior, device=args.device, gaussians=args.gaussians,
                                     progress=prog.stage)
    prog.done(f"{count:,} Gaussians -> {path}")
    return 0


def _notice(quiet: bool) -> Callable[[str], None]:
    return lambda msg: None if quiet else print(f"notice: {msg}", file=sys.stderr)


def cmd_animate(args: argparse.Namespace) -> int:
    from .operations import VideoSettings, animate_avatar
    w, h = args.size
    settings = VideoSettings(width=w, height=h, fps=args.fps, start=args.start, end=args.end, camera=args.camera,
                             azimuth=args.azimuth, elevation=args.elevation, quality=args.quality,
                             transparent=args.transparent)
    prog = ConsoleProgress("animate", args.quiet)
    path, frames = animate_avatar(args.avatar, args.motion, args.output, settings, renderer=args.renderer,
                                  body_dir=args.body, progress=prog.frames, notice=_notice(args.quiet),
                                  up=None if args.up == "auto" else args.up)
    prog.done(f"{frames} frames -> {path}")
    return 0


def cmd_pose(args: argparse.Namespace) -> int:
    """Write the avatar posed at one time as a standard 3DGS PLY (`sequence bake` writes every frame)."""
    from .operations import pose_avatar
    pose_avatar(args.avatar, args.motion, args.output, time=args.time, body_dir=args.body)
    print(f"wrote {args.output} (t = {args.time:.2f} s)")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .info import describe
    print(describe(args.file, up=args.up, strict=args.strict, sh_order=args.sh_order))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    run_demo(Path(args.out), photo=args.photo, motion=args.motion, size=args.size[0], renderer=args.renderer,
             quiet=args.quiet)
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    from ..app.main import main as gui_main
    return gui_main(list(args.files))


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from .commands.convert_cmd import add_splat_read_options
    p = argparse.ArgumentParser(prog="avatar-studio", description=(
        "Turn one photo of a person into an animatable 3D Gaussian-splat avatar, animate it with "
        "SMPL-X motion and export PLY and video. Run with no command to open the studio window."))
    p.add_argument("--version", action="version", version=f"avatar-studio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        return sp

    sp = common(sub.add_parser("demo", help="photo -> avatar -> animation on the embedded samples",
                               description="Reconstruct a sample photo with the template back-end, animate it "
                                           "with a sample motion, write avatar.ply, demo.mp4 and demo_frame.png "
                                           "(a still from the video) into --out."))
    sp.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    sp.add_argument("--photo", default=None, help="use this photo instead of the sample")
    sp.add_argument("--motion", default=None, help="use this motion instead of the sample dance")
    sp.add_argument("--size", type=_size, default=(512, 512), help="video size (default 512)")
    sp.add_argument("--renderer", default="auto", choices=["auto", "gl", "gsplat", "cpu"])
    sp.set_defaults(func=cmd_demo)

    sp = common(sub.add_parser("reconstruct", help="photo -> avatar PLY"))
    sp.add_argument("photo", help="a full-body photo (PNG/JPEG; an alpha channel is used as the person mask)")
    sp.add_argument("-o", "--output", required=True, help="avatar file to write (.ply)")
    sp.add_argument("--backend", default="template", choices=["template", "lhm"])
    sp.add_argument("--model", help="LHM checkpoint folder (config.json + model.safetensors)")
    sp.add_argument("--prior", help="LHM prior folder (pretrained_models)")
    sp.add_argument("--device", default="auto", help="auto, cpu or cuda (LHM)")
    sp.add_argument("--gaussians", type=int, default=None, help="number of Gaussians (template back-end)")
    sp.set_defaults(func=cmd_reconstruct)

    sp = common(sub.add_parser("animate", help="avatar + motion -> MP4/WebM/GIF/PNG frames"))
    sp.add_argument("avatar", help="avatar file (.ply written by reconstruct)")
    sp.add_argument("--motion", required=True, help="motion file or folder (any supported source)")
    sp.add_argument("-o", "--output", required=True, help=".mp4, .webm, .gif, or a folder for PNG frames")
    sp.add_argument("--size", type=_size, default=(512, 512), help="WxH or N (default 512)")
    sp.add_argument("--fps", type=float, default=None, help="output frame rate (default: the motion's)")
    sp.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    sp.add_argument("--end", type=float, default=None, help="end time in seconds")
    sp.add_argument("--camera", default="fixed", choices=["fixed", "turntable", "follow"])
    sp.add_argument("--azimuth", type=float, default=20.0, help="camera azimuth in degrees (0 = front)")
    sp.add_argument("--elevation", type=float, default=8.0, help="camera elevation in degrees")
    sp.add_argument("--quality", type=float, default=8.0, help="0 (small) .. 10 (best)")
    sp.add_argument("--transparent", action="store_true", help="transparent background (WebM, PNG)")
    sp.add_argument("--renderer", default="auto", choices=["auto", "gl", "gsplat", "cpu"])
    sp.add_argument("--body", default=None, help="SMPL-X folder for avatars rigged on the real SMPL-X (LHM)")
    sp.add_argument("--up", default="auto", choices=["auto", "y", "-y", "z", "-z"],
                    help="the avatar file's up axis when it is not the usual y (auto)")
    sp.set_defaults(func=cmd_animate)

    sp = common(sub.add_parser("pose", help="avatar + motion -> the posed avatar at one time as 3DGS PLY",
                               description="Write the avatar posed at one time. For every frame of a range, "
                                           "use `avatar-studio sequence bake`."))
    sp.add_argument("avatar")
    sp.add_argument("--motion", required=True)
    sp.add_argument("-o", "--output", required=True, help=".ply file to write")
    sp.add_argument("--time", type=float, default=0.0, help="time in seconds")
    sp.add_argument("--body", default=None, help="SMPL-X folder for avatars rigged on the real SMPL-X (LHM)")
    sp.set_defaults(func=cmd_pose)

    sp = sub.add_parser("info", help="describe a splat file (any format), avatar, motion or sequence")
    sp.add_argument("file")
    add_splat_read_options(sp)
    sp.set_defaults(func=cmd_info)

    sp = sub.add_parser("gui", help="open the studio window (the default)")
    sp.add_argument("files", nargs="*", help="photos, avatars or motions to open")
    sp.set_defaults(func=cmd_gui)

    for register in _command_modules():
        register(sub)
    return p


def _command_modules() -> list[Callable]:
    """`register(subparsers)` of every module in core/commands (one per command group)."""
    from . import commands
    out = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(mod, "register"):
            out.append(mod.register)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. SIGTERM unwinds (writers remove their temp files) and exits 143; Ctrl-C exits 130."""
    from .io.atomic import Terminated, sigterm_unwinds
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
        from .io.atomic import sweep_stale
        sweep_stale(tempfile.gettempdir())  # scratch folders a killed run left behind
        if argv:
            parser = build_parser()
            args = parser.parse_args(argv)
            if getattr(args, "func", None) is None:
                parser.print_help()
                return 0
        else:  # the GUI: skip building the parser
            args = argparse.Namespace(func=cmd_gui, files=[])
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
        from .io.safe import excerpt
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
