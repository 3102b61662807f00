"""`avatar-studio animate AVATAR --motion M -o OUT`: avatar + motion -> MP4/WebM/GIF/PNG frames."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from ..options import quiet_option, size_type


def _notice(quiet: bool) -> Callable[[str], None]:
    return lambda msg: None if quiet else print(f"notice: {msg}", file=sys.stderr)


def cmd_animate(args: argparse.Namespace) -> int:
    from ...core.operations import VideoSettings, animate_avatar
    from ..progress import ConsoleProgress
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


def register(subparsers) -> None:
    sp = quiet_option(subparsers.add_parser("animate", help="avatar + motion -> MP4/WebM/GIF/PNG frames"))
    sp.add_argument("avatar", help="avatar file (.ply written by reconstruct)")
    sp.add_argument("--motion", required=True, help="motion file or folder (any supported source)")
    sp.add_argument("-o", "--output", required=True, help=".mp4, .webm, .gif, or a folder for PNG frames")
    sp.add_argument("--size", type=size_type, default=(512, 512), help="WxH or N (default 512)")
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
