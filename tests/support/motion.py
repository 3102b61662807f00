"""Helpers for the motion tests (no tests here): a plausible SMPL-X-format body and test motions.

The body file is written by our own code. Its joints sit where a standing adult's joints are
(metres, +Y up, facing +Z, floor at y = 0) so that bone directions, hip heights and soles mean
something; vertices are scattered along the bones and skinned rigidly to one joint each.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar_studio.core.motion.skeleton import PARENTS
from avatar_studio.core.motion.motion import Motion

V = 10475

_BODY = {  # joint: (x, y, z), the left side; the right side mirrors x
    0: (0.0, 0.93, 0.0), 1: (0.09, 0.85, -0.005), 3: (0.0, 1.04, -0.02), 4: (0.10, 0.47, 0.005),
    6: (0.0, 1.17, -0.01), 7: (0.11, 0.08, -0.03), 9: (0.0, 1.23, 0.0), 10: (0.12, 0.02, 0.10),
    12: (0.0, 1.45, -0.02), 13: (0.07, 1.37, -0.01), 15: (0.0, 1.54, 0.02), 16: (0.18, 1.40, -0.03),
    18: (0.44, 1.38, -0.05), 20: (0.68, 1.38, -0.04), 22: (0.0, 1.50, 0.06), 23: (0.03, 1.60, 0.08),
}
_MIRROR = {2: 1, 5: 4, 8: 7, 11: 10, 14: 13, 17: 16, 19: 18, 21: 20, 24: 23}
_FINGER_BASE = {"index": (0.09, -0.005, 0.025), "middle": (0.095, 0.0, 0.005), "pinky": (0.08, -0.01, -0.035),
                "ring": (0.09, -0.005, -0.015), "thumb": (0.03, -0.015, 0.035)}
_FINGER_DIR = {"index": (1, 0, 0.05), "middle": (1, 0, 0), "pinky": (1, 0, -0.1), "ring": (1, 0, -0.05),
               "thumb": (0.6, -0.1, 0.8)}


def plausible_rest_joints() -> np.ndarray:
    """[55,3] rest joints of a standing adult in SMPL-X order."""
    j = np.zeros((55, 3))
    for k, v in _BODY.items():
        j[k] = v
    for r, l in _MIRROR.items():
        j[r] = j[l] * [-1, 1, 1]
    for side, wrist, first in ((1, 20, 25), (-1, 21, 40)):
        for f, name in enumerate(("index", "middle", "pinky", "ring", "thumb")):
            base = j[wrist] + np.array(_FINGER_BASE[name]) * [side, 1, 1]
            step = np.array(_FINGER_DIR[name], float) * [side, 1, 1]
            step = step / np.linalg.norm(step)
            for k, length in enumerate((0.0, 0.035, 0.06)):
                j[first + 3 * f + k] = base + step * length
    return j


def write_plausible_smplx(folder: Path, seed: int = 0) -> Path:
    """A SMPL-X-format SMPLX_NEUTRAL.npz under folder/smplx/ whose joints are `plausible_rest_joints`."""
    rng = np.random.default_rng(seed)
    joints = plausible_rest_joints()
    owner = np.concatenate([np.arange(55), rng.integers(0, 55, V - 55)])
    children = {p: c for c, p in enumerate(PARENTS) if p >= 0}
    verts = joints[owner].copy()
    along = rng.random(V - 55)[:, None]
    tip = np.array([joints[children[o]] if o in children else joints[o] for o in owner[55:]])
    verts[55:] += along * (tip - joints[owner[55:]]) + rng.normal(scale=0.02, size=(V - 55, 3))
    weights = np.zeros((V, 55), np.float32)
    weights[np.arange(V), owner] = 1
    jreg = np.zeros((55, V), np.float32)
    jreg[np.arange(55), np.arange(55)] = 1
    shapedirs = rng.normal(scale=0.002, size=(V, 3, 20)).astype(np.float32)
    shapedirs[:, :, 0] = verts * 0.03          # beta 0: overall size
    shapedirs[:, 0, 1] = verts[:, 0] * 0.05    # beta 1: width
    kintree = np.stack([PARENTS, np.arange(55)]).astype(np.int64)
    data = dict(
        v_template=verts.astype(np.float32), f=rng.integers(0, V, size=(20908, 3)).astype(np.int64),
        shapedirs=shapedirs, posedirs=np.zeros((V, 3, 486), np.float32), J_regressor=jreg, weights=weights,
        kintree_table=kintree, hands_componentsl=np.eye(45, dtype=np.float32),
        hands_componentsr=np.eye(45, dtype=np.float32),
        hands_meanl=(rng.normal(size=45) * 0.2).astype(np.float32), hands_meanr=(rng.normal(size=45) * 0.2).astype(np.float32),
        lmk_faces_idx=rng.integers(0, 20908, size=51).astype(np.int64), lmk_bary_coords=np.full((51, 3), 1 / 3, np.float32),
    )
    out = Path(folder) / "smplx" / "SMPLX_NEUTRAL.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **data)
    return out


def make_body(folder: Path):
    """A `BodyModel` on the plausible stand-in written under `folder`."""
    from avatar_studio.core.body.model import BodyModel
    write_plausible_smplx(folder)
    return BodyModel(folder)


def smooth_motion(num_frames: int = 40, fps: float = 30.0, seed: int = 0, amplitude: float = 0.5,
                  hands: bool = True, **kw) -> Motion:
    """A smooth random motion: every joint follows its own sinusoids (radians, about `amplitude`)."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None, None] / fps
    freq = rng.uniform(0.3, 1.2, size=(1, 55, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 55, 3))
    amp = rng.uniform(0.3, 1.0, size=(1, 55, 3)) * amplitude
    pose = amp * np.sin(2 * np.pi * freq * t + phase)
    if not hands:
        pose[:, 22:] = 0
    transl = np.cumsum(rng.normal(scale=0.01, size=(num_frames, 3)), axis=0)
    return Motion.from_full_pose(pose.astype(np.float32), transl.astype(np.float32), fps=fps,
                                 betas=rng.normal(scale=0.5, size=10).astype(np.float32), **kw)


def planted_motion(rest_joints: np.ndarray, num_frames: int = 60, fps: float = 30.0, seed: int = 3,
                   betas: np.ndarray | None = None) -> tuple[Motion, np.ndarray]:
    """A smooth random body motion whose translation pins one foot joint to the floor at a time.

    The left foot (joint 10) stands for the first half, the right foot (11) for the second half.
    Returns (motion, [T] index of the standing foot joint per frame).
    """
    from avatar_studio.core.motion.skeleton import posed_joints
    base = smooth_motion(num_frames, fps, seed=seed, amplitude=0.4, hands=False)
    pose = base.full_pose().copy()
    pose[:, 0] = 0
    pose[:, 0, 1] = np.linspace(0, 1.2, num_frames)  # turn about the vertical while stepping
    joints = posed_joints(pose, np.zeros((num_frames, 3)), rest_joints)
    stance = np.where(np.arange(num_frames) < num_frames // 2, 10, 11)
    foot = joints[np.arange(num_frames), stance]
    anchor = foot.copy()
    half = num_frames // 2
    anchor[:half] = foot[0] * [1, 0, 1]
    anchor[half:] = anchor[half - 1] + (foot[half] - foot[half - 1]) * [1, 0, 1]
    anchor[half:, 1] = 0
    anchor[half:] = anchor[half]
    transl = anchor - foot + [0, 0.02, 0]
    motion = Motion.from_full_pose(pose.astype(np.float32), transl.astype(np.float32), fps=fps,
                                   betas=np.zeros(10, np.float32) if betas is None else betas)
    return motion, stance


def foot_drift(motion: Motion, rest_joints: np.ndarray, stance: np.ndarray) -> np.ndarray:
    """[T] horizontal distance (m) of the standing foot from where it stood at the start of its stance."""
    from avatar_studio.core.motion.skeleton import posed_joints
    joints = posed_joints(motion.full_pose(), motion.transl, rest_joints)
    t = np.arange(motion.num_frames)
    foot = joints[t, stance]
    start = np.array([np.flatnonzero(stance == stance[i])[0] for i in t])
    diff = foot - foot[start]
    return np.linalg.norm(diff[:, [0, 2]], axis=1)


# ---------------------------------------------------------------------------------------------- format writers
# Each writer lays out a file exactly as its source tool does, from arrays, without our exporters.

def write_amass_npz(path: Path, motion: Motion, smplh: bool = False, **extra) -> Path:
    """AMASS `*_stageii.npz` (165-D) or SMPL+H (156-D, `mocap_framerate`)."""
    fp = motion.full_pose().reshape(motion.num_frames, -1)
    if smplh:
        p = motion.full_pose()
        poses = np.concatenate([p[:, :22], p[:, 25:55]], axis=1).reshape(motion.num_frames, -1)
        data = dict(poses=poses, trans=motion.transl, betas=np.zeros(16), gender=np.array("female"),
                    mocap_framerate=np.array(motion.fps))
    else:
        data = dict(poses=fp, trans=motion.transl, betas=np.pad(motion.betas, (0, 6)), gender=np.array("male"),
                    surface_model_type=np.array("smplx"), mocap_frame_rate=np.array(motion.fps))
    data.update(extra)
    np.savez(path, **data)
    return path


def write_lhm_folder(folder: Path, motion: Motion, nested: bool = True) -> Path:
    """LHM per-frame JSON files (`smplx_params/00001.json`, ...), camera-frame values as given."""
    import json
    out = Path(folder) / "smplx_params" if nested else Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(motion.num_frames):
        frame = {"betas": motion.betas[:10].tolist(), "root_pose": motion.global_orient[i].tolist(),
                 "body_pose": motion.body_pose[i].tolist(), "jaw_pose": motion.jaw[i].tolist(),
                 "leye_pose": motion.leye[i].tolist(), "reye_pose": motion.reye[i].tolist(),
                 "lhand_pose": motion.lhand[i].tolist(), "rhand_pose": motion.rhand[i].tolist(),
                 "trans": motion.transl[i].tolist(), "focal": [1200.0, 1200.0], "princpt": [400.0, 600.0],
                 "img_size_wh": [800, 1200], "pad_ratio": 0.0, "expr": [0.0] * 10}
        (out / f"{i + 1:05d}.json").write_text(json.dumps(frame), encoding="utf-8")
    return Path(folder)


def write_gvhmr_pt(path: Path, world: Motion, incam: Motion) -> Path:
    """GVHMR `hmr4d_results.pt`: torch.save of a dict of tensors."""
    import torch

    def params(m: Motion) -> dict:
        t = m.num_frames
        return {"global_orient": torch.from_numpy(m.global_orient.copy()),
                "body_pose": torch.from_numpy(m.body_pose.reshape(t, 63).copy()),
                "betas": torch.from_numpy(np.tile(m.betas[:10], (t, 1))),
                "transl": torch.from_numpy(m.transl.copy())}

    torch.save({"smpl_params_global": params(world), "smpl_params_incam": params(incam),
                "K_fullimg": torch.eye(3)[None].repeat(world.num_frames, 1, 1)}, path)
    return path


def write_motionx_npy(path: Path, motion: Motion) -> Path:
    """Motion-X (T,322): root | body | hands | jaw | expr | face shape | trans | betas."""
    t = motion.num_frames
    arr = np.zeros((t, 322), np.float32)
    arr[:, 0:3] = motion.global_orient
    arr[:, 3:66] = motion.body_pose.reshape(t, 63)
    arr[:, 66:111] = motion.lhand.reshape(t, 45)
    arr[:, 111:156] = motion.rhand.reshape(t, 45)
    arr[:, 156:159] = motion.jaw
    arr[:, 309:312] = motion.transl
    arr[:, 312:322] = motion.betas[:10]
    np.save(path, arr)
    return path


def write_human3r_folder(folder: Path, people: dict[int, Motion], c2w: np.ndarray, body, with_ids: bool = True,
                         absent: dict[int, set[int]] | None = None, demo_layout: bool = False) -> Path:
    """Human3R per-frame output for several people.

    `people`: smpl_id -> motion in Human3R's world (the first camera's OpenCV frame), hands flat;
    `c2w`: [T,4,4] camera-to-world per frame; `absent`: smpl_id -> frames where that person is unseen.
    Each frame stores the person in that frame's camera coordinates, with `transl` the head joint.
    `demo_layout`: as Human3R's demo saves frames (SPECS 4.2): `scores` an (H, W) map and `msk`
    None (a pickled object member) on even frames, a (1, H, W) mask on odd ones.
    """
    from avatar_studio.core.rotations import aa_to_rotmat, rotmat_to_aa
    folder = Path(folder)
    (folder / "smpl").mkdir(parents=True, exist_ok=True)
    (folder / "camera").mkdir(parents=True, exist_ok=True)
    absent = absent or {}
    t = next(iter(people.values())).num_frames
    for f in range(t):
        r_c, t_c = c2w[f, :3, :3], c2w[f, :3, 3]
        rows = {"rotvec": [], "shape": [], "expression": [], "transl": [], "scores": [], "smpl_id": []}
        for pid, m in people.items():
            if f in absent.get(pid, set()):
                continue
            fp = m.full_pose()[f]
            rot_world = aa_to_rotmat(fp[0])
            zero_orient = fp.copy()
            zero_orient[0] = 0
            joints = body.joint_transforms(zero_orient[None], m.betas)[0][0].numpy().astype(np.float64)
            j0 = body.rest_joints(m.betas)[0].astype(np.float64)
            head_world = rot_world @ (joints[15] - j0) + j0 + m.transl[f]
            rotvec = np.concatenate([rotmat_to_aa(r_c.T @ rot_world)[None], fp[1:22], fp[25:40], fp[40:55], fp[22:23]])
            rows["rotvec"].append(rotvec)
            rows["shape"].append(m.betas[:10])
            rows["expression"].append(np.zeros(10))
            rows["transl"].append(r_c.T @ (head_world - t_c))
            rows["scores"].append(0.9)
            rows["smpl_id"].append(pid)
        arrays = {k: np.asarray(v, np.float32).reshape((len(v),) + ((53, 3) if k == "rotvec" else (10,) if k in ("shape", "expression") else (3,) if k == "transl" else ()))
                  for k, v in rows.items()}
        arrays["smpl_id"] = arrays["smpl_id"].astype(np.int64)
        if not with_ids:
            del arrays["smpl_id"]
        if demo_layout:
            arrays["scores"] = np.random.default_rng(f).uniform(0, 1, (24, 32)).astype(np.float32)
            arrays["msk"] = None if f % 2 == 0 else np.ones((1, 24, 32), np.float32)
        np.savez(folder / "smpl" / f"{f:06d}.npz", **arrays)
        np.savez(folder / "camera" / f"{f:06d}.npz", pose=c2w[f].astype(np.float32),
                 intrinsics=np.array([[1000, 0, 500], [0, 1000, 300], [0, 0, 1]], np.float32))
    return folder


def look_at_c2w(position, target, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """[4,4] OpenCV camera-to-world (x right, y down, z forward) at `position` looking at `target`."""
    z = np.asarray(target, float) - np.asarray(position, float)
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, y, z], axis=1)
    m[:3, 3] = position
    return m


_SHARED: dict = {}


def shared_body():
    """One plausible `BodyModel` per test process (written to a temporary folder removed at exit)."""
    if "body" not in _SHARED:
        import atexit
        import shutil
        import tempfile
        folder = Path(tempfile.mkdtemp(prefix="motion_body_"))
        atexit.register(shutil.rmtree, folder, True)
        _SHARED["body"] = make_body(folder)
    return _SHARED["body"]


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between [...,3] axis-angle rotations a and b."""
    from avatar_studio.core.rotations import aa_to_rotmat
    ra, rb = aa_to_rotmat(a), aa_to_rotmat(b)
    cos = (np.trace(np.swapaxes(ra, -1, -2) @ rb, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


# ---------------------------------------------------------------------------------------------- BVH skeletons
MIXAMO_A_POSE_DEG = {16: (0, 0, -45), 17: (0, 0, 45), 1: (0, 0, 5), 2: (0, 0, -5)}


def a_pose(angles_deg: dict[int, tuple] = MIXAMO_A_POSE_DEG) -> np.ndarray:
    """[55,3] axis-angle rest pose: arms lowered about Z (an artist's A-pose), legs slightly apart."""
    pose = np.zeros((55, 3))
    for j, xyz in angles_deg.items():
        pose[j] = np.radians(xyz)
    return pose


def mixamo_spec(bone_scale_seed: int | None = 1, order: str = "ZXY", fingers: bool = True):
    """Mixamo-named SMPL-X body (+fingers), centimetres, Y up, A-pose, `mixamorig:` prefix."""
    from avatar_studio.core.motion.export import BvhExportSkeleton
    from avatar_studio.core.motion.retarget import PRESETS
    from avatar_studio.core.motion.skeleton import SMPLX_JOINT_NAMES
    inverse = {v: k for k, v in PRESETS["mixamo"].items()}
    joints = [j for j in range(55) if j < 22 or (fingers and j >= 25)]
    pos = {j: k for k, j in enumerate(joints)}
    parents = [pos[PARENTS[j]] if PARENTS[j] >= 0 else -1 for j in joints]
    names = ["mixamorig:" + inverse[SMPLX_JOINT_NAMES[j]] for j in joints]
    scale = None if bone_scale_seed is None else np.random.default_rng(bone_scale_seed).uniform(0.9, 1.1, len(joints))
    return BvhExportSkeleton(names, parents, joints, joints, rest_pose=a_pose(), bone_scale=scale, order=order,
                             units=100.0, up_axis="y")


def cmu_spec(seed: int = 2):
    """CMU-style skeleton: Z up, inches-like units, ZYX channels, extra LHipJoint/Neck1/finger-base joints."""
    from avatar_studio.core.motion.export import BvhExportSkeleton
    from avatar_studio.core.motion.skeleton import JOINT_INDEX as J
    rows = [("Hips", None, 0, 0)]
    for short, side, s in (("L", "Left", "left"), ("R", "Right", "right")):
        rows += [(f"{short}HipJoint", "Hips", 0, 0), (f"{side}UpLeg", f"{short}HipJoint", J[s + "_hip"], J[s + "_hip"]),
                 (f"{side}Leg", f"{side}UpLeg", J[s + "_knee"], J[s + "_knee"]),
                 (f"{side}Foot", f"{side}Leg", J[s + "_ankle"], J[s + "_ankle"]),
                 (f"{side}ToeBase", f"{side}Foot", J[s + "_foot"], J[s + "_foot"])]
    rows += [("LowerBack", "Hips", 3, 3), ("Spine", "LowerBack", 6, 6), ("Spine1", "Spine", 9, 9),
             ("Neck", "Spine1", 12, 12), ("Neck1", "Neck", 12, 12), ("Head", "Neck1", 15, 15)]
    for short, side, s in (("L", "Left", "left"), ("R", "Right", "right")):
        rows += [(f"{side}Shoulder", "Spine1", J[s + "_collar"], J[s + "_collar"]),
                 (f"{side}Arm", f"{side}Shoulder", J[s + "_shoulder"], J[s + "_shoulder"]),
                 (f"{side}ForeArm", f"{side}Arm", J[s + "_elbow"], J[s + "_elbow"]),
                 (f"{side}Hand", f"{side}ForeArm", J[s + "_wrist"], J[s + "_wrist"]),
                 (f"{side}FingerBase", f"{side}Hand", J[s + "_wrist"], J[s + "_middle1"]),
                 (f"{short}Thumb", f"{side}Hand", J[s + "_thumb1"], J[s + "_thumb1"])]
    names = [r[0] for r in rows]
    parents = [names.index(r[1]) if r[1] else -1 for r in rows]
    scale = np.random.default_rng(seed).uniform(0.9, 1.1, len(rows))
    pose = a_pose({16: (0, 0, -40), 17: (0, 0, 40), 1: (0, 0, 4), 2: (0, 0, -4)})
    return BvhExportSkeleton(names, parents, [r[2] for r in rows], [r[3] for r in rows], rest_pose=pose,
                             bone_scale=scale, order="ZYX", units=17.7, up_axis="z")


TINY_BVH = """HIERARCHY
ROOT Root {
  OFFSET 0 0 0
  CHANNELS 6 Yrotation Xposition Zrotation Yposition Xrotation Zposition
  JOINT Child
  {
    OFFSET 0 2 0
    CHANNELS 3 Xrotation Zrotation Yrotation
    End Site { OFFSET 0 1 0 }
  }
}
ROOT Prop
{
  OFFSET 1 0 0
  CHANNELS 0
}
MOTION
Frames: 2
Frame Time: 0.04
90 1 0 2 0 3   0 0 0
0 1 0 2 0 3   90 0 0
"""
