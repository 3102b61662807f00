"""LHM's prior folder (`pretrained_models/`): query points, SMPL-X, constraint mask, Sapiens.

Expected layout (the official prior archive):
    dense_sample_points/1_{N}.ply                 query points on the neutral template (N = 20000 or 40000)
    voxel_grid/human_prior_constrain.npz          `masks`: per SMPL-X vertex, 1 = keep rotation when posed
    human_model_files/smplx/SMPLX_NEUTRAL.npz     SMPL-X (from smpl-x.is.tue.mpg.de)
    sapiens/pretrained/checkpoints/sapiens_1b/sapiens_1b_epoch_173_torchscript.pt2   body encoder
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..body.model import BodyModel
from ..errors import ModelFileError
from ..body.joints import SMPLX_PARENTS
from ..skinning import batch_rodrigues, dense_to_sparse_weights, forward_kinematics, lbs_points

PRIOR_HINT = ("Download LHM's prior archive (LHM_prior_model.tar, linked from the aigc3d/LHM README) and point "
              "the studio at its 'pretrained_models' folder; SMPL-X itself comes from smpl-x.is.tue.mpg.de.")
CONSTRAIN_FILE = "voxel_grid/human_prior_constrain.npz"
SMPLX_FILE = "human_model_files/smplx/SMPLX_NEUTRAL.npz"
# SMPL-X joints whose vertices (by argmax skinning weight) are "upper body": scale clamps to 0.02.
UPPER_BODY_JOINTS = (0, 3, 6, 9, 13, 14, 16, 17, 18, 19, 20, 21) + tuple(range(25, 55))
MAX_INFLUENCES = 8


def points_file(num_points: int, cano_pose_type: int = 1) -> str:
    return f"dense_sample_points/{cano_pose_type}_{num_points}.ply"


def required_files(num_points: int, sapiens_relpath: str, cano_pose_type: int = 1) -> dict[str, str]:
    """Relative path -> what it is, for every prior file the LHM back-end reads."""
    return {points_file(num_points, cano_pose_type): f"the {num_points} query points",
            CONSTRAIN_FILE: "the rotation-constraint mask",
            SMPLX_FILE: "the SMPL-X neutral body model",
            sapiens_relpath: "the Sapiens-1B body encoder (torchscript)"}


def check_prior_dir(prior_dir: str | Path, num_points: int, sapiens_relpath: str) -> Path:
    """Raise one ModelFileError naming every missing prior file and where it belongs."""
    root = Path(prior_dir).expanduser()
    if not root.is_dir():
        raise ModelFileError(f"The LHM prior folder {root} does not exist. {PRIOR_HINT}")
    missing = [f"  {root / rel}  ({what})" for rel, what in required_files(num_points, sapiens_relpath).items()
               if not (root / rel).is_file()]
    if missing:
        raise ModelFileError("The LHM prior folder is incomplete. Missing:\n" + "\n".join(missing) + f"\n{PRIOR_HINT}")
    return root


def big_pose(num_joints: int = 55) -> np.ndarray:
    """[55,3] axis-angle of LHM's canonical "big pose": hips spread by +-pi/9 about z."""
    pose = np.zeros((num_joints, 3), np.float32)
    pose[1, 2] = np.pi / 9
    pose[2, 2] = -np.pi / 9
    return pose


def read_points_ply(path: Path) -> np.ndarray:
    """[N,3] float32 vertex positions of a PLY point file."""
    from plyfile import PlyData
    try:
        v = PlyData.read(str(path))["vertex"]
        return np.stack([np.asarray(v[c], np.float32) for c in "xyz"], axis=1)
    except Exception as err:  # plyfile raises many types on corrupt input
        raise ModelFileError(f"{path} is not a readable point PLY ({err}).") from err


def read_constrain_mask(path: Path, num_vertices: int) -> np.ndarray:
    """[V] bool per SMPL-X vertex from the `masks` array."""
    try:
        with np.load(path, allow_pickle=False) as data:
            masks = np.asarray(data["masks"]).reshape(-1)
    except Exception as err:
        raise ModelFileError(f"{path} cannot be read as LHM's constraint mask ({err}).") from err
    if masks.shape[0] != num_vertices:
        raise ModelFileError(f"{path} flags {masks.shape[0]} vertices; the SMPL-X model has {num_vertices}.")
    return masks > 0


@dataclass
class LHMPrior:
    """Per-query-point data derived from the prior folder (N points, K skin influences).

    Attributes:
        body: the SMPL-X model (10 betas, flat hands).
        points_big: [N,3] query points in the big pose (the network's input).
        skin_indices, skin_weights: [N,K] weights of each point's nearest template vertex.
        shapedirs: [N,3,10] shape blend directions of the nearest vertex.
        unpose: [55,4,4] joint transforms taking the big pose back to the zero pose (betas 0).
        upper_body: [N] bool, scale clamped to 0.02.
        constrained: [N] bool, keeps its rotation when posed.
    """

    body: BodyModel
    points_big: np.ndarray
    skin_indices: np.ndarray
    skin_weights: np.ndarray
    shapedirs: np.ndarray
    unpose: torch.Tensor
    upper_body: np.ndarray
    constrained: np.ndarray

    @property
    def num_points(self) -> int:
        return int(self.points_big.shape[0])


def _pose_points(points: np.ndarray, idx: np.ndarray, w: np.ndarray, rel: torch.Tensor) -> np.ndarray:
    """Skin [N,3] rest points by [55,4,4] transforms -> [N,3]."""
    posed, _ = lbs_points(torch.from_numpy(points), torch.from_numpy(idx.astype(np.int64)),
                          torch.from_numpy(w), rel[None])
    return posed[0].numpy()


def build_prior(body: BodyModel, points: np.ndarray, constrain_mask: np.ndarray) -> LHMPrior:
    """Derive every per-point quantity LHM uses from the template points and the body model."""
    from scipy.spatial import cKDTree
    nn_idx = cKDTree(body.v_template).query(points)[1]
    dense = body.weights[nn_idx]
    k = int(np.clip((dense > 1e-8).sum(1).max(), 1, MAX_INFLUENCES))
    idx, w = dense_to_sparse_weights(dense, k)
    rot = batch_rodrigues(torch.from_numpy(big_pose()))[None]
    joints0 = torch.from_numpy(body.rest_joints(None))
    joints_big, rel_big = forward_kinematics(rot, joints0, SMPLX_PARENTS)
    _, unpose = forward_kinematics(rot.transpose(-1, -2), joints_big[0], SMPLX_PARENTS)
    part = body.weights.argmax(1)
    upper_v = np.isin(part, UPPER_BODY_JOINTS)
    return LHMPrior(body=body, points_big=_pose_points(points, idx, w, rel_big[0]), skin_indices=idx,
                    skin_weights=w, shapedirs=body.shapedirs[nn_idx][..., :10].astype(np.float32),
                    unpose=unpose[0], upper_body=upper_v[nn_idx], constrained=constrain_mask[nn_idx])


def load_prior(prior_dir: str | Path, num_points: int, cano_pose_type: int = 1) -> LHMPrior:
    """Read the prior folder (see module docstring) for a model with `num_points` query points."""
    root = Path(prior_dir)
    body = BodyModel(root / "human_model_files", "neutral", flat_hand_mean=True, num_betas=10)
    points = read_points_ply(root / points_file(num_points, cano_pose_type))
    if points.shape[0] != num_points:
        raise ModelFileError(f"{root / points_file(num_points, cano_pose_type)} holds {points.shape[0]} points; "
                             f"the model expects {num_points}.")
    mask = read_constrain_mask(root / CONSTRAIN_FILE, body.num_vertices)
    return build_prior(body, points, mask)


def load_sapiens(path: str | Path, device: torch.device) -> torch.jit.ScriptModule:
    """The official Sapiens torchscript file, in eval mode on `device`."""
    import warnings
    try:
        with warnings.catch_warnings():  # torchscript is deprecated, but it is the official file format
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.jit.load(str(path), map_location=device)
    except Exception as err:
        raise ModelFileError(f"{path} is not a loadable torchscript Sapiens model ({err}).") from err
    return model.eval()
