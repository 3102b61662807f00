"""Writes random SMPL-X-format model files for tests (no real SMPL-X can be shipped)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar_studio.core.body.joints import SMPLX_PARENTS

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


def skinned_rig(seed: int, scene_seed: int, n: int = 1500):
    """Canonical Gaussians, top-4 skinning over 55 random joints, two posed frames' transforms and
    translations, and a camera: (gaussians, idx [N,4], w [N,4], rel [2,55,4,4], transl [2,3], camera)."""
    import torch
    from avatar_studio.core.render.base import Camera
    from avatar_studio.core.render.reference import random_gaussians as scene
    from avatar_studio.core.skinning import SMPLX_PARENTS, batch_rodrigues, forward_kinematics
    rng = np.random.default_rng(seed)
    g = scene(n, scene_seed, 3, extent=(0.2, 0.5, 0.15), scale_range=(0.005, 0.03))
    joints = torch.tensor(rng.normal(size=(55, 3)) * [0.2, 0.5, 0.1], dtype=torch.float32)
    idx = rng.integers(0, 55, (n, 4))
    w = rng.random((n, 4)).astype(np.float32)
    w /= w.sum(1, keepdims=True)
    aa = torch.tensor(rng.normal(size=(2, 55, 3)) * 0.3, dtype=torch.float32)
    _, rel = forward_kinematics(batch_rodrigues(aa), joints, SMPLX_PARENTS)
    transl = torch.tensor([[0.05, -0.1, 0.2], [0.0, 0.1, -0.1]])
    cam = Camera.look_at((0.3, -0.2, 2.5), (0, 0, 0), (0, -1, 0), width=200, height=160)
    return g, idx, w, rel, transl, cam
