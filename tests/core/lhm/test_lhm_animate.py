"""LHM animation convention and preprocessing, against direct re-statements of LHM's formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from avatar_studio.core.body.model import BodyModel
from avatar_studio.core.rotations import normalize_quats, quat_multiply, rotmat_to_quat
from avatar_studio.core.lhm.animate import lhm_avatar
from avatar_studio.core.lhm.preprocess import (body_image, estimate_subject, expand_head_box, head_box_from_keypoints,
                                               head_image, pad_square, resize_kornia)
from avatar_studio.core.lhm.prior import big_pose, build_prior
from avatar_studio.core.skinning import batch_rodrigues, forward_kinematics


@pytest.fixture(scope="module")
def setup(random_smplx_dir):
    body = BodyModel(random_smplx_dir, flat_hand_mean=True, num_betas=10)
    onehot = np.eye(55, dtype=np.float32)[body.weights.argmax(1)]
    body.weights = onehot  # single-joint skinning: blended matrices are exact rotations
    rng = np.random.default_rng(3)
    pts = body.v_template[rng.choice(body.num_vertices, 300, replace=False)]
    prior = build_prior(body, pts, rng.random(body.num_vertices) > 0.7)
    n = prior.num_points
    out = {"offset": rng.normal(size=(n, 3)).astype(np.float32) * 0.01,
           "rotation": normalize_quats(rng.normal(size=(n, 4))), "scale": np.full((n, 3), 0.01, np.float32),
           "opacity": np.full((n, 1), 0.9, np.float32), "rgb": rng.random((n, 3)).astype(np.float32)}
    betas = rng.normal(size=10).astype(np.float32)
    return body, prior, out, betas


def lhm_reference_pose(body, prior, out, betas, full_pose, transl):
    """LHM's transform_to_posed_verts_from_neutral_pose, written out with 4x4 matrices per point."""
    def blend(rel):
        return np.einsum("nk,nkab->nab", prior.skin_weights, rel[prior.skin_indices])
    x = prior.points_big + out["offset"]
    m_null = blend(prior.unpose.numpy())
    null = np.einsum("nab,nb->na", m_null[:, :3, :3], x) + m_null[:, :3, 3]
    shaped = null + prior.shapedirs @ betas
    joints = torch.from_numpy(body.rest_joints(betas))
    _, rel = forward_kinematics(batch_rodrigues(torch.from_numpy(full_pose))[None], joints, body.parents)
    m_pose = blend(rel[0].numpy())
    posed = np.einsum("nab,nb->na", m_pose[:, :3, :3], shaped) + m_pose[:, :3, 3] + transl
    rot = rotmat_to_quat(m_pose[:, :3, :3] @ m_null[:, :3, :3])
    rot[prior.constrained] = [1, 0, 0, 0]
    return posed, normalize_quats(quat_multiply(rot, out["rotation"]))


def test_big_pose_points_unpose_to_template(setup):
    body, prior, out, _ = setup
    zero = {**out, "offset": np.zeros_like(out["offset"])}
    avatar = lhm_avatar(zero, prior, np.zeros(10, np.float32))
    assert np.allclose(big_pose()[1], [0, 0, np.pi / 9])
    assert np.abs(prior.points_big - avatar.gaussians.means).max() > 1e-3  # hips really moved
    from scipy.spatial import cKDTree
    d, _ = cKDTree(body.v_template).query(avatar.gaussians.means)
    assert d.max() < 1e-4  # back on the template vertices they were sampled from


def test_posed_avatar_matches_lhm_chain(setup):
    body, prior, out, betas = setup
    avatar = lhm_avatar(out, prior, betas)
    rng = np.random.default_rng(5)
    pose = (rng.normal(size=(55, 3)) * 0.3).astype(np.float32)
    transl = np.array([0.1, -0.2, 0.3], np.float32)
    posed = avatar.posed(body, pose, transl)
    ref_means, ref_quats = lhm_reference_pose(body, prior, out, betas, pose, transl)
    np.testing.assert_allclose(posed.means, ref_means, atol=1e-4)
    dots = np.abs(np.sum(normalize_quats(posed.quats) * ref_quats, axis=1))
    assert dots.min() > 1 - 1e-5
    assert avatar.rig.rotation_locked.sum() == prior.constrained.sum()


def test_upper_body_flags_follow_argmax_skinning(setup):
    body, prior, _, _ = setup
    part = body.weights.argmax(1)
    from scipy.spatial import cKDTree
    nn = cKDTree(body.v_template).query(body.v_template[part == 16][:3])[1]
    assert np.all(np.isin(body.weights[nn].argmax(1), [16]))
    assert prior.upper_body.dtype == bool and 0 < prior.upper_body.sum() < prior.num_points


def test_resize_and_pad_helpers():
    img = torch.rand(1, 3, 30, 18)
    sq = pad_square(img, 1.0)
    assert sq.shape[-2:] == (30, 30) and torch.all(sq[..., :, :6] == 1.0)
    assert resize_kornia(sq, (30, 30)) is sq
    assert resize_kornia(sq, (12, 12)).shape[-2:] == (12, 12)


def test_body_crop_is_5_to_3_and_head_box_is_1_65x():
    img = np.full((300, 400, 4), 255, np.uint8)
    img[..., 3] = 0
    img[40:280, 150:230, 3] = 255  # a tall subject off centre
    body = body_image(img, img[..., 3] / 255.0, (182, 112))
    assert body.shape == (1, 3, 182, 112) and 0 <= body.min() and body.max() <= 1
    x0, y0, x1, y1 = expand_head_box((10, 20, 30, 40))
    assert np.isclose(x1 - x0, 33.0) and np.isclose(y1 - y0, 33.0) and np.isclose((x0 + x1) / 2, 20)
    head = head_image(img, (-50, -50, 10, 10), 64)  # partly outside the photo: white there
    assert head.shape == (1, 3, 64, 64) and float(head[0, :, 0, 0].min()) == 1.0


def test_subject_seam_fallbacks():
    rgb = np.zeros((100, 80, 3), np.uint8)
    mask, box, betas = estimate_subject(rgb)
    assert mask.shape == (100, 80) and mask.min() == 1.0 and betas.shape == (10,) and not betas.any()
    assert box[1] == 0 and np.isclose(box[3] - box[1], 100 / 7)
    kp = np.array([[40, 20, 0.9], [50, 20, 0.9], [45, 26, 0.9], [0, 0, 0.1]], np.float32)
    x0, y0, x1, y1 = head_box_from_keypoints(kp)
    assert np.isclose((x0 + x1) / 2, 45) and np.isclose(x1 - x0, 16) and head_box_from_keypoints(kp[:1]) is None
