"""The native LHM back-end: our own implementation of LHM (aigc3d/LHM) that loads official checkpoints.

Public API: `LHMConfig`, `LHMNetwork`, and `LHMReconstructor` (in `reconstructor.py`, imported lazily
by callers so that `import avatar_studio.core.lhm` stays light).
"""
from .config import LHMConfig, PRESET_NAMES, dino_variant
from .network import LHMNetwork

__all__ = ["LHMConfig", "LHMNetwork", "PRESET_NAMES", "dino_variant"]
