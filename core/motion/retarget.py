"""Retarget BVH motion onto the SMPL-X skeleton by global rotation transfer.

For each mapped joint (SPECS §4.2, BVH):
    G_t = C G_s C^T · Q
where G_s is the source joint's world rotation (its rest frame is the world frame in BVH), C the
axis conversion from the source world to the Y-up SMPL-X world, and Q the rest-pose correction:
the shortest-arc rotation taking the SMPL-X rest bone direction onto the source rest bone
direction (A-pose vs T-pose). SMPL-X rest frames are the identity, so the local rotations are
G_parent^T G_child. Unmapped SMPL-X joints keep their rest pose (identity local rotation).

C comes from the motion (pelvis to head and feet to pelvis over the frames), not the rest pose,
which some rigs lay along another axis. The root follows the middle of the hip joints, scaled by
the ratio of leg lengths (no unit is trusted), and is corrected so that feet standing on the
source's floor do not slide (`plant_feet`). Zero-length bones (CMU's LowerBack, LHipJoint) are
looked through in the rest correction.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..rotations import rotation_between, rotmat_to_aa
from .bvh import BvhClip, BvhSkeleton
from .motion import Motion
from .skeleton import JOINT_INDEX, PARENTS, SMPLX_JOINT_NAMES, forward_kinematics_np, local_from_global

# ---------------------------------------------------------------------------------------------- presets
_FINGERS = ("index", "middle", "ring", "pinky", "thumb")


def _limbs_table(spine: dict[str, str], fingers: bool) -> dict[str, str]:
    """Mixamo and CMU share the limb names (LeftUpLeg, LeftArm, ...); `spine` maps the rest."""
    table = dict(spine)
    for side, s in (("Left", "left"), ("Right", "right")):
        table.update({f"{side}UpLeg": f"{s}_hip", f"{side}Leg": f"{s}_knee", f"{side}Foot": f"{s}_ankle",
                      f"{side}ToeBase": f"{s}_foot", f"{side}Shoulder": f"{s}_collar", f"{side}Arm": f"{s}_shoulder",
                      f"{side}ForeArm": f"{s}_elbow", f"{side}Hand": f"{s}_wrist"})
        if fingers:
            for finger in _FINGERS:
                for k in (1, 2, 3):
                    table[f"{side}Hand{finger.capitalize()}{k}"] = f"{s}_{finger}{k}"
    return table


def _mixamo_preset() -> dict[str, str]:
    return _limbs_table({"Hips": "pelvis", "Spine": "spine1", "Spine1": "spine2", "Spine2": "spine3",
                         "Neck": "neck", "Head": "head"}, fingers=True)


def _cmu_preset() -> dict[str, str]:
    return _limbs_table({"Hips": "pelvis", "LowerBack": "spine1", "Spine": "spine2", "Spine1": "spine3",
                         "Neck": "neck", "Head": "head"}, fingers=False)


PRESETS: dict[str, dict[str, str]] = {
    "mixamo": _mixamo_preset(),
    "cmu": _cmu_preset(),
    "smplx": {name: name for name in SMPLX_JOINT_NAMES},
}

# Which SMPL-X joint's direction defines each joint's bone (None: no bone to align).
_BONE_CHILD = {1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 12: 15, 13: 16, 14: 17, 16: 18,
               17: 19, 18: 20, 19: 21, 20: JOINT_INDEX["left_middle1"], 21: JOINT_INDEX["right_middle1"]}
for _side in ("left", "right"):
    for _finger in _FINGERS:
        _BONE_CHILD[JOINT_INDEX[f"{_side}_{_finger}1"]] = JOINT_INDEX[f"{_side}_{_finger}2"]
        _BONE_CHILD[JOINT_INDEX[f"{_side}_{_finger}2"]] = JOINT_INDEX[f"{_side}_{_finger}3"]


def strip_namespace(name: str) -> str:
    """'mixamorig:LeftArm' -> 'LeftArm'; 'Armature|Hips' -> 'Hips'."""
    return re.split(r"[:|]", name)[-1].strip()


def preset_mapping(skeleton: BvhSkeleton, preset: str) -> dict[str, str]:
    """BVH joint name -> SMPL-X joint name for the joints `preset` ("mixamo", "cmu", "smplx") knows."""
    if preset not in PRESETS:
        raise InputError(f"Unknown mapping preset '{preset}'; choose one of {', '.join(PRESETS)}.")
    table = {k.lower(): v for k, v in PRESETS[preset].items()}
    return {name: table[strip_namespace(name).lower()] for name in skeleton.names
            if strip_namespace(name).lower() in table}


def detect_preset(skeleton: BvhSkeleton) -> str | None:
    """The preset whose names cover the most of this skeleton's body, if it covers at least 18 joints."""
    best, best_count = None, 0
    for preset in PRESETS:
        mapped = preset_mapping(skeleton, preset)
        body = sum(1 for v in mapped.values() if JOINT_INDEX[v] < 22)
        if body > best_count:
            best, best_count = preset, body
    return best if best_count >= 18 else None


# ---------------------------------------------------------------------------------------------- automatic mapping
_RIG_PREFIXES = ("mixamorig", "bip01", "bip001", "bip", "def", "org", "mch", "jnt", "bone", "cc", "base", "ik")
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_words(name: str) -> list[str]:
    """'mixamorig:LeftHandIndex1' -> ['left', 'hand', 'index', '1']."""
    words = [w.lower() for w in _WORD.findall(strip_namespace(name))]
    while words and words[0] in _RIG_PREFIXES and len(words) > 1:
        words = words[1:]
    return words


def _side_of(words: list[str]) -> tuple[str | None, list[str]]:
    rest = list(words)
    for i, w in enumerate(words):
        if w in ("left", "l", "lft"):
            return "left", rest[:i] + rest[i + 1:]
        if w in ("right", "r", "rt", "rgt"):
            return "right", rest[:i] + rest[i + 1:]
    return None, rest


_FINGER_WORDS = {"thumb": "thumb", "index": "index", "middle": "middle", "ring": "ring", "pinky": "pinky",
                 "little": "pinky", "pinkie": "pinky"}
_PHALANX_WORDS = {"proximal": 1, "intermediate": 2, "medial": 2, "distal": 3}


def classify_name(name: str) -> tuple[str, int] | None:
    """(SMPL-X joint name, strength 1..3) guessed from a BVH joint name, or None."""
    words = name_words(name)
    side, words = _side_of(words)
    text = "".join(words)
    if not words or any(w in ("end", "nub", "top", "tip", "site", "null", "effector") for w in words):
        return None
    finger = next((_FINGER_WORDS[w] for w in words if w in _FINGER_WORDS), None)
    if finger is not None and side is not None:
        numbers = [int(w) for w in words if w.isdigit()]
        phalanx = next((v for w, v in _PHALANX_WORDS.items() if w in words), None)
        k = phalanx or (numbers[-1] if numbers else 1)
        return (f"{side}_{finger}{k}", 2) if 1 <= k <= 3 and "metacarpal" not in words else None
    if side is not None:
        rules = [(("toe", "ball"), "foot", 2), (("foot", "ankle"), "ankle", 2),
                 (("upleg", "thigh", "upperleg"), "hip", 2), (("forearm", "lowerarm", "elbow"), "elbow", 2),
                 (("calf", "shin", "knee", "lowerleg"), "knee", 2), (("clavicle", "collar", "scapula"), "collar", 2),
                 (("upperarm",), "shoulder", 2), (("hand", "wrist"), "wrist", 2), (("eye",), "eye_smplhf", 2)]
        for keys, part, strength in rules:
            if any(k in text for k in keys):
                return f"{side}_{part}", strength
        if "leg" in words:
            return f"{side}_knee", 2
        if "arm" in words:
            return f"{side}_shoulder", 2
        if "shoulder" in text:
            return f"{side}_collar", 1
        if "hip" in text:
            return f"{side}_hip", 1
        return None
    if "neck" in text:
        return "neck", 2
    if "head" in text:
        return "head", 2
    if "jaw" in text:
        return "jaw", 2
    if any(k in text for k in ("hips", "pelvis")) or words == ["hip"]:
        return "pelvis", 2
    if any(k in text for k in ("spine", "chest", "back", "torso", "abdomen", "waist")):
        return "spine", 1
    return None


def _depths(parents: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(parents), np.int64)
    for j, p in enumerate(parents):
        depth[j] = depth[p] + 1 if p >= 0 else 0
    return depth


def _ancestors(parents: np.ndarray, j: int) -> list[int]:
    out = []
    while parents[j] >= 0:
        j = int(parents[j])
        out.append(j)
    return out


def auto_mapping(skeleton: BvhSkeleton) -> dict[str, str]:
    """BVH joint name -> SMPL-X joint name, guessed from names and the hierarchy.

    1. Each name is classified by keywords (side words, body part, finger and phalanx number).
    2. Conflicts go to the stronger keyword, then to the joint nearer the root.
    3. Spine-like joints between the pelvis and the neck are spread over spine1..3.
    4. Limb chains are completed through single children (e.g. an oddly named elbow).
    5. Mappings that contradict the hierarchy are dropped; leftovers are matched by string similarity.
    """
    parents, depth = skeleton.parents, _depths(skeleton.parents)
    guesses = {j: classify_name(n) for j, n in enumerate(skeleton.names)}
    chosen: dict[str, int] = {}
    for j in sorted(guesses, key=lambda j: depth[j]):
        g = guesses[j]
        if g is None or g[0] == "spine":
            continue
        target, strength = g
        if target not in chosen or strength > guesses[chosen[target]][1]:
            chosen[target] = j
    if "pelvis" not in chosen:
        roots = [int(j) for j in np.flatnonzero(parents < 0) if skeleton.children(int(j))]
        if roots:
            chosen["pelvis"] = roots[0]
    for side in ("left", "right"):  # with a real collar joint, a "shoulder" name is the upper arm
        collar = chosen.get(f"{side}_collar")
        if collar is None or f"{side}_shoulder" in chosen:
            continue
        for j, g in guesses.items():
            if g == (f"{side}_collar", 1) and j != collar:
                chosen[f"{side}_shoulder"] = j
                break
    # spine distribution
    top = chosen.get("neck", chosen.get("head"))
    if "pelvis" in chosen and top is not None:
        path = [a for a in reversed(_ancestors(parents, top)) if depth[a] > depth[chosen["pelvis"]]]
        spine = [a for a in path if a not in chosen.values()]
        slots = {1: ["spine1"], 2: ["spine1", "spine3"], 3: ["spine1", "spine2", "spine3"]}
        if len(spine) > 3:
            mid = spine[len(spine) // 2]
            spine, names = [spine[0], mid, spine[-1]], slots[3]
        else:
            names = slots.get(len(spine), [])
        for j, target in zip(spine, names):
            chosen.setdefault(target, j)
    # complete limb chains through single children
    for side in ("left", "right"):
        for chain in (["collar", "shoulder", "elbow", "wrist"], ["hip", "knee", "ankle", "foot"]):
            for a, b in zip(chain, chain[1:]):
                src = chosen.get(f"{side}_{a}")
                if src is None or f"{side}_{b}" in chosen:
                    continue
                kids = [c for c in skeleton.children(src) if c not in chosen.values()]
                if len(kids) == 1:
                    chosen[f"{side}_{b}"] = kids[0]
    chosen = _drop_contradictions(chosen, parents)
    # string similarity for what is left
    used = set(chosen.values())
    for j, name in enumerate(skeleton.names):
        if j in used:
            continue
        compact = "_".join(name_words(name))
        scores = [(difflib.SequenceMatcher(None, compact, t).ratio(), t) for t in SMPLX_JOINT_NAMES if t not in chosen]
        if scores:
            score, target = max(scores)
            if score >= 0.85:
                trial = dict(chosen, **{target: j})
                if _drop_contradictions(trial, parents) == trial:
                    chosen, used = trial, used | {j}
    return {skeleton.names[j]: t for t, j in sorted(chosen.items(), key=lambda kv: kv[1])}


def _drop_contradictions(chosen: dict[str, int], parents: np.ndarray) -> dict[str, int]:
    """Keep mappings whose nearest mapped SMPL-X ancestor maps to a BVH ancestor of the joint."""
    keep = dict(chosen)
    for target in sorted(chosen, key=lambda t: JOINT_INDEX[t]):
        if target not in keep:
            continue
        t = PARENTS[JOINT_INDEX[target]]
        while t >= 0 and SMPLX_JOINT_NAMES[t] not in keep:
            t = PARENTS[t]
        if t >= 0 and keep[SMPLX_JOINT_NAMES[t]] not in _ancestors(parents, keep[target]):
            del keep[target]
    return keep


# ---------------------------------------------------------------------------------------------- settings
@dataclass
class RetargetSettings:
    """What the user can set; saved with the project (`to_dict` / `from_dict`).

    Attributes:
        preset: "mixamo", "cmu", "smplx", "auto" (detect, else name matching) or "none".
        overrides: BVH joint name -> SMPL-X joint name, or None to leave that BVH joint unmapped.
        correct_rest: align rest-pose bone directions (A-pose vs T-pose).
        scale_root: scale the root path by the ratio of leg lengths.
        plant_feet: correct the root path so feet that are down in the source do not slide.
        axis_rotation: optional [3][3] rotation from the BVH world to the Y-up world (None: detect).
    """

    preset: str = "auto"
    overrides: dict[str, str | None] = field(default_factory=dict)
    correct_rest: bool = True
    scale_root: bool = True
    plant_feet: bool = True
    axis_rotation: list[list[float]] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RetargetSettings":
        known = {k: data[k] for k in ("preset", "overrides", "correct_rest", "scale_root", "plant_feet",
                                    "axis_rotation") if k in data}
        return cls(**known)

    def save(self, path: str | Path) -> None:
        from ..io.atomic import atomic_path
        with atomic_path(path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "RetargetSettings":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as err:
            raise InputError(f"Cannot read the retarget settings {path} ({err}).") from err


def resolve_mapping(skeleton: BvhSkeleton, settings: RetargetSettings | None = None) -> dict[str, str]:
    """The final BVH -> SMPL-X mapping: preset (or automatic) mapping, then the user's overrides."""
    settings = settings or RetargetSettings()
    preset = settings.preset
    if preset == "auto":
        detected = detect_preset(skeleton)
        mapping = auto_mapping(skeleton)
        if detected is not None:
            fixed = preset_mapping(skeleton, detected)
            mapping = {k: v for k, v in mapping.items() if v not in fixed.values()}
            mapping.update(fixed)
    elif preset == "none":
        mapping = {}
    else:
        mapping = preset_mapping(skeleton, preset)
    for name, target in settings.overrides.items():
        if name not in skeleton.names:
            raise InputError(f"The mapping names a BVH joint '{name}' that this file does not have.")
        if target in (None, "", "none"):
            mapping.pop(name, None)
            continue
        if target not in JOINT_INDEX:
            raise InputError(f"The mapping names an unknown SMPL-X joint '{target}'.")
        mapping = {k: v for k, v in mapping.items() if v != target}
        mapping[name] = target
    seen: dict[str, str] = {}
    for name, target in list(mapping.items()):
        if target in seen:
            raise InputError(f"Two BVH joints ('{seen[target]}' and '{name}') map to the SMPL-X joint '{target}'.")
        seen[target] = name
    return mapping


# ---------------------------------------------------------------------------------------------- geometry
def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _body_frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    """[3,3] orthonormal rows (left, up, forward) from rough up and left directions (up wins)."""
    u = _unit(up)
    lft = _unit(left - (left @ u) * u)
    return np.stack([lft, u, np.cross(lft, u)])


def _snap_to_axes(rot: np.ndarray) -> np.ndarray:
    """The proper signed-permutation rotation nearest to `rot` [3,3]."""
    best, best_score = np.eye(3), -np.inf
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.array(np.meshgrid([1, -1], [1, -1], [1, -1])).T.reshape(-1, 3):
            cand = np.zeros((3, 3))
            cand[[0, 1, 2], perm] = signs
            if np.linalg.det(cand) < 0:
                continue
            score = np.sum(cand * rot)
            if score > best_score:
                best, best_score = cand, score
    return best


def _reference_pairs(t2s: dict[int, int], rest: np.ndarray | None = None
                     ) -> tuple[int | None, tuple[int, int] | None]:
    """(an upper-body joint for 'up', a left/right joint pair for 'left') among the mapped SMPL-X joints.

    With `rest` [J,3] source positions, joints that sit on the pelvis (zero-length bones such as
    CMU's `LowerBack`) are passed over.
    """
    def away(j: int) -> bool:
        return rest is None or float(np.linalg.norm(rest[t2s[j]] - rest[t2s[0]])) > 1e-6

    up = next((j for j in (12, 15, 9, 6, 3) if j in t2s and away(j)), None)
    pair = next(((a, b) for a, b in ((1, 2), (16, 17), (13, 14), (4, 5)) if a in t2s and b in t2s), None)
    return up, pair


_MAX_SAMPLE_FRAMES = 400  # frames sampled when reading the up direction from the motion


def motion_up(pos: np.ndarray, t2s: dict[int, int]) -> np.ndarray | None:
    """[3] unit up direction of the source world read from the motion, or None if it cannot tell.

    pos: [T,J,3] source joint positions. Up is the mean of two directions over the frames: pelvis
    to upper body (neck, head or spine) and the feet to the pelvis; both point up for a person
    standing, walking or kneeling, whatever way the rest pose lies.
    """
    pos = pos[:: max(1, pos.shape[0] // _MAX_SAMPLE_FRAMES)]
    up_j, _ = _reference_pairs(t2s, pos[0])
    pelvis = pos[:, t2s[0]]
    parts = []
    if up_j is not None:
        parts.append(_unit_rows(pos[:, t2s[up_j]] - pelvis).mean(axis=0))
    feet = [t2s[j] for j in (7, 8) if j in t2s] or [t2s[j] for j in (4, 5) if j in t2s]
    if feet:
        parts.append(_unit_rows(pelvis - pos[:, feet].mean(axis=1)).mean(axis=0))
    if not parts:
        return None
    up = np.sum(parts, axis=0)
    return None if np.linalg.norm(up) < 0.3 else _unit(up)


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def source_axis_rotation(rest: np.ndarray, t2s: dict[int, int], pos: np.ndarray | None = None) -> np.ndarray:
    """[3,3] axis conversion from the BVH world to Y-up, facing +Z, snapped to the world axes.

    With the motion's joint positions `pos` [T,J,3], up comes from the motion (see `motion_up`) and
    the facing from the first frame's right-to-left hips, so a rest pose that lies along another
    axis (Bandai-Namco's lies along +X) does not tip the clip over. Without it, or if the motion
    cannot tell, the rest pose decides: pelvis-to-upper-body is up, right-to-left hip is +X.
    """
    up_j, pair = _reference_pairs(t2s, rest)
    up = motion_up(pos, t2s) if pos is not None else None
    frame = rest if up is None else pos[0]
    if up is None:
        up = rest[t2s[up_j]] - rest[t2s[0]] if up_j is not None else None
        if up is None or np.linalg.norm(up) < 1e-9:
            up = np.array([0.0, 1.0, 0.0])
    left = frame[t2s[pair[0]]] - frame[t2s[pair[1]]] if pair else np.cross(up, [0.0, 0.0, 1.0])
    if np.linalg.norm(np.cross(_unit(up), left)) < 1e-9:
        left = np.cross(_unit(up), [0.0, 0.0, 1.0]) if abs(_unit(up)[2]) < 0.9 else np.array([1.0, 0, 0])
    return _snap_to_axes(_body_frame(up, left))


def _bone_options(skeleton: BvhSkeleton, rest: np.ndarray, s: int, at: int) -> list[np.ndarray]:
    """Directions from joint s to each child of `at` (End Site included); children sitting on s
    (zero-length bones) are looked through to their own children."""
    options = []
    for c in skeleton.children(at):
        d = rest[c] - rest[s]
        options += [d] if np.linalg.norm(d) > 1e-6 else _bone_options(skeleton, rest, s, c)
    if at in skeleton.end_sites and np.linalg.norm(skeleton.end_sites[at]) > 1e-6:
        options.append(rest[at] - rest[s] + np.asarray(skeleton.end_sites[at], np.float64))
    return options


def _source_bone_direction(skeleton: BvhSkeleton, rest: np.ndarray, s: int, child_s: int | None,
                           hint: np.ndarray) -> np.ndarray | None:
    """Source rest bone of joint s: towards its mapped child, else the child (or End Site) nearest `hint`.

    A mapped child on top of s (zero-length bone) gives way to the joints below it.
    """
    if child_s is not None:
        d = rest[child_s] - rest[s]
        if np.linalg.norm(d) > 1e-6:
            return d
        options = _bone_options(skeleton, rest, s, child_s)
    else:
        options = _bone_options(skeleton, rest, s, s)
    if not options:
        return None
    return max(options, key=lambda o: float(_unit(o) @ _unit(hint)))


def rest_corrections(skeleton: BvhSkeleton, rest_s: np.ndarray, rest_t: np.ndarray, t2s: dict[int, int],
                     axis: np.ndarray) -> np.ndarray:
    """[55,3,3] Q per SMPL-X joint: the rotation from its rest frame to the source's rest frame.

    Down each chain, Q = shortest_arc(Q_parent · d_t, d_s) · Q_parent, where d_t is the SMPL-X rest
    bone and d_s the axis-converted source rest bone. Starting from the parent's correction keeps
    the twist of the chain and makes joints without a bone (feet, finger tips, unmapped joints)
    inherit their parent's correction. The pelvis aligns the (up, left) body frames.
    """
    rest_c = rest_s @ axis.T
    ends = {j: axis @ v for j, v in skeleton.end_sites.items()}
    sk_c = BvhSkeleton(skeleton.names, skeleton.parents, skeleton.offsets @ axis.T, skeleton.channels, ends)
    out = np.broadcast_to(np.eye(3), (55, 3, 3)).copy()
    up_j, pair = _reference_pairs(t2s, rest_s)
    if up_j is not None and pair is not None:
        # Unit bone directions, so that different bone lengths do not tilt the frame.
        up_j = 3 if 3 in t2s and np.linalg.norm(rest_s[t2s[3]] - rest_s[t2s[0]]) > 1e-6 else up_j

        def frame(rest: np.ndarray, idx: dict[int, int]) -> np.ndarray:
            root = rest[idx[0]]
            return _body_frame(rest[idx[up_j]] - root,
                               _unit(rest[idx[pair[0]]] - root) - _unit(rest[idx[pair[1]]] - root))

        out[0] = frame(rest_c, t2s).T @ frame(rest_t, {j: j for j in range(55)})
    for t in range(1, 55):
        inherited = out[PARENTS[t]]
        out[t] = inherited
        child_t = _BONE_CHILD.get(t)
        if t not in t2s or child_t is None:
            continue
        d_t = inherited @ (rest_t[child_t] - rest_t[t])
        d_s = _source_bone_direction(sk_c, rest_c, t2s[t], t2s.get(child_t), d_t)
        if d_s is None or np.linalg.norm(d_s) < 1e-9 or np.linalg.norm(d_t) < 1e-9:
            continue
        if child_t not in t2s and _unit(d_s) @ _unit(d_t) < np.cos(np.radians(75)):
            continue  # the source's own child is probably not the same bone
        out[t] = rotation_between(d_t, d_s) @ inherited
    return out


def hip_height(rest: np.ndarray, pelvis: int, feet: list[int], up: np.ndarray) -> float:
    """Height of the pelvis above the mean of `feet` joints along `up`, in the skeleton's units."""
    if not feet:
        return 0.0
    return float((rest[pelvis] - rest[feet].mean(axis=0)) @ up)


# ---------------------------------------------------------------------------------------------- retarget
LIMB_CHAINS: dict[str, tuple[str, ...]] = {
    "left leg": ("left_hip", "left_knee", "left_ankle"), "right leg": ("right_hip", "right_knee", "right_ankle"),
    "left arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right arm": ("right_shoulder", "right_elbow", "right_wrist"),
}


def check_limbs(skeleton: BvhSkeleton, mapping: dict[str, str], source: str = "The BVH") -> None:
    """Refuse a mapping that leaves any of the four limb chains (hip-knee-ankle, shoulder-elbow-wrist)
    with fewer than two of its three joints: that limb would hang in the rest pose while the file
    moves it (one joint left out on purpose, such as an elbow, is allowed)."""
    targets = set(mapping.values())
    limbs = [name for name, chain in LIMB_CHAINS.items() if sum(j in targets for j in chain) < 2]
    if not limbs:
        return
    missing = [j for name in limbs for j in LIMB_CHAINS[name] if j not in targets]
    unmapped = [n for n in skeleton.names if n not in mapping]
    listed = ", ".join(unmapped[:12]) + (f" and {len(unmapped) - 12} more" if len(unmapped) > 12 else "")
    raise InputError(
        f"{source}: the joint names do not map onto the {', '.join(limbs)} (SMPL-X joints without a source: "
        f"{', '.join(missing)}). Unmapped BVH joints: {listed or 'none'}. Map them in Motion \u25b8 Edit BVH "
        f"Mapping, or pass --mapping SETTINGS.json with \"overrides\": {{\"BVH joint\": \"left_knee\", ...}}.")


def limb_scale(rest_s: np.ndarray, rest_t: np.ndarray, t2s: dict[int, int]) -> float | None:
    """Target metres per source unit: the ratio of leg lengths (hip-knee-ankle bone lengths, which
    no pose changes), else of pelvis-to-neck distances; None if neither is mapped."""
    ratios = []
    for chain in (LIMB_CHAINS["left leg"], LIMB_CHAINS["right leg"]):
        idx = [JOINT_INDEX[n] for n in chain]
        if all(j in t2s for j in idx):
            src = sum(np.linalg.norm(rest_s[t2s[b]] - rest_s[t2s[a]]) for a, b in zip(idx, idx[1:]))
            tgt = sum(np.linalg.norm(rest_t[b] - rest_t[a]) for a, b in zip(idx, idx[1:]))
            if src > 1e-9:
                ratios.append(tgt / src)
    if not ratios:
        top = next((j for j in (12, 15) if j in t2s and np.linalg.norm(rest_s[t2s[j]] - rest_s[t2s[0]]) > 1e-9), None)
        if top is None:
            return None
        ratios.append(np.linalg.norm(rest_t[top] - rest_t[0]) / np.linalg.norm(rest_s[t2s[top]] - rest_s[t2s[0]]))
    return float(np.mean(ratios))


CONTACT_HEIGHT_M = 0.03   # a foot joint this close to its lowest height ...
CONTACT_SPEED_M_S = 0.3   # ... and moving slower than this (in the source) is on the floor


def foot_contacts(feet: np.ndarray, fps: float) -> np.ndarray:
    """[T-1,F] weight in [0,1] that foot joint f is down from frame t to t+1, from [T,F,3] Y-up
    positions in metres: 0 unless within 3 cm of its lowest height, then (1 - speed / 0.3 m/s)^2."""
    height = feet[..., 1]
    low = height < np.percentile(height, 5, axis=0) + CONTACT_HEIGHT_M
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    return (low[1:] & low[:-1]) * np.clip(1.0 - speed / CONTACT_SPEED_M_S, 0.0, 1.0) ** 2


PLANT_MARGIN = 0.015  # m/s of extra sliding on the source's contact frames tolerated before planting (issue: +2)


def contact_slide(src_feet: np.ndarray, feet: np.ndarray, fps: float) -> float:
    """Mean horizontal speed (m/s) of [T,F,3] `feet` over the frames where the source's feet are down."""
    if src_feet.shape[1] == 0 or src_feet.shape[0] < 2:
        return 0.0
    weight = foot_contacts(src_feet, fps)                                   # [T-1,F]
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    return float((speed * weight).sum() / max(weight.sum(), 1e-9))


def plant_feet(src_feet: np.ndarray, tgt_feet: np.ndarray, fps: float) -> np.ndarray:
    """[T,3] root offsets that make the target's feet move as the source's do while they are down.

    src_feet, tgt_feet: [T,F,3] Y-up positions in metres (source scaled). Legs of other
    thigh-to-shin proportions swing the stance foot a little differently under the same rotations
    (bending the legs instead would change the limb directions); so on each step where source
    feet are down, the horizontal root step is corrected by the difference of those feet's steps,
    the stillest foot weighing most. Nothing changes while both feet are in the air.
    """
    offsets = np.zeros((src_feet.shape[0], 3))
    if src_feet.shape[1] == 0 or src_feet.shape[0] < 2:
        return offsets
    weight = foot_contacts(src_feet, fps)                                   # [T-1,F]
    step = np.diff(src_feet, axis=0) - np.diff(tgt_feet, axis=0)            # [T-1,F,3]
    total = weight.sum(axis=1)
    fix = (step * weight[..., None]).sum(axis=1) / np.maximum(total, 1e-9)[:, None]
    fix *= np.minimum(total, 1.0)[:, None]                                  # fade in with the contact
    fix[:, 1] = 0.0
    offsets[1:] = np.cumsum(fix, axis=0)
    return offsets


def retarget_bvh(clip: BvhClip, rest_joints: np.ndarray, settings: RetargetSettings | None = None, *,
                 betas: np.ndarray | None = None, name: str | None = None) -> Motion:
    """Retarget a BVH clip onto SMPL-X.

    The source world's up axis comes from the motion (pelvis to upper body, feet to pelvis), not
    from the rest pose; the root path is scaled by the ratio of leg lengths, so no unit is trusted.

    Args:
        clip: the parsed BVH.
        rest_joints: [55,3] SMPL-X rest joints of the target body (at `betas`).
        settings: mapping and options (default: detect preset, correct rest pose, scale root).
    Returns:
        A Y-up world `Motion` with flat hands at the clip's frame rate; the SMPL-X pelvis follows
        the scaled source root (the floor is not moved here).
    Raises:
        InputError: no pelvis, or a limb chain is not mapped (see `check_limbs`).
    """
    settings = settings or RetargetSettings()
    sk = clip.skeleton
    mapping = resolve_mapping(sk, settings)
    t2s = {JOINT_INDEX[t]: sk.index(s) for s, t in mapping.items()}
    if 0 not in t2s:
        raise InputError(f"No joint of {clip.name} maps to the SMPL-X pelvis; set the mapping for its hips joint "
                         f"(Motion \u25b8 Edit BVH Mapping, or --mapping).")
    check_limbs(sk, mapping, clip.name)
    rest_t = np.asarray(rest_joints, np.float64)
    rest_s = sk.rest_positions()
    rot_s, pos_s = clip.global_transforms()
    axis = (np.asarray(settings.axis_rotation, np.float64) if settings.axis_rotation is not None
            else source_axis_rotation(rest_s, t2s, pos_s))
    fixes = (rest_corrections(sk, rest_s, rest_t, t2s, axis) if settings.correct_rest
             else np.broadcast_to(np.eye(3), (55, 3, 3)))
    t = clip.num_frames
    world = np.empty((t, 55, 3, 3))
    for j in range(55):
        if j in t2s:
            world[:, j] = axis @ rot_s[:, t2s[j]] @ axis.T @ fixes[j]
        else:
            world[:, j] = world[:, PARENTS[j]] if j > 0 else np.eye(3)
    local = local_from_global(world)
    pelvis_path = pos_s[:, t2s[0]] @ axis.T
    scale = 1.0
    if settings.scale_root:
        found = limb_scale(rest_s, rest_t, t2s)
        if found is not None:
            scale = found
        elif np.abs(pelvis_path).max() > 20:  # nothing to measure: guess centimetres
            scale = 0.01
    transl = scale * pelvis_path - rest_t[0]
    if 1 in t2s and 2 in t2s:
        # Rigs put their root anywhere between the hip joints and the waist: follow the middle of
        # the hip joints instead, so the legs (and so the feet) land where the source's do.
        mid_s = 0.5 * (pos_s[:, t2s[1]] + pos_s[:, t2s[2]]) @ axis.T
        mid_t = 0.5 * (rest_t[1] + rest_t[2]) - rest_t[0]
        transl = scale * mid_s - rest_t[0] - world[:, 0] @ mid_t
    if settings.plant_feet:
        feet = [j for j in (7, 8, 10, 11) if j in t2s]
        src_feet = scale * pos_s[:, [t2s[j] for j in feet]] @ axis.T
        tgt_feet = forward_kinematics_np(local, rest_t)[1][:, feet] + transl[:, None]
        # Plant only where the legs' proportions make the feet skate: planting also damps the hips'
        # sway, which a clip whose feet already follow the source's would lose for nothing.
        if contact_slide(src_feet, tgt_feet, clip.fps) > contact_slide(src_feet, src_feet, clip.fps) + PLANT_MARGIN:
            transl = transl + plant_feet(src_feet, tgt_feet, clip.fps)
    full_pose = rotmat_to_aa(local).astype(np.float32)
    return Motion.from_full_pose(full_pose, transl.astype(np.float32),
                                 betas=np.zeros(10, np.float32) if betas is None else betas, fps=clip.fps,
                                 flat_hand_mean=True, up_axis="y", frame="world", name=name or clip.name)


def betas_from_skeleton(clip: BvhClip, mapping: dict[str, str], template: np.ndarray, shape_dirs: np.ndarray,
                        max_rms_m: float = 0.005) -> np.ndarray | None:
    """[B] SMPL-X betas whose rest skeleton has this BVH's bones, or None where no shape fits.

    For BVH files written from SMPL-X motion (the SMPL-X skeleton at the source's body shape, in
    metres or centimetres), so a round trip keeps the body: bone vectors are linear in the betas,
    fitted by least squares over the 22 body joints' rest offsets in the Y-up world. (The unit is
    not fitted with them: the first shape direction is close to a uniform scale.) Rigs that are
    not an SMPL-X body leave a residual above `max_rms_m` and give None.

    template: [55,3] rest joints at zero betas; shape_dirs: [55,3,B] joint shape directions.
    """
    t2s = {JOINT_INDEX[t]: clip.skeleton.index(s) for s, t in mapping.items()}
    body = [j for j in range(1, 22) if j in t2s and PARENTS[j] in t2s]
    if len(body) < 21 or 0 not in t2s:
        return None
    rest_s = clip.skeleton.rest_positions()
    _, pos_s = clip.global_transforms()
    rest_c = rest_s @ source_axis_rotation(rest_s, t2s, pos_s).T
    src = np.concatenate([rest_c[t2s[j]] - rest_c[t2s[PARENTS[j]]] for j in body])               # [3N]
    base = np.concatenate([template[j] - template[PARENTS[j]] for j in body])                      # [3N]
    dirs = np.concatenate([shape_dirs[j] - shape_dirs[PARENTS[j]] for j in body])                  # [3N,B]
    best, best_rms = None, np.inf
    for unit in (1.0, 0.01):  # metres (our BVH export), centimetres
        betas, *_ = np.linalg.lstsq(dirs, unit * src - base, rcond=None)
        rms = float(np.sqrt(np.mean((dirs @ betas - (unit * src - base)) ** 2) * 3))
        if rms < best_rms and np.abs(betas).max() <= 5:  # a wrong unit fits only with absurd betas
            best, best_rms = betas, rms
    return best if best_rms <= max_rms_m else None


def mapping_report(skeleton: BvhSkeleton, mapping: dict[str, str]) -> tuple[list[str], list[str]]:
    """(SMPL-X body joints left unmapped, BVH joints left unmapped) for the UI and `motion info`."""
    mapped_targets = set(mapping.values())
    body_missing = [n for n in SMPLX_JOINT_NAMES[:22] if n not in mapped_targets]
    bvh_unused = [n for n in skeleton.names if n not in mapping]
    return body_missing, bvh_unused
