"""`BodyModel`: SMPL-X through the `smplx` package, with the embedded stand-in as the default.

Resolution order for the model files:
 1. an explicit path given by the caller (folder holding `smplx/SMPLX_*.npz`, the `smplx/` folder
    itself, or one `.npz` file);
 2. the environment variable AVATAR_STUDIO_SMPLX_DIR (same forms);
 3. the embedded stand-in at `resources/body/smplx/SMPLX_NEUTRAL.npz`.

Our own forward pass (`forward`, `joint_transforms`) reuses `core.skinning`, and tests hold it to
`smplx`'s output to 1e-5.
"""
from __future__ import annotations

import contextlib
import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ... import RESOURCES_DIR
from ..errors import ModelFileError
from ..skinning import batch_rodrigues, forward_kinematics
from .joints import SMPLX_PARENTS

ENV_VAR = "AVATAR_STUDIO_SMPLX_DIR"
STANDIN_DIR = RESOURCES_DIR / "body"
NUM_JOINTS = 55


def resolve_model_file(path: str | Path | None = None, gender: str = "neutral") -> Path:
    """Find the SMPL-X `.npz` for `gender`, following the resolution order in the module docstring."""
    fname = f"SMPLX_{gender.upper()}.npz"
    candidates: list[Path] = []
    source = path if path is not None else os.environ.get(ENV_VAR) or None
    if source is not None:
        p = Path(source).expanduser()
        if p.is_file():
            return p
        candidates = [p / "smplx" / fname, p / fname]
        for c in candidates:
            if c.is_file():
                return c
        raise ModelFileError(
            f"No SMPL-X model file {fname} found in {p}. Point the studio at the folder that holds "
            f"'smplx/{fname}' (download SMPL-X from https://smpl-x.is.tue.mpg.de/).")
    standin = STANDIN_DIR / "smplx" / fname
    if not standin.is_file():
        standin = STANDIN_DIR / "smplx" / "SMPLX_NEUTRAL.npz"
    if not standin.is_file():
        raise ModelFileError(f"The embedded stand-in body model is missing ({standin}); reinstall Avatar Studio.")
    return standin


class BodyModel:
    """An SMPL-X body model (real or stand-in), created through `smplx` with `use_pca=False`.

    Attributes (numpy, float32 unless noted):
        v_template [V,3], faces [F,3] int64, weights [V,55], J_regressor [55,V],
        shapedirs [V,3,S], posedirs [P,V*3] (smplx layout), parents [55] int64,
        hand_mean [90] the model's mean hand pose (left then right), whatever `flat_hand_mean` is;
            added to hand poses when `flat_hand_mean` is False.
    """

    def __init__(self, path: str | Path | None = None, gender: str = "neutral", *,
                 flat_hand_mean: bool = True, num_betas: int = 10) -> None:
        import smplx
        self.file = resolve_model_file(path, gender)
        self.gender = gender
        self.flat_hand_mean = flat_hand_mean
        try:
            with np.load(self.file, allow_pickle=False) as data:
                self.is_standin = "avatar_studio_standin" in data.files
                # smplx zeroes its copy of the hand means when flat_hand_mean=True; keep the model's own.
                file_hand_mean = np.concatenate([np.asarray(data["hands_meanl"], np.float32).reshape(-1),
                                                 np.asarray(data["hands_meanr"], np.float32).reshape(-1)])
        except Exception as err:  # corrupt zip, pickled arrays, ...
            raise ModelFileError(f"The body model file {self.file} cannot be read ({err}).") from err
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints layout warnings
                layer = smplx.create(str(self.file), model_type="smplx", gender=gender, use_pca=False,
                                     flat_hand_mean=flat_hand_mean, num_betas=num_betas,
                                     num_expression_coeffs=10, batch_size=1)
        except Exception as err:
            raise ModelFileError(f"The body model file {self.file} is not a valid SMPL-X model ({err}).") from err
        self.layer = layer
        self.num_betas = int(layer.num_betas)
        self.v_template = layer.v_template.numpy().astype(np.float32)
        self.faces = np.asarray(layer.faces, np.int64)
        self.weights = layer.lbs_weights.numpy().astype(np.float32)
        self.J_regressor = layer.J_regressor.numpy().astype(np.float32)
        self.shapedirs = layer.shapedirs.numpy().astype(np.float32)
        self.expr_dirs = layer.expr_dirs.numpy().astype(np.float32)
        self.posedirs = layer.posedirs.numpy().astype(np.float32)
        self.parents = layer.parents.numpy().astype(np.int64)
        self.hand_mean = file_hand_mean
        if self.v_template.shape[0] != self.weights.shape[0] or self.weights.shape[1] != NUM_JOINTS:
            raise ModelFileError(f"{self.file} does not have the SMPL-X 55-joint layout.")
        if not np.array_equal(self.parents, SMPLX_PARENTS):
            raise ModelFileError(f"{self.file} has a kinematic tree that is not SMPL-X's.")

    # ------------------------------------------------------------------ shape
    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def _betas(self, betas: np.ndarray | None) -> np.ndarray:
        out = np.zeros(self.num_betas, np.float32)
        if betas is not None:
            b = np.asarray(betas, np.float32).reshape(-1)[: self.num_betas]
            out[: b.shape[0]] = b
        return out

    def shaped(self, betas: np.ndarray | None = None, expression: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Rest-pose body for `betas`: ([V,3] vertices, [55,3] joints)."""
        b = self._betas(betas)
        v = self.v_template + self.shapedirs @ b
        if expression is not None:
            e = np.zeros(self.expr_dirs.shape[-1], np.float32)
            ex = np.asarray(expression, np.float32).reshape(-1)[: e.shape[0]]
            e[: ex.shape[0]] = ex
            v = v + self.expr_dirs @ e
        return v.astype(np.float32), (self.J_regressor @ v).astype(np.float32)

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """[55,3] rest joint positions for `betas`."""
        return _cached_rest_joints(self, tuple(np.round(self._betas(betas), 6).tolist()))

    # ------------------------------------------------------------------ pose
    def _apply_hand_mean(self, full_pose: torch.Tensor) -> torch.Tensor:
        if self.flat_hand_mean:
            return full_pose
        fp = full_pose.clone()
        fp[:, 25:55] = fp[:, 25:55] + torch.from_numpy(self.hand_mean).view(30, 3).to(fp)
        return fp

    def joint_transforms(self, full_pose: np.ndarray | torch.Tensor, betas: np.ndarray | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Skinning transforms for T frames.

        Args:
            full_pose: [T,55,3] axis-angle (or [55,3]).
        Returns:
            posed_joints: [T,55,3]; rel_transforms: [T,55,4,4] (rest-pose point -> posed point).
        """
        fp = torch.as_tensor(np.asarray(full_pose, np.float32) if not torch.is_tensor(full_pose) else full_pose,
                             dtype=torch.float32)
        if fp.dim() == 2:
            fp = fp[None]
        fp = self._apply_hand_mean(fp)
        rot = batch_rodrigues(fp)
        joints = torch.from_numpy(self.rest_joints(betas))
        return forward_kinematics(rot, joints, self.parents)

    def forward(self, full_pose: np.ndarray, betas: np.ndarray | None = None, transl: np.ndarray | None = None,
                *, pose_correctives: bool = True, expression: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Posed body for T frames, with our own LBS: ([T,V,3] vertices, [T,55,3] joints)."""
        fp = torch.as_tensor(np.asarray(full_pose, np.float32))
        if fp.dim() == 2:
            fp = fp[None]
        fp = self._apply_hand_mean(fp)
        t = fp.shape[0]
        v_shaped, j_rest = self.shaped(betas, expression)
        rot = batch_rodrigues(fp)
        v = torch.from_numpy(v_shaped)[None].expand(t, -1, -1)
        if pose_correctives:
            feat = (rot[:, 1:] - torch.eye(3)).reshape(t, -1)
            v = v + (feat @ torch.from_numpy(self.posedirs)).view(t, -1, 3)
        joints, rel = forward_kinematics(rot, torch.from_numpy(j_rest), self.parents)
        w = torch.from_numpy(self.weights)
        m = torch.einsum("vj,tjab->tvab", w, rel[:, :, :3, :])
        verts = (m[..., :3] @ v[..., None])[..., 0] + m[..., 3]
        if transl is not None:
            tr = torch.as_tensor(np.asarray(transl, np.float32)).view(-1, 1, 3)
            verts, joints = verts + tr, joints + tr
        return verts.numpy(), joints.numpy()


def _cached_rest_joints(model: BodyModel, betas: tuple) -> np.ndarray:
    cache = model.__dict__.setdefault("_joint_cache", {})
    if betas not in cache:
        cache[betas] = model.shaped(np.array(betas, np.float32))[1]
    return cache[betas]


def default_body_model(gender: str = "neutral") -> BodyModel:
    """The body model from the environment or the embedded stand-in, created once per process."""
    return _body_at(str(resolve_model_file(None, gender)), gender)


@lru_cache(maxsize=8)
def _body_at(path: str, gender: str) -> BodyModel:
    """One BodyModel per resolved model file, shared by every caller."""
    return BodyModel(path, gender)


def body_for_rig(body_model: str, gender: str = "neutral", smplx_path: str | Path | None = None) -> BodyModel:
    """The body an avatar's rig was made on: the stand-in, or the real SMPL-X.

    Args:
        body_model: `Rig.body_model` ("standin" or "smplx").
        smplx_path: where the real SMPL-X lives (else AVATAR_STUDIO_SMPLX_DIR).
    Raises:
        ModelFileError when the rig needs the real SMPL-X and none is configured.
    """
    if body_model == "standin":
        return _body_at(str(resolve_model_file(STANDIN_DIR)), "neutral")
    path = str(smplx_path) if smplx_path is not None else os.environ.get(ENV_VAR) or None
    if path is None:
        raise ModelFileError(
            "This avatar is rigged on the real SMPL-X body (e.g. made by LHM), which is not configured. "
            f"Point the studio at your SMPL-X folder (--body DIR, Settings, or {ENV_VAR}); "
            "LHM's prior folder holds one at pretrained_models/human_model_files.")
    body = _body_at(str(resolve_model_file(path, gender)), gender)
    if body.is_standin:
        raise ModelFileError(f"{path} holds the Avatar Studio stand-in, but this avatar needs the real SMPL-X.")
    return body
