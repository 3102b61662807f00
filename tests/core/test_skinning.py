"""Our LBS against smplx's own forward pass, plus Gaussian skinning properties."""
import numpy as np
import pytest
import smplx
import torch

from avatar_studio.core.body.model import BodyModel
from avatar_studio.core.rotations import quat_to_rotmat
from avatar_studio.core.skinning import dense_to_sparse_weights, skin_gaussians, skinned_means_quats
from support import random_gaussians


def smplx_forward(folder, fp, betas, transl, flat):
    t = fp.shape[0]
    layer = smplx.create(str(folder), model_type="smplx", use_pca=False, flat_hand_mean=flat, num_betas=10,
                         batch_size=t)
    f = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))
    out = layer(betas=f(np.tile(betas, (t, 1))), global_orient=f(fp[:, 0]), body_pose=f(fp[:, 1:22].reshape(t, -1)),
                jaw_pose=f(fp[:, 22]), leye_pose=f(fp[:, 23]), reye_pose=f(fp[:, 24]),
                left_hand_pose=f(fp[:, 25:40].reshape(t, -1)), right_hand_pose=f(fp[:, 40:55].reshape(t, -1)),
                transl=f(transl), expression=torch.zeros(t, 10))
    return out.vertices.detach().numpy(), out.joints[:, :55].detach().numpy()


@pytest.mark.parametrize("flat", [True, False])
def test_vertices_match_smplx_random_model(random_smplx_dir, rng, flat):
    body = BodyModel(random_smplx_dir, flat_hand_mean=flat)
    fp = (rng.normal(size=(4, 55, 3)) * 0.6).astype(np.float32)
    betas = rng.normal(size=10).astype(np.float32)
    transl = rng.normal(size=(4, 3)).astype(np.float32)
    v, j = body.forward(fp, betas, transl)
    v_ref, j_ref = smplx_forward(random_smplx_dir, fp, betas, transl, flat)
    assert np.abs(v - v_ref).max() < 1e-5
    assert np.abs(j - j_ref).max() < 1e-5


def test_vertices_match_smplx_standin(body, rng):
    from avatar_studio.core.body.model import STANDIN_DIR
    fp = (rng.normal(size=(3, 55, 3)) * 0.5).astype(np.float32)
    betas = rng.normal(size=10).astype(np.float32)
    transl = rng.normal(size=(3, 3)).astype(np.float32)
    v, j = body.forward(fp, betas, transl)
    v_ref, j_ref = smplx_forward(STANDIN_DIR, fp, betas, transl, True)
    assert np.abs(v - v_ref).max() < 1e-5 and np.abs(j - j_ref).max() < 1e-5


def test_gaussian_skinning_equals_vertex_skinning_without_correctives(random_smplx_dir, rng):
    """Gaussians placed on the shaped template, with the vertices' own weights, move exactly like the vertices."""
    body = BodyModel(random_smplx_dir)
    betas = rng.normal(size=10).astype(np.float32)
    v_shaped, _ = body.shaped(betas)
    sel = rng.choice(body.num_vertices, 200, replace=False)
    g = random_gaussians(200, rng).replace(means=v_shaped[sel])
    idx = np.tile(np.arange(55, dtype=np.int32), (200, 1))
    fp = (rng.normal(size=(3, 55, 3)) * 0.5).astype(np.float32)
    transl = rng.normal(size=(3, 3)).astype(np.float32)
    _, rel = body.joint_transforms(fp, betas)
    posed = skin_gaussians(g, idx, body.weights[sel], rel, torch.from_numpy(transl))
    v_ref, _ = body.forward(fp, betas, transl, pose_correctives=False)
    for t in range(3):
        np.testing.assert_allclose(posed[t].means, v_ref[t, sel], atol=2e-5)


def test_rigid_skinning_rotates_gaussians(rng):
    """With one influence, a Gaussian's rotation is composed with its bone's rotation."""
    g = random_gaussians(50, rng)
    idx = np.zeros((50, 1), np.int32)
    w = np.ones((50, 1), np.float32)
    angle = 0.7
    tr = torch.eye(4).repeat(1, 55, 1, 1)
    tr[0, 0, :3, :3] = torch.tensor([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    means, quats = skinned_means_quats(g, idx, w, tr)
    r = tr[0, 0, :3, :3].numpy()
    np.testing.assert_allclose(means[0].numpy(), g.means @ r.T, atol=1e-5)
    np.testing.assert_allclose(quat_to_rotmat(quats[0].numpy()), r[None] @ quat_to_rotmat(g.quats), atol=1e-5)


def test_rotation_locked_points_keep_rotation(rng):
    g = random_gaussians(10, rng)
    tr = torch.eye(4).repeat(1, 55, 1, 1)
    tr[0, :, :3, :3] = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    lock = np.zeros(10, bool)
    lock[:5] = True
    _, q = skinned_means_quats(g, np.zeros((10, 1), np.int32), np.ones((10, 1), np.float32), tr, rotation_locked=lock)
    np.testing.assert_allclose(q[0, :5].numpy(), g.quats[:5], atol=1e-6)
    assert np.abs(q[0, 5:].numpy() - g.quats[5:]).max() > 0.1


def test_batched_over_frames_equals_one_by_one(body, rng):
    g = random_gaussians(100, rng)
    idx, w = dense_to_sparse_weights(rng.random((100, 55)) ** 6, 4)
    fp = (rng.normal(size=(5, 55, 3)) * 0.4).astype(np.float32)
    _, rel = body.joint_transforms(fp)
    batch = skin_gaussians(g, idx, w, rel)
    for t in range(5):
        one = skin_gaussians(g, idx, w, rel[t:t + 1])[0]
        np.testing.assert_allclose(one.means, batch[t].means, atol=1e-6)
        np.testing.assert_allclose(one.quats, batch[t].quats, atol=1e-6)


def test_big_pose_round_trip(body, rng):
    """LHM's canonical big pose: un-posing with the inverse big-pose transforms returns rest points."""
    from avatar_studio.core.body.poses import big_pose
    fp = big_pose()
    assert fp.shape == (55, 3)
    assert np.allclose(fp[1], [0, 0, np.pi / 9]) and np.allclose(fp[2], [0, 0, -np.pi / 9])
    v_rest, _ = body.shaped()
    v_big, _ = body.forward(fp[None], pose_correctives=False)
    _, rel = body.joint_transforms(fp[None])
    idx, w = dense_to_sparse_weights(body.weights, 55)
    from avatar_studio.core.skinning import unpose_points
    back = unpose_points(torch.from_numpy(v_big[0]), torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(w), rel[0])
    np.testing.assert_allclose(back.numpy(), v_rest, atol=1e-4)


def test_nearest_vertex_weights(body, rng):
    from avatar_studio.core.skinning import nearest_vertex_weights
    v, _ = body.shaped()
    pts = v[[10, 5000, 9000]] + 1e-4
    idx, w = nearest_vertex_weights(pts, v, body.weights, k=4)
    ref_idx, ref_w = dense_to_sparse_weights(body.weights[[10, 5000, 9000]], 4)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(w, ref_w, atol=1e-6)


def test_blended_rotation_is_the_polar_factor(rng):
    """Gaussians take the nearest rotation to the blended LBS matrix (checked against SVD)."""
    from avatar_studio.core.rotations import aa_to_rotmat
    from avatar_studio.core.skinning import matrix_to_quat_torch, nearest_rotation
    r1 = aa_to_rotmat(rng.normal(size=(500, 3)) * 0.8)
    r2 = aa_to_rotmat(rng.normal(size=(500, 3)) * 0.8)
    w = rng.uniform(0, 1, (500, 1, 1))
    m = torch.from_numpy(w * r1 + (1 - w) * r2)
    u, _, vt = np.linalg.svd(m.numpy())
    polar = u @ vt
    np.testing.assert_allclose(nearest_rotation(m).numpy(), polar, atol=1e-6)
    q = matrix_to_quat_torch(nearest_rotation(m).float()).numpy()
    np.testing.assert_allclose(quat_to_rotmat(q), polar, atol=1e-5)
