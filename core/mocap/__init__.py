"""Motion capture from video, offline on the CPU: video -> landmarks -> SMPL-X fit -> clean `Motion`.

Entry points: `capture_motion` and `overlay_skeleton` (see `pipeline.py`); README.md in this folder.
"""
from __future__ import annotations

from .pipeline import MocapDiagnostics, MocapResult, MocapSettings, capture_motion, overlay_skeleton

__all__ = ["capture_motion", "overlay_skeleton", "MocapResult", "MocapDiagnostics", "MocapSettings"]
