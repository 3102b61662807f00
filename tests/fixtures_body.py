"""Writes random SMPL-X-format model files for tests (no real SMPL-X can be shipped)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar_studio.core.skinning import SMPLX_PARENTS

V = 10475


def write_random_smplx(folder: Path, seed: int = 0, gender: str = "NEUTRAL", n_shape_cols: int = 400) -> Path:
    """A random but well-formed SMPLX_{gender}.npz under folder/smplx/; returns the file path."""
    rng = np.random.default_rng(seed)
    v_template = rng.normal(size=(V, 3)).astype(np.float32) * [0.2, 0.8, 0.1]
    f = rng.integers(0, V, size=(20908, 3))
    weights = rng.random((V, 55)) ** 8
    weights /= weights.sum(1, keepdims=True)
    jreg = rng.random((55, V)) ** 20
    jreg /= jreg.sum(1, keepdims=True)
    kintree = np.stack([SMPLX_PARENTS, np.arange(55)]).astype(np.int64)
    kintree[0, 0] = 4294967295 if False else -1
    data = dict(
        v_template=v_template, f=f.astype(np.int64), shapedirs=(rng.normal(size=(V, 3, n_shape_cols)) * 0.01).astype(np.float32),
        posedirs=(rng.normal(size=(V, 3, 486)) * 0.01).astype(np.float32), J_regressor=jreg.astype(np.float32),
        weights=weights.astype(np.float32), kintree_table=kintree,
        hands_componentsl=np.eye(45, dtype=np.float32), hands_componentsr=np.eye(45, dtype=np.float32),
        hands_meanl=(rng.normal(size=45) * 0.1).astype(np.float32), hands_meanr=(rng.normal(size=45) * 0.1).astype(np.float32),
        lmk_faces_idx=rng.integers(0, 20908, size=51).astype(np.int64),
        lmk_bary_coords=np.full((51, 3), 1 / 3, np.float32),
    )
    out = Path(folder) / "smplx" / f"SMPLX_{gender}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **data)
    return out
