"""Human3R results saved per frame: `smpl/{f:06d}.npz` and `camera/{f:06d}.npz` (SPECS §4.2).

smpl frame: `rotvec` (n,53,3) = [global_orient | 21 body | 15 left hand | 15 right hand | jaw],
`shape` (n,10), `expression` (n,10), `transl` (n,3), `scores` (n,) or, as Human3R's demo writes it,
an (H,W) map, sometimes `smpl_id` (n,) and `msk` (1,H,W) or None (a pickled object member, skipped).
`transl` is the camera-frame position of the head joint (15), not SMPL-X transl:
    t_cam = head - R_go (J15 - J0) - J0,   J posed by the body pose at zero orient and transl.
camera frame: `pose` (4,4) camera-to-world, `intrinsics` (3,3). The world is the first camera's
frame (OpenCV axes, not gravity-aligned):
    global_orient_w = R_c R_go,   pelvis_w = R_c (J0 + t_cam) + t_c.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..rotations import aa_to_quat, aa_to_rotmat, quat_slerp, quat_to_aa, rotmat_to_aa
from .conventions import rest_joints_of
from .motion import Motion
from .validate import positive_fps, shaped

DEFAULT_FPS = 30.0
HEAD = 15
_SPINE_TO_HEAD = (3, 6, 9, 12, 15)


@dataclass
class PersonTrack:
    """One person seen in a Human3R folder: `id` (smpl_id, or row index), frames seen, mean score."""

    id: int
    frames: list[int]
    mean_score: float

    @property
    def num_frames(self) -> int:
        return len(self.frames)


def _frame_index(path: Path) -> int:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else -1


def frame_files(folder: Path, sub: str) -> dict[int, Path]:
    """frame number -> file for `folder/sub/*.npz`."""
    return {_frame_index(p): p for p in (Path(folder) / sub).glob("*.npz") if p.is_file()}


def looks_like_human3r(path: Path) -> bool:
    """A folder with `smpl/*.npz` frames (usually also `camera/*.npz`)."""
    path = Path(path)
    return path.is_dir() and (path / "smpl").is_dir() and any((path / "smpl").glob("*.npz"))


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    from ..io.safe import excerpt, load_npz  # size-checked before inflating; only number arrays
    # its messages start with this label (a wrapper naming the file again read "x is not ... (x is not ...).")
    return load_npz(path, f"{excerpt(path.parent.name, 30)}/{excerpt(path.name)}", skip_objects=True)  # msk=None


def _person_scores(value, n: int, src: str) -> np.ndarray:
    """[n] one score per person. Human3R's demo saves `scores` as an (H, W) confidence map, not one
    value per person; then every person gets the map's mean (it only orders tracks)."""
    if value is None:
        return np.ones(n)
    arr = shaped(value, (-1,), "scores", src)  # numeric and finite, checked; any shape flattened
    if arr.size == n:
        return arr.reshape(n)
    return np.full(n, float(arr.mean()) if arr.size else 1.0)


def _read_people(path: Path) -> dict[str, np.ndarray]:
    """A checked smpl frame: arrays with one row per person."""
    src = f"{path.parent.name}/{path.name}"
    data = _load_npz(path)
    for key in ("rotvec", "shape", "transl"):
        if key not in data:
            raise InputError(f"{src} lacks '{key}'; a Human3R smpl frame needs rotvec, shape and transl.")
    rot = shaped(data["rotvec"], (-1, 53, 3), "rotvec", src)
    n = rot.shape[0]
    shape = shaped(data["shape"], (-1, data["shape"].shape[-1] if data["shape"].ndim else 10), "shape", src)
    out = {"rotvec": rot, "shape": shape[:, :10], "transl": shaped(data["transl"], (-1, 3), "transl", src)}
    out["expression"] = (shaped(data["expression"], (-1, data["expression"].shape[-1]), "expression", src)
                         if "expression" in data and data["expression"].ndim == 2 else np.zeros((n, 10)))
    out["scores"] = _person_scores(data.get("scores"), n, src)
    if "smpl_id" in data:
        out["smpl_id"] = np.clip(shaped(data["smpl_id"], (-1,), "smpl_id", src), -2**31, 2**31).astype(np.int64)
    for key, arr in out.items():
        if arr.shape[0] != n:
            raise InputError(f"{src}: '{key}' has {arr.shape[0]} rows but 'rotvec' has {n} people.")
    return out


def _read_camera(path: Path) -> np.ndarray:
    src = f"{path.parent.name}/{path.name}"
    data = _load_npz(path)
    if "pose" not in data:
        raise InputError(f"{src} lacks 'pose' (the 4x4 camera-to-world matrix).")
    pose = shaped(data["pose"], (4, 4), "pose", src)
    rot = pose[:3, :3]
    if abs(np.linalg.det(rot) - 1) > 0.05 or np.abs(rot @ rot.T - np.eye(3)).max() > 0.05:
        raise InputError(f"{src}: 'pose' is not a rigid camera-to-world transform.")
    return pose


def _person_ids(frame: dict[str, np.ndarray]) -> np.ndarray:
    return frame["smpl_id"] if "smpl_id" in frame else np.arange(frame["rotvec"].shape[0])


def _scan(folder: Path) -> dict[int, dict[str, np.ndarray]]:
    files = frame_files(folder, "smpl")
    if not files:
        raise InputError(f"{folder} has no Human3R frames (smpl/*.npz).")
    return {f: _read_people(p) for f, p in sorted(files.items())}


def list_people(folder: str | Path) -> list[PersonTrack]:
    """The people in a Human3R folder, longest track first."""
    return _tracks(_scan(Path(folder)))


def _tracks(frames: dict[int, dict[str, np.ndarray]]) -> list[PersonTrack]:
    tracks: dict[int, list[tuple[int, float]]] = {}
    for f, frame in frames.items():
        for row, pid in enumerate(_person_ids(frame)):
            tracks.setdefault(int(pid), []).append((f, float(frame["scores"][row])))
    people = [PersonTrack(pid, [f for f, _ in seen], float(np.mean([s for _, s in seen]))) for pid, seen in tracks.items()]
    return sorted(people, key=lambda p: (-p.num_frames, -p.mean_score, p.id))


def _joint_bases(body) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint regressor applied to template, shape and expression directions: [55,3], [55,3,S], [55,3,E]."""
    if isinstance(body, np.ndarray) or body is None:
        rest = rest_joints_of(body)
        return rest, np.zeros((55, 3, 10)), np.zeros((55, 3, 10))
    jreg = body.J_regressor.astype(np.float64)
    return (jreg @ body.v_template, np.einsum("jv,vcs->jcs", jreg, body.shapedirs),
            np.einsum("jv,vcs->jcs", jreg, body.expr_dirs))


def _rest_joints(bases, betas: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """[N,55,3] rest joints for [N,B] betas and [N,E] expressions."""
    template, shape_dirs, expr_dirs = bases
    b = np.zeros((betas.shape[0], shape_dirs.shape[2]))
    b[:, : min(b.shape[1], betas.shape[1])] = betas[:, : b.shape[1]]
    e = np.zeros((expression.shape[0], expr_dirs.shape[2]))
    e[:, : min(e.shape[1], expression.shape[1])] = expression[:, : e.shape[1]]
    return template[None] + np.einsum("jcs,ns->njc", shape_dirs, b) + np.einsum("jcs,ns->njc", expr_dirs, e)


def head_offset(body_pose: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """[N,3] head joint minus pelvis, posed by [N,21,3] body pose at zero global orient; rest [N,55,3]."""
    rot = np.broadcast_to(np.eye(3), (body_pose.shape[0], 3, 3)).copy()
    pos = np.zeros((body_pose.shape[0], 3))
    parent = 0
    for j in _SPINE_TO_HEAD:
        pos = pos + (rot @ (rest[:, j] - rest[:, parent])[..., None])[..., 0]
        rot = rot @ aa_to_rotmat(body_pose[:, j - 1])
        parent = j
    return pos


def _fill_gaps(values: dict[str, np.ndarray], present: np.ndarray) -> dict[str, np.ndarray]:
    """Fill frames where the person is missing (first and last are present).

    Values with key "pose" ([T,J,3] axis-angle) are slerped, the others interpolated linearly.
    """
    idx = np.flatnonzero(present)
    t = np.arange(present.size)
    pos = np.searchsorted(idx, t, side="right") - 1
    prv = idx[pos]
    nxt = idx[np.minimum(pos + (~present).astype(int), idx.size - 1)]
    a = np.where(nxt > prv, (t - prv) / np.maximum(nxt - prv, 1), 0.0)
    out = {}
    for key, arr in values.items():
        if key == "pose":
            weight = np.broadcast_to(a[:, None], arr.shape[:2])
            out[key] = quat_to_aa(quat_slerp(aa_to_quat(arr[prv]), aa_to_quat(arr[nxt]), weight))
        else:
            w = a.reshape((-1,) + (1,) * (arr.ndim - 1))
            out[key] = arr[prv] * (1 - w) + arr[nxt] * w
    return out


def _world_pose(rotvec: np.ndarray, shape: np.ndarray, expression: np.ndarray, head: np.ndarray,
                c2w: np.ndarray, bases) -> tuple[np.ndarray, np.ndarray]:
    """One person in one frame -> ([55,3] SMPL-X full pose with world orient, [3] world pelvis).

    rotvec [53,3], shape [B], expression [E], head [3] camera-frame head joint, c2w [4,4].
    """
    rest = _rest_joints(bases, shape[None], expression[None])                  # [1,55,3]
    r_go = aa_to_rotmat(rotvec[0])
    t_cam = head - r_go @ head_offset(rotvec[None, 1:22], rest)[0] - rest[0, 0]
    pelvis = c2w[:3, :3] @ (rest[0, 0] + t_cam) + c2w[:3, 3]
    full = np.zeros((55, 3))
    full[0] = rotmat_to_aa(c2w[:3, :3] @ r_go)
    full[1:22] = rotvec[1:22]
    full[22] = rotvec[52]
    full[25:40] = rotvec[22:37]
    full[40:55] = rotvec[37:52]
    return full, pelvis


def load_human3r(folder: str | Path, body=None, *, person: int | None = None, world: bool = True,
                 ground: bool = True, fps: float | None = None) -> Motion:
    """Read one person of a Human3R per-frame folder.

    Args:
        body: `BodyModel` (needed for exact head-to-pelvis offsets), rest joints, or None (default model).
        person: smpl_id (or row index when there is no smpl_id); default: the longest track.
        world: apply the per-frame camera-to-world transforms (needs `camera/`).
        ground: level the floor and put the feet on y = 0 (gives a Y-up world motion).
        fps: frame rate (Human3R does not store one; default 30).
    """
    folder = Path(folder)
    if not looks_like_human3r(folder):
        raise InputError(f"{folder} is not a Human3R result folder (it needs smpl/*.npz frames).")
    frames = _scan(folder)
    people = _tracks(frames)
    if not people:
        raise InputError(f"No person is detected in any frame of {folder}.")
    if person is None:
        chosen = people[0]
    else:
        chosen = next((p for p in people if p.id == int(person)), None)
        if chosen is None:
            raise InputError(f"Person {person} is not in {folder.name}; people: {', '.join(str(p.id) for p in people)}.")
    first, last = chosen.frames[0], chosen.frames[-1]
    numbers = [f for f in sorted(frames) if first <= f <= last]
    cameras = frame_files(folder, "camera") if world else {}
    if world and not cameras:
        raise InputError(f"{folder.name} has no camera/ frames; load it with world=False for camera-frame motion.")
    bases = _joint_bases(body)
    full, pelvis, shapes, present = [], [], [], []
    for f in numbers:
        frame = frames[f]
        hit = np.flatnonzero(_person_ids(frame) == chosen.id)
        present.append(hit.size > 0)
        if hit.size == 0:  # filled in below
            full.append(full[-1])
            pelvis.append(pelvis[-1])
            shapes.append(shapes[-1])
            continue
        r = int(hit[0])
        cam = np.eye(4)
        if world:
            if f not in cameras:
                raise InputError(f"{folder.name}/camera has no frame {f:06d} to match smpl/{f:06d}.npz.")
            cam = _read_camera(cameras[f])
        pose_w, pelvis_w = _world_pose(frame["rotvec"][r], frame["shape"][r], frame["expression"][r],
                                       frame["transl"][r], cam, bases)
        full.append(pose_w)
        pelvis.append(pelvis_w)
        shapes.append(frame["shape"][r])
    present = np.array(present)
    filled = {"pose": np.stack(full), "pelvis": np.stack(pelvis), "shape": np.stack(shapes)}
    if not present.all():
        filled = _fill_gaps(filled, present)
    betas = np.median(filled["shape"], axis=0)
    j0_ref = _rest_joints(bases, betas[None], np.zeros((1, 10)))[0, 0]
    motion = Motion.from_full_pose(filled["pose"].astype(np.float32), (filled["pelvis"] - j0_ref).astype(np.float32),
                                   betas=betas.astype(np.float32),
                                   fps=positive_fps(fps or DEFAULT_FPS, folder.name), flat_hand_mean=True,
                                   up_axis="y", frame="camera", name=f"{folder.name} person {chosen.id}",
                                   meta={"source": "human3r", "person": chosen.id, "first_frame": first})
    if ground:
        from .ground import level_to_ground
        motion = level_to_ground(motion, body)
    return motion
