"""`avatar-studio convert IN OUT`: any splat format to any writable one; a sequence to a sequence."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...core.errors import InputError
from ..options import add_splat_read_options, quiet_option

SEQUENCE_FORMATS = ("ply_folder", "npz", "zip")


def sequence_format_for(out: Path, explicit: str | None = None) -> str:
    """"npz" / "zip" from the output's extension, else a folder of frames."""
    if explicit:
        if explicit not in SEQUENCE_FORMATS:
            raise InputError(f"Sequence output format must be one of {', '.join(SEQUENCE_FORMATS)}, not '{explicit}'.")
        return explicit
    lower = out.name.lower()
    if lower.endswith((".ply", ".splat", ".spz", ".ksplat", ".npy")):
        raise InputError(f"A sequence is written as a folder, .npz or .zip, not '{out.name}'; "
                         "to save one frame use `avatar-studio sequence frame`.")
    return "npz" if lower.endswith(".npz") else "zip" if lower.endswith(".zip") else "ply_folder"


def print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def cmd_convert(args: argparse.Namespace) -> int:
    from ...core.io.formats import format_for_output, format_info, lost_in_conversion, write_gaussians
    from ...core.pipeline import load_splats
    src, out = Path(args.input), Path(args.output)
    if not src.exists():
        raise InputError(f"File not found: {src}")
    if src.resolve() == out.resolve():
        raise InputError("The output must differ from the input.")
    from ...core.io.safe import excerpt
    from ...core.open import classify
    found = classify(src)  # by content, as `info` and the window decide
    if found.kind in ("motion", "photo", "project"):
        hint = {"motion": "`avatar-studio motion convert`", "photo": "`avatar-studio reconstruct`",
                "project": "the studio window"}[found.kind]
        raise InputError(f"{excerpt(src.name)} is a {found.kind}, not splats or a sequence; for it use {hint}.")
    if found.kind == "sequence":
        from ..progress import ConsoleProgress
        from ...core.sequence import export_sequence, load_sequence
        fmt = sequence_format_for(out, args.to if args.to in SEQUENCE_FORMATS else None)
        frame_format = args.frame_format or (args.to if args.to and args.to not in SEQUENCE_FORMATS else "ply")
        with load_sequence(found.target, fps=args.fps) as seq:
            prog = ConsoleProgress("convert", args.quiet)
            export_sequence(seq, out, fmt, frame_format=frame_format, progress=prog.frames)
            prog.done(f"{seq.num_frames} frames at {seq.fps:g} fps -> {out} ({fmt})")
        return 0
    if args.frame_format:
        raise InputError("--frame-format applies to sequences only.")
    fmt = format_for_output(out, args.to)
    notes: list[str] = []
    obj = load_splats(src, up=args.up, notes=notes, strict=args.strict, sh_order=args.sh_order)
    g = getattr(obj, "gaussians", obj)
    if g is not obj:
        notes.append("the avatar's rig (skinning) is not kept: the output holds its canonical Gaussians")
    options = {"version": args.spz_version} if fmt == "spz" else {}
    if args.spz_version is not None and fmt != "spz":
        raise InputError("--spz-version applies to .spz output only.")
    write_gaussians(out, g, fmt, **options)
    _say(args, f"wrote {out}: {len(g):,} Gaussians, SH degree {g.sh_degree}, as {format_info(fmt).label}")
    print_notes(notes + lost_in_conversion(g, fmt))
    return 0


def register(subparsers) -> None:
    """Add `convert` to the CLI's subparsers."""
    sp = subparsers.add_parser(
        "convert",
        help="convert between splat formats (.ply, .compressed.ply, .splat, .spz, .sog, .glb, .ksplat) or sequences",
        description="Convert Gaussians between formats, chosen by extension: .ply (INRIA), .compressed.ply "
                    "(SuperSplat), .splat (antimatter15), .spz (Niantic), .sog or meta.json (PlayCanvas SOG), "
                    ".glb (glTF KHR_gaussian_splatting); .ksplat is read only. Inputs are recognised by content. "
                    "Each file is read and written the right way up for its format (see --up). A folder of "
                    "frames, an L4GM .npz/.npy or a zip of PLYs converts to a frame folder, .npz or .zip.")
    sp.add_argument("input", help="splat file, or a sequence (folder, .npz, .npy, .zip)")
    sp.add_argument("output", help="output file, or for a sequence a folder / .npz / .zip")
    sp.add_argument("--to", default=None,
                    help="output format when the extension is not enough: ply, compressed_ply, splat, spz, sog, gltf; "
                         "for sequences ply_folder, npz, zip")
    sp.add_argument("--spz-version", type=int, choices=[2, 3, 4], default=None,
                    help="SPZ container version (default 3; 4 needs the zstandard package)")
    sp.add_argument("--frame-format", default=None, choices=["ply", "compressed_ply", "spz", "splat"],
                    help="per-frame file format when writing a sequence folder or zip (default ply)")
    sp.add_argument("--fps", type=float, default=None, help="frame rate of an input sequence that stores none")
    add_splat_read_options(sp)
    quiet_option(sp)
    sp.set_defaults(func=cmd_convert)
