"""Small shared steps that both front doors (CLI and GUI) take: reconstructing a photo file, loading
things for playback."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy (torch); `info` on a splat file must not pay for them
    from .avatar import Avatar
    from .body.model import BodyModel
    from .gaussians import GaussianSet
    from .jobs import CancelToken, Progress
    from .motion.motion import Motion
    from .reconstruct.base import ReconstructionResult


def reconstruct_file(photo: str | Path, *, backend: str = "template", model_dir: str | Path | None = None,
                     prior_dir: str | Path | None = None, device: str = "auto", gaussians: int | None = None,
                     reconstructor: Any = None, progress: "Progress | None" = None,
                     cancel: "CancelToken | None" = None) -> "ReconstructionResult":
    """The person in the photo file `photo` as an avatar named after the file: what `reconstruct`, the
    window's worker process and the demo all run. `reconstructor` (from create_reconstructor, loaded once
    by a long-lived worker) overrides backend/model_dir/prior_dir/device/gaussians."""
    from .reconstruct.base import load_image
    from .reconstruct.factory import create_reconstructor
    image = load_image(photo)
    if cancel is not None:
        cancel.check()
    rec = reconstructor or create_reconstructor(backend, model_dir=model_dir, prior_dir=prior_dir, device=device,
                                                num_gaussians=gaussians)
    result = rec.run(image, progress=progress, cancel=cancel)
    result.avatar.name = Path(photo).stem
    return result


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
