"""`avatar-studio info`: a short human-readable description of any file the studio reads."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError


def _describe_gaussians(g, label: str) -> list[str]:
    lo, hi = g.bounds()
    return [f"{label}: {len(g):,} Gaussians, SH degree {g.sh_degree}",
            f"  bounds: min {np.round(lo, 3).tolist()} max {np.round(hi, 3).tolist()} (size {np.round(hi - lo, 3).tolist()} m)",
            f"  opacity: mean {g.opacities.mean():.3f}; scale: median {np.median(g.scales):.4f} m" if len(g) else "  (empty)"]


def _describe_project(path: Path) -> str:
    """A project's items by name and what each holds (read from its project.json; nothing is loaded)."""
    from .io.safe import MAX_JSON_BYTES, excerpt, loads_json, open_zip, read_member
    label = excerpt(path.name)
    with open_zip(path, f"{label} (not an Avatar Studio project)") as zf:
        doc = loads_json(read_member(zf, "project.json", label, MAX_JSON_BYTES), f"{label}: project.json")
    items = doc.get("items", []) if isinstance(doc, dict) else []
    items = items if isinstance(items, list) else []
    lines = [f"Avatar Studio project: {len(items)} item{'s' if len(items) != 1 else ''}"]
    for item in items[:50]:
        if isinstance(item, dict):
            parts = [k for k in ("avatar", "splats", "motion") if k in item] + (
                ["sequence"] if "sequence_source" in item else [])
            lines.append(f"  '{excerpt(str(item.get('name', '?')), 60)}': {', '.join(parts) or 'empty'}")
    return "\n".join(lines)


def describe(path: str | Path, up: str | None = None, strict: bool = False, sh_order: str | None = None) -> str:
    """Describe any file the studio opens (core/open.py decides what it is): an avatar or splat file in
    any format, a motion, a Gaussian sequence, a photo or a project.

    `up`, `strict` and `sh_order` are as in `pipeline.load_splats`.
    """
    from .open import classify, open_path
    path = Path(path)
    if not path.exists():
        raise InputError(f"File not found: {path}")
    if not (path.is_file() or path.is_dir()):  # a FIFO or device could block every reader below
        raise InputError(f"{path.name} is not a regular file (a pipe or device); save it to a file first.")
    if classify(path).kind == "project":
        return _describe_project(path)
    opened = open_path(path, up=up, strict=strict, sh_order=sh_order)
    kind, obj = opened.kind, opened.value
    if kind in ("avatar", "splats"):
        from .io.formats import FRAME_WORDS, format_info, stored_frame
        from .io.orientation import frame_for_up
        if kind == "avatar":
            lines = _describe_gaussians(obj.gaussians, f"avatar '{obj.name}'")
            rig = obj.rig
            lines.append(f"  rig: {rig.skin_indices.shape[1]} joint influences per Gaussian, body model "
                         f"'{rig.body_model}' ({rig.gender}), betas {np.round(rig.betas[:10], 3).tolist()}")
        else:
            lines = _describe_gaussians(obj, f"Gaussians ({format_info(opened.format).label})")
        frame = frame_for_up(up, stored_frame(opened.path, opened.format))
        lines.append(f"  stored {FRAME_WORDS[frame]}" + ("" if frame == "y_up" else ", shown turned to y up")
                     + ("" if up in (None, "auto") else f" (--up {up})"))
        return "\n".join(lines + [f"  note: {n}" for n in opened.notes])
    if kind == "motion":
        m = obj
        return (f"motion '{m.name}': {m.num_frames} frames at {m.fps:g} fps ({m.duration:.2f} s)\n"
                f"  up axis {m.up_axis}, {m.frame} frame, flat hand mean {m.flat_hand_mean}, gender {m.gender}, "
                f"betas {np.round(m.betas[:10], 3).tolist()}\n"
                f"  root travel {np.round(m.transl.max(0) - m.transl.min(0), 3).tolist()} m")
    if kind == "sequence":
        with obj as seq:
            first = seq[0]
            return (f"Gaussian sequence: {seq.num_frames} frames at {seq.fps:g} fps ({seq.duration:.2f} s); "
                    f"frame 1 has {len(first):,} Gaussians, SH degree {first.sh_degree}")
    h, w = obj.shape[:2]  # a photo
    channels = "RGBA (the alpha channel is the person mask)" if obj.shape[2] == 4 else "RGB"
    return f"photo: {w} x {h} pixels, {channels}\n  `avatar-studio reconstruct` turns it into an avatar"
