"""`avatar-studio info`: a short human-readable description of any file the studio reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError, StudioError


def _describe_gaussians(g, label: str) -> list[str]:
    lo, hi = g.bounds()
    return [f"{label}: {len(g):,} Gaussians, SH degree {g.sh_degree}",
            f"  bounds: min {np.round(lo, 3).tolist()} max {np.round(hi, 3).tolist()} (size {np.round(hi - lo, 3).tolist()} m)",
            f"  opacity: mean {g.opacities.mean():.3f}; scale: median {np.median(g.scales):.4f} m" if len(g) else "  (empty)"]


def _splat_format(path: Path) -> str | None:
    """The splat format of `path` by content (formats.sniff_path), or None when it is not one."""
    from .io.formats import sniff_path
    try:
        return sniff_path(path)
    except StudioError:
        return None


def describe(path: str | Path, up: str | None = None, strict: bool = False, sh_order: str | None = None) -> str:
    """Describe a PLY/avatar, another splat format, a motion, or a Gaussian sequence.

    Splat files are recognised by content (an extension-less SPZ, a .ksplat named .bin, a SOG
    meta.json or folder); `up`, `strict` and `sh_order` are as in `pipeline.load_splats`.
    """
    from .avatar import Avatar
    from .io.formats import format_info
    from .pipeline import load_splats
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if not (path.is_file() or path.is_dir()):  # a FIFO or device could block every reader below
        raise InputError(f"{path.name} is not a regular file (a pipe or device); save it to a file first.")
    fmt = _splat_format(path)
    if fmt is not None:
        notes: list[str] = []
        obj = load_splats(path, up=up, notes=notes, strict=strict, sh_order=sh_order)
        label = format_info(fmt).label
        if isinstance(obj, Avatar):
            lines = _describe_gaussians(obj.gaussians, f"avatar '{obj.name}'")
            rig = obj.rig
            lines.append(f"  rig: {rig.skin_indices.shape[1]} joint influences per Gaussian, body model "
                         f"'{rig.body_model}' ({rig.gender}), betas {np.round(rig.betas[:10], 3).tolist()}")
        else:
            lines = _describe_gaussians(obj, f"Gaussians ({label})")
        from .io.formats import FRAME_WORDS, stored_frame
        from .io.orientation import frame_for_up
        frame = frame_for_up(up, stored_frame(path, fmt))
        lines.append(f"  stored {FRAME_WORDS[frame]}" + ("" if frame == "y_up" else ", shown turned to y up")
                     + ("" if up in (None, "auto") else f" (--up {up})"))
        return "\n".join(lines + [f"  note: {n}" for n in notes])
    errors = []
    try:
        from .pipeline import load_motion
        m = load_motion(path)
        return (f"motion '{m.name}': {m.num_frames} frames at {m.fps:g} fps ({m.duration:.2f} s)\n"
                f"  up axis {m.up_axis}, {m.frame} frame, flat hand mean {m.flat_hand_mean}, gender {m.gender}, "
                f"betas {np.round(m.betas[:10], 3).tolist()}\n"
                f"  root travel {np.round(m.transl.max(0) - m.transl.min(0), 3).tolist()} m")
    except StudioError as err:
        errors.append(str(err))
    try:
        from .sequence import load_sequence
        seq = load_sequence(path)
        first = seq[0]
        return (f"Gaussian sequence: {seq.num_frames} frames at {seq.fps:g} fps ({seq.duration:.2f} s); "
                f"frame 1 has {len(first):,} Gaussians, SH degree {first.sh_degree}")
    except (StudioError, ImportError) as err:
        errors.append(str(err))
    from .io.safe import excerpt
    raise InputError(f"{excerpt(path.name, 100)} is not a file Avatar Studio can read ({excerpt(errors[0], 240)})")
