"""`avatar-studio demo`: photo -> avatar -> animation on the embedded samples (the work is in cli/demo.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..options import quiet_option, size_type


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo
    run_demo(Path(args.out), photo=args.photo, motion=args.motion, size=args.size[0], renderer=args.renderer,
             quiet=args.quiet)
    return 0


def register(subparsers) -> None:
    sp = quiet_option(subparsers.add_parser(
        "demo", help="photo -> avatar -> animation on the embedded samples",
        description="Reconstruct a sample photo with the template back-end, animate it with a sample motion, "
                    "write avatar.ply, demo.mp4 and demo_frame.png (a still from the video) into --out."))
    sp.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    sp.add_argument("--photo", default=None, help="use this photo instead of the sample")
    sp.add_argument("--motion", default=None, help="use this motion instead of the sample dance")
    sp.add_argument("--size", type=size_type, default=(512, 512), help="video size (default 512)")
    sp.add_argument("--renderer", default="auto", choices=["auto", "gl", "gsplat", "cpu"])
    sp.set_defaults(func=cmd_demo)
