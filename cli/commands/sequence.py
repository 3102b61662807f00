"""`avatar-studio sequence info|frame|export|bake`: 4D Gaussian sequences from the command line."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ...core.errors import InputError
from .convert import SEQUENCE_FORMATS, sequence_format_for


def _open(args: argparse.Namespace):
    from ...core.sequence import load_sequence, normalise_object_space
    seq = load_sequence(args.sequence, fps=args.fps)
    if getattr(args, "normalise", False) or getattr(args, "height", None):
        seq = normalise_object_space(seq, up_axis=args.up, height=args.height)
    return seq


def _time_range(seq, start: float | None, end: float | None, step: int = 1):
    if start is None and end is None and step == 1:
        return seq
    a = seq.frame_at(start or 0.0)
    b = seq.num_frames if end is None else seq.frame_at(end) + 1
    return seq.slice(a, b, step)


def cmd_info(args: argparse.Namespace) -> int:
    with _open(args) as seq:
        t0 = time.perf_counter()
        first = seq[0]
        load_ms = (time.perf_counter() - t0) * 1000
        print(f"sequence '{seq.name}': {seq.num_frames} frames at {seq.fps:g} fps ({seq.duration:.2f} s)")
        print(f"  source: {type(seq.source).__name__}; cache budget {seq.cache_bytes / 2**20:.0f} MiB")
        lo, hi = first.bounds()
        print(f"  frame 1: {len(first):,} Gaussians, SH degree {first.sh_degree}, loaded in {load_ms:.1f} ms; "
              f"bounds {np.round(lo, 3).tolist()} .. {np.round(hi, 3).tolist()}")
        if args.frames:
            for i in range(seq.num_frames):
                g = seq[i]
                print(f"  {i + 1:5d}  t={seq.time_of(i):8.3f} s  {len(g):9,d} Gaussians  {seq.source.frame_name(i)}")
    return 0


def cmd_frame(args: argparse.Namespace) -> int:
    """Scrub: write the frame shown at a time (or an index) as one splat file."""
    from ...core.io.formats import write_gaussians
    with _open(args) as seq:
        if args.index is not None:
            i = args.index - 1
            if not 0 <= i < seq.num_frames:
                raise InputError(f"Frame {args.index} is outside 1..{seq.num_frames}.")
        else:
            i = seq.frame_at(args.time, "nearest" if args.nearest else "previous")
        g = seq[i]
        write_gaussians(args.output, g)
        print(f"wrote {args.output}: frame {i + 1}/{seq.num_frames} (t = {seq.time_of(i):.3f} s), {len(g):,} Gaussians")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..progress import ConsoleProgress
    from ...core.sequence import export_sequence
    out = Path(args.output)
    fmt = sequence_format_for(out, args.format)
    with _open(args) as seq:
        part = _time_range(seq, args.start, args.end, args.step)
        prog = ConsoleProgress("export", args.quiet)
        export_sequence(part, out, fmt, frame_format=args.frame_format, progress=prog.frames)
        prog.done(f"{part.num_frames} frames at {part.fps:g} fps -> {out} ({fmt})")
    return 0


def cmd_bake(args: argparse.Namespace) -> int:
    from ...core.body.model import body_for_rig
    from ..progress import ConsoleProgress
    from ...core.io.avatar_file import read_avatar
    from ...core.pipeline import load_motion_for_playback
    from ...core.sequence import bake_avatar
    avatar = read_avatar(args.avatar)
    body = body_for_rig(avatar.rig.body_model, avatar.rig.gender, args.body)
    motion = load_motion_for_playback(args.motion, body)
    a = 0 if args.start is None else int(np.clip(round(args.start * motion.fps), 0, motion.num_frames - 1))
    b = motion.num_frames if args.end is None else int(np.clip(round(args.end * motion.fps) + 1, a + 1, motion.num_frames))
    out = Path(args.output)
    fmt = sequence_format_for(out, args.format)
    prog = ConsoleProgress("bake", args.quiet)
    seq = bake_avatar(avatar, body, motion, slice(a, b, args.step), out=out, format=fmt,
                      frame_format=args.frame_format, progress=prog.frames)
    prog.done(f"{seq.num_frames} frames at {seq.fps:g} fps -> {out} ({fmt})")
    seq.close()
    return 0


def sequence_output_options(p, output_help: str, step_help: str) -> None:
    """Options shared by the commands that write a sequence: where, in what layout, which frames."""
    p.add_argument("-o", "--output", required=True, help=output_help)
    p.add_argument("--format", default=None, choices=list(SEQUENCE_FORMATS), help="default: from the output name")
    p.add_argument("--frame-format", default="ply", choices=["ply", "compressed_ply", "spz", "splat"])
    p.add_argument("--start", type=float, default=None, help="start time in seconds")
    p.add_argument("--end", type=float, default=None, help="end time in seconds (inclusive)")
    p.add_argument("--step", type=int, default=1, help=step_help)
    p.add_argument("-q", "--quiet", action="store_true")


def register(subparsers) -> None:
    """Add `sequence info|frame|export|bake` to the CLI's subparsers."""
    sp = subparsers.add_parser("sequence", help="4D Gaussian sequences: info, scrub to a frame, export, bake",
                               description="Work with Gaussian sequences: a folder of per-frame PLYs (with an "
                                           "optional manifest.json), an L4GM .npz/.npy (T,N,14) or a zip of PLYs.")
    sub = sp.add_subparsers(dest="sequence_command", metavar="ACTION")
    sp.set_defaults(func=lambda args: (sp.print_help(), 0)[1])

    def source(p: argparse.ArgumentParser) -> None:
        p.add_argument("sequence", help="folder, .npz, .npy or .zip")
        p.add_argument("--fps", type=float, default=None, help="override the stored frame rate")
        p.add_argument("--normalise", action="store_true",
                       help="place L4GM's [-1,1]³ object space Y-up, centred, on the ground")
        p.add_argument("--height", type=float, default=None, help="with --normalise: scale to this height (m)")
        p.add_argument("--up", default="y", choices=["y", "z", "-y"], help="the source's up axis (default y)")

    p = sub.add_parser("info", help="frame count, fps, duration, Gaussians per frame")
    source(p)
    p.add_argument("--frames", action="store_true", help="list every frame (loads them all, one at a time)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("frame", help="write the frame shown at a time (scrub) as a splat file")
    source(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--time", type=float, help="time in seconds")
    g.add_argument("--index", type=int, help="frame number, 1-based")
    p.add_argument("--nearest", action="store_true", help="nearest frame instead of the one being shown at --time")
    p.add_argument("-o", "--output", required=True, help=".ply, .compressed.ply, .splat or .spz")
    p.set_defaults(func=cmd_frame)

    p = sub.add_parser("export", help="write a sequence as a PLY folder (SuperSplat), npz or zip")
    source(p)
    sequence_output_options(p, "folder, .npz or .zip", "keep every Nth frame")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("bake", help="pose an avatar on every motion frame and save it as a sequence")
    p.add_argument("avatar", help="avatar .ply (written by reconstruct)")
    p.add_argument("--motion", required=True, help="motion file or folder")
    sequence_output_options(p, "folder (frame0001.ply…), .npz or .zip",
                            "keep every Nth motion frame (fps is divided by N)")
    p.add_argument("--body", default=None, help="SMPL-X folder for avatars rigged on the real SMPL-X (LHM)")
    p.set_defaults(func=cmd_bake)
