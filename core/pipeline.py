"""Small shared steps that both front doors (CLI and GUI) take: loading things for playback."""
from __future__ import annotations

from pathlib import Path

from .avatar import Avatar
from .body.model import BodyModel
from .errors import InputError
from .gaussians import GaussianSet
from .motion.motion import Motion


def load_motion(path: str | Path, body: BodyModel | None = None, **options) -> Motion:
    """Any supported motion source, as recorded (no convention changes). `body` is the avatar's
    body, which sources such as BVH (retargeting) and Human3R (head offsets) need."""
    from .motion.detect import load_motion as detect_and_load
    return detect_and_load(path, body=body, **options)


def motion_for_playback(motion: Motion, body: BodyModel) -> Motion:
    """The motion in the renderer's frame: Y-up world, hand poses relative to the flat hand."""
    from .motion.conventions import to_flat_hands, to_world_y_up
    return to_flat_hands(to_world_y_up(motion, body), body)


def load_motion_for_playback(path: str | Path, body: BodyModel, **options) -> Motion:
    return motion_for_playback(load_motion(path, body, **options), body)


def load_splats(path: str | Path) -> Avatar | GaussianSet:
    """An avatar (rigged PLY) or plain Gaussians in any supported splat format."""
    from .io.safe import require_regular_file
    path = require_regular_file(path)  # before the format sniffing opens it (a pipe would block)
    from .io.formats import detect_format, read_gaussians
    if detect_format(path) == "ply":  # INRIA layout: may carry a rig
        from .io.avatar_file import read_avatar_or_gaussians
        return read_avatar_or_gaussians(path)
    return read_gaussians(path)
