"""Template fit: the limb-depth term from 3D (world) landmarks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from avatar_studio.core.reconstruct.template.fit import (BODY_JOINTS, BodyRig, FitInput, default_pose, fit_body,
                                                          project, world_loss, world_targets)

TRANSL = np.array([0.0, 0.0, -3.2], np.float32)
FOCAL, W, H = 260.0, 168, 224


@pytest.fixture(scope="module")
def rig(body):
    return BodyRig(body, num_points=1000)


def _forward_arm_pose() -> np.ndarray:
    """Relaxed standing pose with the left forearm bent towards the camera."""
    pose = default_pose()
    pose[16] = (0.0, 0.0, -1.2)      # upper arm well down
    pose[18] = (0.0, -1.3, 0.0)      # elbow bent: forearm forward (towards +z, the camera)
    return pose


def _camera_axes(points: np.ndarray) -> np.ndarray:
    """Body frame -> camera axes as mediapipe's world landmarks use them (x right, y down, z away)."""
    return points * np.array([1.0, -1.0, -1.0], np.float32)


def _synthetic_input(rig: BodyRig, pose: np.ndarray, with_world: bool) -> tuple[FitInput, np.ndarray]:
    """A mask, keypoints and (optionally) world landmarks of the rig posed in `pose`; returns the
    input and the true [22,3] joints (body frame, untranslated)."""
    with torch.no_grad():
        pts, joints = rig(torch.from_numpy(pose), torch.zeros(rig.shapedirs.shape[-1]))
        uv = project(pts, torch.from_numpy(TRANSL), FOCAL, W / 2, H / 2).numpy()
        juv = project(joints, torch.from_numpy(TRANSL), FOCAL, W / 2, H / 2).numpy()
    mask = np.zeros((H, W), bool)
    u, v = np.clip(uv[:, 0].astype(int), 0, W - 1), np.clip(uv[:, 1].astype(int), 0, H - 1)
    mask[v, u] = True
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(ndimage.binary_dilation(mask, iterations=2), iterations=3))
    kp = np.zeros((BODY_JOINTS, 3), np.float32)
    for j in (1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21):
        kp[j] = (juv[j, 0], juv[j, 1], 1.0)
    world = None
    if with_world:
        world = np.zeros((BODY_JOINTS, 4), np.float32)
        world[:, :3] = _camera_axes(joints.numpy() - joints.numpy()[0])
        world[kp[:, 2] > 0, 3] = 0.9
    return FitInput(mask, FOCAL, W / 2, H / 2, kp, world), joints.numpy()


def test_world_targets_flip_camera_axes_into_the_fit_frame():
    world = np.zeros((BODY_JOINTS, 4), np.float32)
    world[18] = (0.3, 0.2, 0.0, 1.0)     # elbow
    world[20] = (0.3, 0.2, -0.25, 0.8)   # wrist nearer the camera (smaller z in camera axes)
    dirs, conf = world_targets(world)
    k = 1                                 # (18, 20) in LIMB_BONES
    assert np.allclose(dirs[k].numpy(), [0.0, 0.0, 1.0])    # body frame: +z is towards the camera
    assert conf[k] == pytest.approx(0.8)
    assert float(conf.sum()) == pytest.approx(0.8)          # bones with a missing end carry no weight
    assert world_targets(None) is None
    assert world_targets(np.zeros((BODY_JOINTS, 4), np.float32)) is None


def test_world_loss_gradient_turns_the_forearm_towards_the_target(rig):
    betas = torch.zeros(rig.shapedirs.shape[-1])
    pose = torch.from_numpy(default_pose()).requires_grad_(True)
    with torch.no_grad():
        _, j0 = rig(pose, betas)
    world = np.zeros((BODY_JOINTS, 4), np.float32)
    world[18, :3] = _camera_axes(j0[18].numpy())
    world[20, :3] = world[18, :3] + (0.0, 0.0, -0.25)        # forearm pointing at the camera
    world[[18, 20], 3] = 1.0
    targets = world_targets(world)
    for _ in range(30):
        _, joints = rig(pose, betas)
        loss = world_loss(joints, targets)
        (g,) = torch.autograd.grad(loss, pose)
        with torch.no_grad():
            pose -= 0.1 * g
    with torch.no_grad():
        _, j1 = rig(pose, betas)
    before = float(j0[20, 2] - j0[18, 2])
    after = float(j1[20, 2] - j1[18, 2])
    assert after > before + 0.05, (before, after)


def test_fit_with_world_landmarks_recovers_a_forward_forearm(rig):
    pose = _forward_arm_pose()
    inp_plain, truth = _synthetic_input(rig, pose, with_world=False)
    inp_world, _ = _synthetic_input(rig, pose, with_world=True)
    plain = fit_body(rig, inp_plain, iters=120)
    world = fit_body(rig, inp_world, iters=120)

    def forearm_depth(res) -> float:
        with torch.no_grad():
            _, j = rig(torch.from_numpy(res.full_pose[:BODY_JOINTS]), torch.from_numpy(res.betas))
        return float(j[20, 2] - j[18, 2])

    true_depth = float(truth[20, 2] - truth[18, 2])
    assert true_depth > 0.15                              # the wrist is well in front of the elbow
    d_plain, d_world = forearm_depth(plain), forearm_depth(world)
    assert abs(d_world - true_depth) < abs(d_plain - true_depth) - 0.05, (true_depth, d_plain, d_world)
    assert d_world > 0.5 * true_depth
