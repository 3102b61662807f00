"""SMPL-X motion: import from every common source, retarget BVH, edit clips, export.

Names are resolved lazily so `from avatar_studio.core.motion.motion import Motion` stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Motion": "motion",
    "FORMATS": "detect", "detect_format": "detect", "load_motion": "detect", "load_playable_motion": "detect",
    "save_motion": "detect", "describe": "detect",
    "to_world": "conventions", "to_world_y_up": "conventions", "to_flat_hands": "conventions",
    "normalize": "conventions",
    "list_people": "human3r",
    "read_bvh": "bvh", "write_bvh": "bvh",
    "RetargetSettings": "retarget", "retarget_bvh": "retarget", "auto_mapping": "retarget",
    "resolve_mapping": "retarget",
    "save_amass": "export", "save_bvh": "export", "motion_to_bvh": "export",
    "save_lhm": "lhm_json",
}

__all__ = sorted(_EXPORTS) + ["edit"]


def __getattr__(name: str):
    if name == "edit":
        return importlib.import_module(f"{__name__}.edit")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
