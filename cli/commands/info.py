"""`avatar-studio info FILE`: describe a splat file (any format), avatar, motion or sequence."""
from __future__ import annotations

import argparse

from ..options import add_splat_read_options


def cmd_info(args: argparse.Namespace) -> int:
    from ...core.info import describe
    print(describe(args.file, up=args.up, strict=args.strict, sh_order=args.sh_order))
    return 0


def register(subparsers) -> None:
    sp = subparsers.add_parser("info", help="describe a splat file (any format), avatar, motion or sequence")
    sp.add_argument("file")
    add_splat_read_options(sp)
    sp.set_defaults(func=cmd_info)
