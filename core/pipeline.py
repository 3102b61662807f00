"""Small shared steps that both front doors (CLI and GUI) take: loading things for playback."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy (torch); `info` on a splat file must not pay for them
    from .avatar import Avatar
    from .body.model import BodyModel
    from .gaussians import GaussianSet
    from .motion.motion import Motion


def load_motion(path: str | Path, body: "BodyModel | None" = None, **options) -> "Motion":
    """Any supported motion source, as recorded (no convention changes). `body` is the avatar's
    body, which sources such as BVH (retargeting) and Human3R (head offsets) need."""
    from .motion.detect import load_motion as detect_and_load
    return detect_and_load(path, body=body, **options)


def motion_for_playback(motion: "Motion", body: "BodyModel") -> "Motion":
    """The motion in the renderer's frame: Y-up world, hand poses relative to the flat hand, and
    camera-frame sources (LHM, GVHMR in-camera, Motion-X) with their feet on the floor."""
    from .motion.ground import playable
    return playable(motion, body)


def load_motion_for_playback(path: str | Path, body: "BodyModel", **options) -> "Motion":
    return motion_for_playback(load_motion(path, body, **options), body)


def load_splats(path: str | Path, up: str | None = None, notes: list[str] | None = None,
                strict: bool = False, sh_order: str | None = None) -> "Avatar | GaussianSet":
    """An avatar (rigged PLY) or plain Gaussians in any supported splat format (or SOG folder), in
    the studio's y-up frame. `up` overrides the file's up axis; `notes` collects what the read
    repaired or guessed (dropped non-finite splats, an uncertain f_rest order); `strict` refuses
    instead. This is what the window's open/drop calls too."""
    path = Path(path)
    from .io.formats import read_gaussians, sniff_path
    from .io.notes import collecting
    if sniff_path(path) == "ply":  # INRIA layout: may carry a rig
        from .io.avatar_file import read_avatar_or_gaussians
        with collecting(notes, strict):
            return read_avatar_or_gaussians(path, up)
    return read_gaussians(path, up=up, notes=notes, strict=strict, sh_order=sh_order)
