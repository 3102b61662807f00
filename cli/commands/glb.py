"""`avatar-studio glb AVATAR -o OUT.glb`: the avatar as a rigged binary glTF (mesh, skeleton, motion, splats)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...core.errors import InputError


def cmd_glb(args: argparse.Namespace) -> int:
    from ...core.body.model import body_for_rig
    from ..progress import ConsoleProgress
    from ...core.export.glb import GlbOptions, export_glb
    from ...core.io.avatar_file import read_avatar
    out = Path(args.output)
    if out.suffix.lower() != ".glb":
        raise InputError(f"The output must be a .glb file, not '{out.name}'.")
    avatar = read_avatar(args.avatar)
    body = body_for_rig(avatar.rig.body_model, avatar.rig.gender, args.body)
    motion = None
    if args.motion:
        from ...core.pipeline import load_motion_for_playback
        motion = load_motion_for_playback(args.motion, body)
    elif args.start or args.end is not None or args.fps is not None:
        raise InputError("--start, --end and --fps choose part of a motion: give one with --motion.")
    options = GlbOptions(start=args.start, end=args.end, fps=args.fps, splats=not args.no_splats,
                         mesh=not args.no_mesh, texture_size=args.texture_size)
    prog = ConsoleProgress("glb", args.quiet)
    report = export_glb(out, avatar, body, motion, options, progress=prog.stage)
    locked = avatar.rig.rotation_locked
    if options.splats and locked is not None and locked.any():
        print(f"note: glTF cannot mark the rig's {int(locked.sum()):,} rotation-locked Gaussians; "
              "viewers that skin splats turn them with their joints", file=sys.stderr)
    parts = [f"{report.num_faces:,} triangles" if options.mesh else "",
             f"{report.num_gaussians:,} Gaussians" if options.splats else "",
             f"{report.num_keys} keys" if motion is not None else "no motion"]
    prog.done(f"{', '.join(p for p in parts if p)} -> {out} ({report.size_bytes / 1e6:.1f} MB)")
    return 0


def register(subparsers) -> None:
    """Add `glb` to the CLI's subparsers."""
    sp = subparsers.add_parser(
        "glb", help="avatar (+ motion) -> rigged GLB for Blender, Unity and three.js",
        description="Write one binary glTF 2.0 file: a skinned, textured mesh of the avatar on the SMPL-X "
                    "skeleton, the motion as an animation, and the Gaussians as a KHR_gaussian_splatting "
                    "primitive on the same skin.")
    sp.add_argument("avatar", help="avatar file (.ply written by reconstruct)")
    sp.add_argument("-o", "--output", required=True, help=".glb file to write")
    sp.add_argument("--motion", default=None, help="motion file or folder to include as an animation")
    sp.add_argument("--start", type=float, default=0.0, help="start time in seconds")
    sp.add_argument("--end", type=float, default=None, help="end time in seconds")
    sp.add_argument("--fps", type=float, default=None, help="animation keys per second (default: the motion's)")
    sp.add_argument("--no-splats", action="store_true", help="leave the Gaussians out (mesh only)")
    sp.add_argument("--no-mesh", action="store_true", help="leave the mesh out (Gaussians only)")
    sp.add_argument("--texture-size", type=int, default=2048, help="texture atlas side in pixels (default 2048)")
    sp.add_argument("--body", default=None, help="SMPL-X folder for avatars rigged on the real SMPL-X (LHM)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sp.set_defaults(func=cmd_glb)
