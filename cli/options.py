"""Options that several `avatar-studio` commands share."""
from __future__ import annotations

import argparse

UP_HELP = ("the file's up axis when its format's frame is wrong for it: auto (default: PLY scenes, "
           "compressed PLY, .splat, .ksplat and SOG are y-down, SPZ and glTF y-up, avatars y-up), y, -y, z or -z")


def size_type(text: str) -> tuple[int, int]:
    """argparse type for `--size`: '512' -> (512, 512), '1280x720' -> (1280, 720)."""
    try:
        if "x" in text.lower():
            w, h = text.lower().split("x")
            return int(w), int(h)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 512 or 1280x720, not '{text}'") from None


def quiet_option(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """-q/--quiet: no progress output."""
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return sp


def add_splat_read_options(sp: argparse.ArgumentParser) -> None:
    """--up, --strict and --sh-order: how a splat file is read (info, convert, animate)."""
    sp.add_argument("--up", default="auto", choices=["auto", "y", "-y", "z", "-z"], help=UP_HELP)
    sp.add_argument("--strict", action="store_true",
                    help="refuse files holding NaN or infinite splats instead of dropping them with a note")
    sp.add_argument("--sh-order", default=None, choices=["channel", "coeff"],
                    help="PLY f_rest order: channel (INRIA, the default) or coeff (R,G,B per coefficient, "
                         "as LHM writes without gs_use_rgb)")
