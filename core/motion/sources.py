"""The motion sources Avatar Studio reads, as plain data (no torch), so that `--help` stays fast, and
`motion_source`, the one detector of a motion's source that `open`, `info`, the CLI and the window share."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError

FORMATS: dict[str, str] = {
    "amass": "AMASS SMPL-X (*_stageii.npz, 165-D poses) or SMPL+H (156-D) .npz",
    "lhm": "LHM smplx_params folder (one JSON per frame)",
    "human3r": "Human3R result folder (smpl/ and camera/ per-frame .npz)",
    "gvhmr": "GVHMR hmr4d_results.pt",
    "motionx": "Motion-X (T, 322) .npy",
    "bvh": "BVH (Mixamo, CMU or any hierarchy, retargeted onto SMPL-X)",
}
OPTIONS: dict[str, set[str]] = {
    "amass": {"fps"}, "lhm": {"fps"}, "human3r": {"fps", "person", "world", "ground"},
    "gvhmr": {"fps", "which"}, "motionx": {"fps", "up_axis"}, "bvh": {"fps", "retarget", "betas", "ground"},
}


def _not_a_motion(path: Path, why: str) -> InputError:
    from ..io.safe import excerpt
    listing = "; ".join(FORMATS.values())
    return InputError(f"{excerpt(path.name or str(path), 100)} is not a motion Avatar Studio can read ({why}). "
                      f"Supported: {listing}.")


def motion_source(path: str | Path) -> tuple[str, Path]:
    """(motion format key of `motion.sources.FORMATS`, the file or folder to load) for a motion file or
    folder; a frame file inside an LHM or Human3R folder resolves to its folder. Light: no torch."""
    from ..io.safe import excerpt, require_regular_file
    from .amass import looks_like_amass
    from .human3r import looks_like_human3r
    from .lhm_json import looks_like_lhm
    path = Path(path)
    if not path.exists():
        raise InputError(f"Motion file or folder not found: {excerpt(str(path), 200)}")
    if path.is_dir():
        if looks_like_human3r(path):
            return "human3r", path
        if path.name in ("smpl", "camera") and looks_like_human3r(path.parent):
            return "human3r", path.parent
        if looks_like_lhm(path):
            return "lhm", path
        if (path / "hmr4d_results.pt").is_file():
            return "gvhmr", path / "hmr4d_results.pt"
        raise _not_a_motion(path, "the folder holds no known motion layout")
    suffix = path.suffix.lower()
    require_regular_file(path, "Motion file")  # a pipe or device would block the sniffing read below
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        raise InputError(f"Cannot read {excerpt(path.name)}: {err.strerror}.") from err
    if suffix == ".bvh" or head.lstrip().upper().startswith(b"HIERARCHY"):
        return "bvh", path
    if suffix == ".npz":
        if looks_like_amass(path):
            return "amass", path
        if path.parent.name == "smpl" and looks_like_human3r(path.parent.parent):
            return "human3r", path.parent.parent
        raise _not_a_motion(path, "the .npz has no 'poses' and 'trans' arrays")
    if suffix == ".npy":
        return "motionx", path
    if suffix in (".pt", ".pth"):
        return "gvhmr", path
    if suffix == ".json" and looks_like_lhm(path.parent):
        return "lhm", path.parent
    raise _not_a_motion(path, f"unknown file type '{excerpt(suffix, 12) or 'none'}'")
