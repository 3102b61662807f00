"""The motion sources Avatar Studio reads, as plain data (no torch), so that `--help` stays fast."""
from __future__ import annotations

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
