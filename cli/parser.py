"""The `avatar-studio` argument parser: one sub-parser per module in `commands/` (each module's
`register(subparsers)` adds its own)."""
from __future__ import annotations

import argparse

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    # The order of `avatar-studio --help`: the main path first, then the command groups by name.
    from .commands import (animate, batch, convert, demo, glb, gui, info, landmarks, mocap, motion, pose,
                           reconstruct, sequence)
    p = argparse.ArgumentParser(prog="avatar-studio", description=(
        "Turn one photo of a person into an animatable 3D Gaussian-splat avatar, animate it with "
        "SMPL-X motion and export PLY and video. Run with no command to open the studio window."))
    p.add_argument("--version", action="version", version=f"avatar-studio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, reconstruct, animate, pose, info, gui, batch, convert, glb, landmarks, mocap, motion,
                   sequence):
        module.register(sub)
    return p
