"""One entry point for every supported motion source: detect the format, load, save.

    load_motion(path, **options) -> Motion        # in the source's own conventions (recorded on it)
    load_playable_motion(path, body, **options)   # ... then Y-up world, flat hands, for the renderer
    save_motion(motion, path)                     # .npz AMASS, .bvh, folder -> LHM smplx_params
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .amass import load_amass
from .bvh import read_bvh
from .conventions import rest_joints_of
from .gvhmr import load_gvhmr
from .human3r import list_people, load_human3r
from .lhm_json import frame_files as lhm_frame_files, load_lhm, save_lhm
from .motion import Motion
from .motionx import WIDTH as MOTIONX_WIDTH, load_motionx
from .retarget import (RetargetSettings, betas_from_skeleton, check_limbs, detect_preset, mapping_report,
                       resolve_mapping, retarget_bvh)
from .sources import FORMATS, OPTIONS, motion_source

def detect_format(path: str | Path) -> tuple[str, Path]:
    """(format key of `FORMATS`, the file or folder to load); see `sources.motion_source`, the one
    detector that `open`, `info`, the CLI and the window share."""
    return motion_source(path)


def _check_options(fmt: str, options: dict) -> dict:
    given = {k: v for k, v in options.items() if v is not None}
    wrong = sorted(set(given) - OPTIONS[fmt])
    if wrong:
        raise InputError(f"Option {', '.join(wrong)} does not apply to {FORMATS[fmt]}; "
                         f"it takes {', '.join(sorted(OPTIONS[fmt]))}.")
    return given


def _retarget_settings(value) -> RetargetSettings | None:
    if value is None or isinstance(value, RetargetSettings):
        return value
    if isinstance(value, dict):
        return RetargetSettings.from_dict(value)
    if isinstance(value, str):
        return RetargetSettings(preset=value)
    raise InputError(f"Retarget settings must be a preset name or settings, got {type(value).__name__}.")


def load_motion(path: str | Path, *, body=None, format: str | None = None, **options) -> Motion:
    """Load any supported motion source, detected from the file or folder.

    Args:
        body: `BodyModel` (or [55,3] rest joints) used where a source needs the body: Human3R head
            offsets and ground alignment, BVH retargeting, unusual Motion-X axes. None: default model.
        format: force a format key of `FORMATS` instead of detecting it.
        options (by format; others raise InputError): fps (all); person, world (human3r); ground
            (human3r, bvh: level the floor and put the feet on it, default True);
            which ("global"/"incam", gvhmr); up_axis (motionx); retarget (preset name, dict or
            `RetargetSettings`) and betas (bvh).
    Returns:
        A `Motion` in the source's conventions (see `load_playable_motion` for the renderer's).
    """
    if format is None:
        fmt, target = detect_format(path)
    else:
        if format not in FORMATS:
            raise InputError(f"Unknown motion format '{format}'; choose one of {', '.join(FORMATS)}.")
        fmt, target = format, Path(path)
    opts = _check_options(fmt, options)
    if fmt == "amass":
        return load_amass(target, fps=opts.get("fps"))
    if fmt == "lhm":
        return load_lhm(target, fps=opts.get("fps"))
    if fmt == "human3r":
        return load_human3r(target, body, person=opts.get("person"), world=opts.get("world", True),
                            ground=opts.get("ground", True), fps=opts.get("fps"))
    if fmt == "gvhmr":
        return load_gvhmr(target, which=opts.get("which", "global"), fps=opts.get("fps"))
    if fmt == "motionx":
        return load_motionx(target, body, up_axis=opts.get("up_axis"), fps=opts.get("fps"))
    clip = read_bvh(target)
    settings = _retarget_settings(opts.get("retarget")) or RetargetSettings()
    if opts.get("betas") is not None:
        betas = np.asarray(opts["betas"], np.float32)
    else:
        betas = _bvh_body_shape(clip, settings, body)
    motion = retarget_bvh(clip, rest_joints_of(body, betas), settings, betas=betas)
    if opts.get("ground", True):
        from .ground import feet_on_floor
        motion = feet_on_floor(motion, body)
    # Keep the source and the mapping used, so the user can edit the mapping and the project saves it.
    motion.meta["retarget"] = {"source": str(target.resolve()), "settings": settings.to_dict()}
    return motion.replace(fps=float(opts["fps"])) if opts.get("fps") else motion


def _bvh_body_shape(clip, settings: RetargetSettings, body) -> np.ndarray:
    """[10] betas of a BVH written from SMPL-X motion (its skeleton is that body), else zeros."""
    from .human3r import _joint_bases
    zeros = np.zeros(10, np.float32)
    if isinstance(body, np.ndarray):
        return zeros
    if body is None:
        from ..body.model import default_body_model
        body = default_body_model()
    template, shape_dirs, _ = _joint_bases(body)
    found = betas_from_skeleton(clip, resolve_mapping(clip.skeleton, settings), template, shape_dirs[:, :, :10])
    return zeros if found is None else found.astype(np.float32)


def load_playable_motion(path: str | Path, body=None, **options) -> Motion:
    """`load_motion`, then converted to what the renderer plays: Y-up world, flat hands, camera-frame
    sources on the floor (see `ground.playable`)."""
    from .ground import playable
    return playable(load_motion(path, body=body, **options), body)


def _is_lhm_target(path: Path) -> bool:
    return path.suffix.lower() not in (".npz", ".bvh") and (path.suffix == "" or path.is_dir())


def prepare_export(motion: Motion, path: str | Path, body=None, *, fps: float | None = None,
                   on_floor: bool = True) -> Motion:
    """The motion `save_motion` writes to `path`: resampled to `fps` (LHM folders, which store no
    frame rate and are played at 30 fps, to 30 unless told), and for AMASS and BVH with the feet
    on the floor (Y-up world) unless `on_floor` is False."""
    from .edit import resample
    from .ground import feet_on_floor
    from .lhm_json import DEFAULT_FPS as LHM_FPS
    path = Path(path)
    target_fps = fps if fps is not None else (LHM_FPS if _is_lhm_target(path) else None)
    # BVH frame times are rounded ("0.033333"): rates within 0.1% are the same rate, not a resample.
    if target_fps is not None and abs(float(target_fps) - motion.fps) > 1e-3 * float(target_fps):
        motion = resample(motion, float(target_fps))
    if on_floor and path.suffix.lower() in (".npz", ".bvh"):
        motion = feet_on_floor(motion, body)
    return motion


def save_motion(motion: Motion, path: str | Path, body=None, *, fps: float | None = None,
                on_floor: bool = True) -> Path:
    """Write `motion` by the target's form: `.npz` AMASS-style, `.bvh` SMPL-X skeleton, a folder
    (no suffix) LHM `smplx_params`. `body` supplies rest joints and hand means (None: default model).

    fps, on_floor: see `prepare_export` (the frame count changes with the rate, the duration does not).
    """
    from .export import save_amass, save_bvh
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".bvh") and not _is_lhm_target(path):
        raise InputError(f"Cannot write motion to '{path.name}': use .npz (AMASS), .bvh, or a folder name "
                         f"(LHM smplx_params).")
    if _is_lhm_target(path) and path.is_file():
        raise InputError(f"{path} is a file; LHM motions are written as a folder.")
    motion = prepare_export(motion, path, body, fps=fps, on_floor=on_floor)
    if suffix == ".npz":
        return save_amass(motion, path, body)
    if suffix == ".bvh":
        return save_bvh(motion, path, body)
    return save_lhm(motion, path, body)


def describe(path: str | Path, **options) -> dict:
    """What `motion info` prints: the format and the motion's facts, without needing a body model
    (BVH: joints and mapping instead of a retarget; Human3R: the people found)."""
    fmt, target = detect_format(path)
    info: dict = {"format": fmt, "description": FORMATS[fmt], "path": str(target)}
    if fmt == "bvh":
        clip = read_bvh(target)
        settings = _retarget_settings(options.get("retarget")) or RetargetSettings()
        mapping = resolve_mapping(clip.skeleton, settings)
        missing, unused = mapping_report(clip.skeleton, mapping)
        info.update(frames=clip.num_frames, fps=clip.fps, duration=clip.num_frames / clip.fps,
                    joints=clip.skeleton.num_joints, preset=detect_preset(clip.skeleton) or "automatic",
                    mapped=len(mapping), unmapped_body_joints=missing, unmapped_bvh_joints=unused)
        try:
            check_limbs(clip.skeleton, mapping, clip.name)
        except InputError as err:
            info["mapping_problem"] = str(err)
        return info
    if fmt == "human3r":
        people = list_people(target)
        info["people"] = [{"id": p.id, "frames": p.num_frames, "first": p.frames[0], "last": p.frames[-1],
                           "mean_score": round(p.mean_score, 3)} for p in people]
        info["frame_files"] = sum(1 for _ in (target / "smpl").glob("*.npz"))
        return info
    if fmt == "lhm":
        info["frame_files"] = len(lhm_frame_files(target))
    motion = load_motion(target, format=fmt, **{k: v for k, v in options.items() if k in OPTIONS[fmt]})
    info.update(motion_facts(motion))
    return info


def motion_facts(motion: Motion) -> dict:
    """Frame count, rate, conventions and shape of a loaded `Motion`."""
    return {"name": motion.name, "frames": motion.num_frames, "fps": motion.fps, "duration": motion.duration,
            "up_axis": motion.up_axis, "frame": motion.frame, "flat_hand_mean": motion.flat_hand_mean,
            "betas": int(motion.betas.size), "gender": motion.gender}


__all__ = ["FORMATS", "detect_format", "load_motion", "load_playable_motion", "prepare_export", "save_motion",
           "describe", "motion_facts", "list_people", "MOTIONX_WIDTH"]
