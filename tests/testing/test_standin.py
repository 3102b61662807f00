"""The embedded stand-in SMPL-X body (resources/body/smplx/SMPLX_NEUTRAL.npz) and its generator."""
from __future__ import annotations

import contextlib
import io
import zipfile

import numpy as np
import pytest
import torch

from avatar_studio import RESOURCES_DIR
from avatar_studio.testing import standin
from avatar_studio.core.skinning import SMPLX_PARENTS

STANDIN_DIR = RESOURCES_DIR / "body"
STANDIN_FILE = STANDIN_DIR / "smplx" / "SMPLX_NEUTRAL.npz"
V = 10475


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    with np.load(STANDIN_FILE, allow_pickle=False) as d:
        return {k: d[k] for k in d.files}


@pytest.fixture(scope="module")
def model():
    from avatar_studio.core.body.model import BodyModel
    return BodyModel(STANDIN_FILE)


@pytest.fixture(scope="module")
def skeleton():
    return standin.build_skeleton()


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


def _volume(v: np.ndarray, f: np.ndarray) -> float:
    v = v.astype(np.float64)
    return float(np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6)


def _winding(points: np.ndarray, v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Generalised winding number of each point (1 inside a closed outward-oriented surface, 0 outside)."""
    v = v.astype(np.float64)
    out = []
    for p in points:
        a, b, c = (v[f[:, k]] - p for k in range(3))
        la, lb, lc = (np.linalg.norm(x, axis=1) for x in (a, b, c))
        num = np.einsum("ij,ij->i", a, np.cross(b, c))
        den = la * lb * lc + np.einsum("ij,ij->i", a, b) * lc + np.einsum("ij,ij->i", b, c) * la \
            + np.einsum("ij,ij->i", c, a) * lb
        out.append(np.arctan2(num, den).sum() / (2 * np.pi))
    return np.array(out)


# --------------------------------------------------------------------------------------- file format
def test_file_is_small_and_has_no_object_arrays(data):
    assert STANDIN_FILE.stat().st_size < 5_000_000
    for k, a in data.items():
        assert a.dtype != object, k
    with zipfile.ZipFile(STANDIN_FILE) as z:  # compressed, as written by np.savez_compressed
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())


def test_keys_shapes_and_marker(data):
    expected = {
        "v_template": (V, 3), "shapedirs": (V, 3, 400), "posedirs": (V, 3, 486), "J_regressor": (55, V),
        "weights": (V, 55), "kintree_table": (2, 55), "hands_componentsl": (45, 45), "hands_componentsr": (45, 45),
        "hands_meanl": (45,), "hands_meanr": (45,), "lmk_faces_idx": (51,), "lmk_bary_coords": (51, 3),
        "dynamic_lmk_faces_idx": (79, 17), "dynamic_lmk_bary_coords": (79, 17, 3),
    }
    for key, shape in expected.items():
        assert data[key].shape == shape, key
    assert data["f"].ndim == 2 and data["f"].shape[1] == 3 and np.issubdtype(data["f"].dtype, np.integer)
    assert int(data["avatar_studio_standin"]) == 1
    assert data["avatar_studio_joint_names"].dtype.kind == "U"
    assert tuple(data["avatar_studio_joint_names"]) == standin.JOINT_NAMES
    assert data["kintree_table"].dtype == np.int64
    np.testing.assert_array_equal(data["kintree_table"][0], SMPLX_PARENTS)
    np.testing.assert_array_equal(data["kintree_table"][1], np.arange(55))


def test_loads_through_smplx(data):
    import smplx
    with contextlib.redirect_stdout(io.StringIO()):
        layer = smplx.create(str(STANDIN_DIR), model_type="smplx", use_pca=False, flat_hand_mean=True)
        contour = smplx.create(str(STANDIN_DIR), model_type="smplx", use_pca=False, flat_hand_mean=True,
                               use_face_contour=True)
    np.testing.assert_array_equal(layer.parents.numpy(), SMPLX_PARENTS)
    out = layer()
    assert out.vertices.shape == (1, V, 3)
    np.testing.assert_allclose(out.vertices[0].detach().numpy(), data["v_template"], atol=1e-6)
    joints = data["J_regressor"].astype(np.float64) @ data["v_template"].astype(np.float64)
    np.testing.assert_allclose(out.joints[0, :55].detach().numpy(), joints, atol=1e-5)
    assert torch.isfinite(out.joints).all()  # smplx's extra vertex joints and face landmarks
    out2 = contour(jaw_pose=torch.tensor([[0.2, 0.0, 0.0]]))
    assert torch.isfinite(out2.joints).all() and out2.joints.shape[1] == out.joints.shape[1] + 17


def test_loads_through_body_model(model):
    assert model.is_standin
    assert model.num_vertices == V
    np.testing.assert_array_equal(model.parents, SMPLX_PARENTS)
    assert model.weights.shape == (V, 55) and model.J_regressor.shape == (55, V)


def test_default_body_model_is_the_standin(monkeypatch):
    from avatar_studio.core.body.model import ENV_VAR, resolve_model_file
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_model_file() == STANDIN_FILE


# ------------------------------------------------------------------------------------------ surface
def test_closed_oriented_genus0_manifold(data):
    v, f = data["v_template"], data["f"]
    assert v.shape == (V, 3) and f.min() == 0 and f.max() == V - 1
    he = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).astype(np.int64)
    keys = he[:, 0] * V + he[:, 1]
    assert np.unique(keys).size == keys.size, "a directed edge occurs twice"
    assert np.isin(he[:, 1] * V + he[:, 0], keys).all(), "open boundary"
    edges = _edges(f)
    assert V - len(edges) + len(f) == 2, "Euler characteristic must be 2 (one sphere)"
    assert len(np.unique(np.sort(f, axis=1), axis=0)) == len(f), "duplicate faces"
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    ncomp, _ = connected_components(coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(V, V)),
                                    directed=False)
    assert ncomp == 1
    area = np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    assert area.min() > 1e-9, "degenerate face"
    from scipy.spatial import cKDTree
    assert not cKDTree(v).query_pairs(1e-6), "duplicate vertices"
    assert _volume(v, f) > 0.03, "faces must point outward (positive enclosed volume)"
    standin.check_closed_manifold(v.astype(np.float64), f)


def test_human_proportions_and_orientation(data, skeleton):
    v = data["v_template"]
    height = v[:, 1].max() - v[:, 1].min()
    assert 1.65 < height < 1.75
    assert abs(v[:, 1].min() - standin.FLOOR_Y) < 1e-3  # flat soles on the floor
    assert np.ptp(v[:, 0]) > 1.5  # T-pose: arms straight out along X
    assert np.ptp(v[:, 2]) < 0.45
    j = skeleton.joints
    assert j[15, 1] > j[12, 1] > j[9, 1] > j[0, 1] > j[4, 1] > j[7, 1]  # Y up
    assert j[16, 0] > 0 and j[20, 0] > 0.6 and j[21, 0] < -0.6  # SMPL-X's left is +X
    assert abs(j[0, 1] + 0.35) < 0.05  # pelvis where SMPL-X has it
    head = v[v[:, 1] > 0.25]
    nose = v[standin.SPECIAL_VERTICES["nose"]]
    assert nose[2] > 0.1 and nose[2] > head[:, 2].max() - 1e-6 and head[:, 2].min() < -0.09  # faces +Z
    assert v[standin.SPECIAL_VERTICES["lear"], 0] > 0.07 > -0.07 > v[standin.SPECIAL_VERTICES["rear"], 0]
    assert v[standin.SPECIAL_VERTICES["LHeel"], 2] < -0.08 < 0.15 < v[standin.SPECIAL_VERTICES["LBigToe"], 2]


def test_named_vertices_sit_where_smplx_expects(data, skeleton):
    v = data["v_template"]
    for side, sx in (("l", 1.0), ("r", -1.0)):
        for finger in ("thumb", "index", "middle", "ring", "pinky"):
            tip = skeleton.fingers[finger].tip * (sx, 1, 1)
            assert np.linalg.norm(v[standin.SPECIAL_VERTICES[side + finger]] - tip) < 0.012, side + finger
        eye = skeleton.joints[standin._J[("left" if sx > 0 else "right") + "_eye_smplhf"]]
        assert np.linalg.norm(v[standin.SPECIAL_VERTICES[side + "eye"]] - eye) < 0.02


def test_all_joints_inside_the_body(data, skeleton):
    w = _winding(skeleton.joints, data["v_template"], data["f"])
    assert np.all(w > 0.5), [standin.JOINT_NAMES[i] for i in np.nonzero(w <= 0.5)[0]]
    outside = _winding(np.array([[0.0, 0.0, 0.5], [0.0, -0.7, 0.0], [0.4, -0.3, 0.0]]), data["v_template"], data["f"])
    assert np.all(np.abs(outside) < 0.5)  # in front of the body, between the legs, beside the hip


# ------------------------------------------------------------------------------------------------ rig
def test_skinning_weights(data):
    w = data["weights"]
    assert w.min() >= 0
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    assert (w > 1e-6).sum(1).max() <= 4
    assert np.all(w[:, 23:25] == 0)  # no geometry follows the eye joints
    # Smooth: no edge switches from one joint to another outright, and nearly all change little.
    e = _edges(data["f"])
    jump = np.abs(w[e[:, 0]] - w[e[:, 1]]).sum(1)
    assert jump.max() < 1.5 and np.quantile(jump, 0.99) < 0.6
    # Every joint but the eyes moves some vertices.
    moves = (w > 0.5).sum(0)
    assert np.all(np.delete(moves, [23, 24]) > 0)


def test_joint_regressor(data, skeleton):
    r = data["J_regressor"].astype(np.float64)
    assert r.min() >= 0
    np.testing.assert_allclose(r.sum(1), 1.0, atol=1e-5)
    joints = r @ data["v_template"].astype(np.float64)
    assert np.linalg.norm(joints - skeleton.joints, axis=1).max() < 0.01
    assert (r > 0).sum(1).max() < 500  # each joint from a few nearby vertices


def test_finger_chains_in_smplx_order(skeleton):
    names = standin.JOINT_NAMES
    for side, wrist in (("left", 20), ("right", 21)):
        for i, finger in enumerate(("index", "middle", "pinky", "ring", "thumb")):
            first = 25 + (15 if side == "right" else 0) + 3 * i
            assert names[first:first + 3] == tuple(f"{side}_{finger}{k}" for k in (1, 2, 3))
            assert SMPLX_PARENTS[first] == wrist
    j = skeleton.joints
    assert np.allclose(j[40:55] * (-1, 1, 1), j[25:40])  # left/right mirror images
    # index, middle, ring, pinky fan from the thumb side (+Z) to the back.
    assert j[25, 2] > j[28, 2] > j[34, 2] > j[31, 2]


def test_shape_and_expression_directions(data, model):
    sd = data["shapedirs"]
    assert sd.dtype == np.float32
    assert np.all(sd[:, :, 4:300] == 0) and np.all(sd[:, :, 302:] == 0)
    assert 0 < np.abs(sd[:, :, 300]).max() < 0.01 and 0 < np.abs(sd[:, :, 301]).max() < 0.01

    def height(betas):
        v, _ = model.shaped(np.array(betas, np.float32))
        return v[:, 1].max() - v[:, 1].min()

    assert height([2.0]) - height([0.0]) > 0.05 and height([0.0]) - height([-2.0]) > 0.05
    assert height([0, 0, 0, 2.0]) - height([0.0]) > 0.05  # leg length
    _, j0 = model.shaped(None)
    _, j2 = model.shaped(np.array([0, 0, 2.0], np.float32))
    assert j2[16, 0] - j0[16, 0] > 0.02 and j2[17, 0] - j0[17, 0] < -0.02  # shoulder width

    def waist(betas):
        v, _ = model.shaped(np.array(betas, np.float32))
        band = v[(np.abs(v[:, 1] + 0.17) < 0.02) & (np.abs(v[:, 0]) < 0.25)]
        from scipy.spatial import ConvexHull
        return ConvexHull(band[:, [0, 2]]).area  # perimeter of the waist cross-section

    assert waist([0, 2.0]) - waist([0.0]) > 0.05 and waist([0.0]) - waist([0, -2.0]) > 0.05
    v0, _ = model.shaped(None)
    ve, _ = model.shaped(None, expression=np.array([1.0, 1.0], np.float32))
    moved = np.linalg.norm(ve - v0, axis=1) > 1e-4
    assert moved.any() and np.all(v0[moved, 1] > 0.17)  # expressions only move the head


def test_no_pose_correctives(data):
    assert not data["posedirs"].any()


def test_hands_and_landmarks(data):
    for side in "lr":
        comp = data[f"hands_components{side}"].astype(np.float64)
        np.testing.assert_allclose(comp @ comp.T, np.eye(45), atol=1e-6)
        mean = data[f"hands_mean{side}"]
        assert 0 < np.abs(mean).max() < 0.5
    # Curl: left-hand fingers rotate about -Z (tips toward the palm, -Y), the right hand's about +Z.
    assert data["hands_meanl"].reshape(15, 3)[:12, 2].max() < 0 < data["hands_meanr"].reshape(15, 3)[:12, 2].min()
    f, v = data["f"], data["v_template"]
    for fi, bc in ((data["lmk_faces_idx"], data["lmk_bary_coords"]),
                   (data["dynamic_lmk_faces_idx"].reshape(-1), data["dynamic_lmk_bary_coords"].reshape(-1, 3))):
        assert fi.min() >= 0 and fi.max() < len(f)
        assert bc.min() >= -1e-6
        np.testing.assert_allclose(bc.sum(1), 1.0, atol=1e-5)
        pts = np.einsum("nk,nkd->nd", bc, v[f[fi]])
        assert np.all(pts[:, 1] > 0.18) and np.all(pts[:, 1] < 0.37)  # on the head, face level
    lm = np.einsum("nk,nkd->nd", data["lmk_bary_coords"], v[f[data["lmk_faces_idx"]]])
    assert np.all(lm[:, 2] > 0.05)  # on the front of the face
    assert lm[13, 1] > lm[16, 1] > lm[34, 1]  # nose bridge above nose tip above the mouth


# ------------------------------------------------------------------------------------------- posing
@pytest.mark.parametrize("joint, aa", [(18, (0.0, -np.pi / 2, 0.0)), (19, (0.0, np.pi / 2, 0.0)),
                                       (4, (np.pi / 2, 0.0, 0.0)), (5, (np.pi / 2, 0.0, 0.0))])
def test_bending_elbows_and_knees_keeps_the_surface(model, data, joint, aa):
    pose = np.zeros((55, 3), np.float32)
    pose[joint] = aa
    verts, joints = model.forward(pose)
    v0, v = data["v_template"].astype(np.float64), verts[0].astype(np.float64)
    f = data["f"]
    e = _edges(f)
    ratio = np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1) / np.linalg.norm(v0[e[:, 0]] - v0[e[:, 1]], axis=1)
    assert ratio.max() < 3.0 and ratio.min() > 0.05  # no tearing, no collapse
    assert abs(_volume(v, f) / _volume(v0, f) - 1) < 0.03
    limb = 0.6 if joint in (18, 19) else 0.9
    assert np.abs(v - v0).max() < limb
    # Vertices far from the bent joint move rigidly with the bone below it or not at all.
    child = {18: 20, 19: 21, 4: 7, 5: 8}[joint]
    rest_j = model.rest_joints()
    d_child = np.linalg.norm(v0 - rest_j[child], axis=1) < 0.05
    expected = joints[0, child] + (v0[d_child] - rest_j[child]) @ standin_rot(aa).T
    assert np.abs(v[d_child] - expected).max() < 0.01
    far = np.linalg.norm(v0 - rest_j[joint], axis=1) > 0.3
    far &= np.linalg.norm(v0 - rest_j[child], axis=1) > 0.3 + np.linalg.norm(rest_j[child] - rest_j[joint])
    assert np.abs(v[far] - v0[far]).max() < 1e-5


def standin_rot(aa) -> np.ndarray:
    from scipy.spatial.transform import Rotation
    return Rotation.from_rotvec(np.asarray(aa, np.float64)).as_matrix()


def test_body_model_forward_matches_smplx(model):
    pose = np.zeros((55, 3), np.float32)
    pose[18] = (0.0, -1.2, 0.3)
    pose[4] = (1.0, 0.0, 0.0)
    pose[25:40] = model.hand_mean[:45].reshape(15, 3) * 3
    verts, _ = model.forward(pose, betas=np.array([0.5, -1.0, 0.3], np.float32))
    layer = model.layer
    out = layer(betas=torch.tensor([[0.5, -1.0, 0.3] + [0.0] * (model.num_betas - 3)]),
                body_pose=torch.from_numpy(pose[1:22].reshape(1, -1)),
                left_hand_pose=torch.from_numpy(pose[25:40].reshape(1, -1)))
    np.testing.assert_allclose(verts[0], out.vertices[0].detach().numpy(), atol=1e-5)


# ---------------------------------------------------------------------------------------- generator
def test_skeleton_and_body_are_deterministic_and_symmetric(skeleton):
    j2 = standin.build_skeleton().joints
    np.testing.assert_array_equal(skeleton.joints, j2)
    right = [i for i, n in enumerate(standin.JOINT_NAMES) if n.startswith("right_")]
    left = [standin.JOINT_NAMES.index("left_" + standin.JOINT_NAMES[i][6:]) for i in right]
    np.testing.assert_allclose(skeleton.joints[right] * (-1, 1, 1), skeleton.joints[left])
    body = standin.build_body(skeleton)
    rng = np.random.default_rng(0)
    p = rng.uniform((-0.9, -1.3, -0.2), (0.9, 0.45, 0.25), (20000, 3))
    d = standin.evaluate(body, p)
    near = np.abs(d) < 0.01
    assert near.sum() > 500
    np.testing.assert_allclose(d[near], standin.evaluate(body, p[near] * (-1, 1, 1)), atol=1e-9)
    assert np.all(standin.evaluate(body, skeleton.joints) < 0)  # joints inside the implicit body


def test_marching_tetrahedra_sphere_is_closed():
    xs = np.linspace(-1.2, 1.2, 13)
    vals = np.linalg.norm(np.stack(np.meshgrid(xs, xs, xs, indexing="ij"), -1), axis=-1) - 1.0
    v, f = standin.marching_tetrahedra(xs, xs, xs, vals)
    standin.check_closed_manifold(v, f)
    assert np.abs(np.linalg.norm(v, axis=1) - 1).max() < 0.05


@pytest.mark.slow
def test_regenerating_reproduces_the_shipped_file(tmp_path, data):
    out = standin.generate(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz", seed=0)
    with np.load(out, allow_pickle=False) as new:
        assert sorted(new.files) == sorted(data)
        for k in data:
            if np.issubdtype(data[k].dtype, np.floating):
                np.testing.assert_allclose(new[k], data[k], atol=1e-6, err_msg=k)
            else:
                np.testing.assert_array_equal(new[k], data[k], err_msg=k)
