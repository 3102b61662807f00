"""`avatar-studio pose AVATAR --motion M -o OUT.ply`: the avatar posed at one time."""
from __future__ import annotations

import argparse

from ..options import quiet_option


def cmd_pose(args: argparse.Namespace) -> int:
    """Write the avatar posed at one time as a standard 3DGS PLY (`sequence bake` writes every frame)."""
    from ...core.operations import pose_avatar
    pose_avatar(args.avatar, args.motion, args.output, time=args.time, body_dir=args.body)
    print(f"wrote {args.output} (t = {args.time:.2f} s)")
    return 0


def register(subparsers) -> None:
    sp = quiet_option(subparsers.add_parser(
        "pose", help="avatar + motion -> the posed avatar at one time as 3DGS PLY",
        description="Write the avatar posed at one time. For every frame of a range, use "
                    "`avatar-studio sequence bake`."))
    sp.add_argument("avatar")
    sp.add_argument("--motion", required=True)
    sp.add_argument("-o", "--output", required=True, help=".ply file to write")
    sp.add_argument("--time", type=float, default=0.0, help="time in seconds")
    sp.add_argument("--body", default=None, help="SMPL-X folder for avatars rigged on the real SMPL-X (LHM)")
    sp.set_defaults(func=cmd_pose)
