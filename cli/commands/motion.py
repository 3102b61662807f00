"""`motion` CLI commands: `motion convert IN OUT` and `motion info FILE`.

The CLI owner wires `register(subparsers)` and dispatches to `run(args)`. `animate --motion` can
reuse `add_source_arguments(parser)` and `source_options(args)` so every command accepts the same
source options.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...core.errors import InputError, StudioError


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that tell `load_motion` how to read a source (all optional)."""
    group = parser.add_argument_group("motion source options")
    group.add_argument("--fps", type=float, default=None, help="frame rate, for sources that store none (LHM, Human3R, GVHMR, Motion-X) or to override")
    group.add_argument("--person", type=int, default=None, help="Human3R: which person (smpl_id); default the longest track")
    group.add_argument("--camera-frame", action="store_true", help="Human3R: keep per-frame camera coordinates (no camera-to-world)")
    group.add_argument("--no-ground", action="store_true", help="Human3R, BVH: keep the source's floor")
    group.add_argument("--incam", action="store_true", help="GVHMR: read smpl_params_incam instead of the global motion")
    group.add_argument("--up-axis", choices=["+y", "-y", "+z", "-z", "+x", "-x"], default=None, help="Motion-X: up axis (default: inferred)")
    group.add_argument("--preset", choices=["auto", "mixamo", "cmu", "smplx", "none"], default=None, help="BVH: joint-name mapping preset")
    group.add_argument("--mapping", type=Path, default=None, help="BVH: retarget settings JSON (preset, overrides) saved by the studio")
    group.add_argument("--body", type=Path, default=None, help="SMPL-X model folder or .npz (default: environment or built-in stand-in)")


def source_options(args: argparse.Namespace) -> dict:
    """`load_motion` keyword options from parsed arguments (only those the user set)."""
    from ...core.motion.retarget import RetargetSettings
    options: dict = {"fps": args.fps, "person": args.person}
    if args.camera_frame:
        options["world"] = False
    if args.no_ground:
        options["ground"] = False
    if args.incam:
        options["which"] = "incam"
    options["up_axis"] = args.up_axis
    if args.mapping is not None:
        settings = RetargetSettings.load(args.mapping)
        if args.preset:
            settings.preset = args.preset
        options["retarget"] = settings
    elif args.preset:
        options["retarget"] = RetargetSettings(preset=args.preset)
    return {k: v for k, v in options.items() if v is not None}


def body_from_args(args: argparse.Namespace):
    """A `BodyModel` for `--body`, or None for the default model (loaded only when needed)."""
    if getattr(args, "body", None) is None:
        return None
    from ...core.body.model import BodyModel
    return BodyModel(args.body)


def register(subparsers) -> argparse.ArgumentParser:
    """Add `motion convert` and `motion info` to an argparse sub-command set; returns the group parser."""
    from ...core.motion.sources import FORMATS
    formats = "; ".join(FORMATS.values())
    motion = subparsers.add_parser("motion", help="import, inspect and convert motion files",
                                   description=f"Supported motion sources: {formats}.")
    commands = motion.add_subparsers(dest="motion_command", metavar="COMMAND")
    commands.required = True
    convert = commands.add_parser("convert", help="convert a motion to .npz (AMASS), .bvh or an LHM folder",
                                  description="Convert any supported motion. OUT by suffix: .npz AMASS-style, "
                                              ".bvh SMPL-X skeleton (metres, Y up), no suffix: LHM smplx_params folder.")
    convert.add_argument("input", type=Path, metavar="IN")
    convert.add_argument("output", type=Path, metavar="OUT")
    convert.add_argument("--out-fps", type=float, default=None,
                         help="resample the output to this frame rate (LHM folders default to 30)")
    convert.add_argument("--keep-height", action="store_true",
                         help="AMASS/BVH: keep the source's height instead of putting the feet on the floor")
    add_source_arguments(convert)
    info = commands.add_parser("info", help="describe a motion file or folder")
    info.add_argument("input", type=Path, metavar="FILE")
    info.add_argument("--json", action="store_true", help="print JSON")
    add_source_arguments(info)
    motion.set_defaults(func=run)
    return motion


def _format_info(info: dict) -> str:
    lines = [f"{info['path']}: {info['description']}"]
    for key, value in info.items():
        if key in ("path", "description"):
            continue
        if key == "people":
            lines.append("people:")
            lines += [f"  id {p['id']}: {p['frames']} frames ({p['first']}..{p['last']}), mean score {p['mean_score']}"
                      for p in value]
            continue
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        lines.append(f"{key.replace('_', ' ')}: {value}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run `motion convert` or `motion info`; StudioError for anything the user must fix."""
    from ...core.motion.detect import describe, load_motion, motion_facts, save_motion
    command = getattr(args, "motion_command", None)
    if command == "info":
        info = describe(args.input, **source_options(args))
        print(json.dumps(info, indent=2, default=str) if args.json else _format_info(info))
        return 0
    if command == "convert":
        body = body_from_args(args)
        motion = load_motion(args.input, body=body, **source_options(args))
        from ...core.motion.detect import prepare_export
        motion = prepare_export(motion, args.output, body, fps=args.out_fps, on_floor=not args.keep_height)
        out = save_motion(motion, args.output, body, fps=motion.fps, on_floor=False)
        facts = motion_facts(motion)
        print(f"Wrote {out} ({facts['frames']} frames at {facts['fps']:g} fps).")
        return 0
    raise InputError("Choose a motion command: convert or info.")


__all__ = ["register", "run", "add_source_arguments", "source_options", "body_from_args", "StudioError"]
