"""`GaussianSequence`: a 4D Gaussian sequence (L4GM and friends, or a baked avatar) on the timeline.

Frames are separate Gaussian sets: counts may differ, and index i in one frame is not index i in
the next (SPECS §5), so playback switches frames and never interpolates. Frames load lazily through
a byte-bounded LRU cache (plus optional read-ahead on a worker thread), so a sequence of
1,000 × 65,536 Gaussians scrubs without holding it all in RAM.

The package: `model` (GaussianSequence, frame sources, object-space placement), `sources`
(`load_sequence`: folders, zips, single frames), `l4gm` (the (T, N, 14) layout in .npz/.npy),
`writers` (`export_sequence`, `write_frame_folder`), `baking` (`bake_avatar`).
"""
from .baking import bake_avatar
from .l4gm import ArraySource, RawFrames, gaussians_from_l4gm, gaussians_to_l4gm
from .model import (DEFAULT_CACHE_BYTES, DEFAULT_FPS, GaussianSequence, MemorySource, gaussian_nbytes, natural_key,
                    normalise_object_space, object_space_transform)
from .sources import FileListSource, ZipSource, load_sequence
from .writers import export_sequence, write_frame_folder

__all__ = ["GaussianSequence", "load_sequence", "export_sequence", "write_frame_folder", "bake_avatar",
           "normalise_object_space", "object_space_transform", "gaussians_from_l4gm", "gaussians_to_l4gm",
           "natural_key", "gaussian_nbytes", "MemorySource", "FileListSource", "ZipSource", "ArraySource", "RawFrames",
           "DEFAULT_FPS", "DEFAULT_CACHE_BYTES"]
