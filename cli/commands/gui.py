"""`avatar-studio gui [FILES]`: open the studio window (what `avatar-studio` alone does)."""
from __future__ import annotations

import argparse


def cmd_gui(args: argparse.Namespace) -> int:
    from ..launcher import open_window
    return open_window(list(args.files))


def register(subparsers) -> None:
    sp = subparsers.add_parser("gui", help="open the studio window (the default)")
    sp.add_argument("files", nargs="*", help="photos, avatars or motions to open")
    sp.set_defaults(func=cmd_gui)
