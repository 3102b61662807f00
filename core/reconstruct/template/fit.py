"""Fit the body (pose of the torso, arms and legs, betas, placement) to a person mask and,
when available, 2D keypoints: a small Adam optimisation in torch.

Conventions: the fit happens in the photo's camera frame. The camera sits at the origin looking
down world -Z with world +Y up (OpenCV: x right, y down). The body is posed in its own world
frame and translated by `transl`, so a point X maps to camera (X+t)_x, -(X+t)_y, -(X+t)_z.

Losses (all in pixels of a reduced "work" image, normalised by the person's height):
 * outside: sampled body points must project inside the mask (distance transform);
 * coverage: mask boundary and interior samples must be near some projected body point;
 * extent: the body's projected top and bottom at the mask's (the crown and the soles);
 * keypoints: projected joints near detected keypoints (when there are any);
 * limb depth: when 3D landmarks come with the keypoints (mediapipe's world landmarks), the
   directions of the upper/lower arm and leg bones agree with theirs (bounded, visibility
   weighted). A front photo cannot show whether a limb swings towards or away from the camera;
   the landmark model's depth estimate can;
 * priors: pose near a relaxed standing pose, joint limits for knees and elbows, small betas.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ...body.model import BodyModel

BODY_JOINTS = 22                 # pelvis .. wrists; hands, jaw and eyes follow their parents
ARM_DOWN_DEG = 60.0
# Prior weight per shape coefficient. Girth (beta 1) mostly changes the body's depth, which a front
# view barely shows, while clothes and hair widen the outline it does show; left loose it drifts
# to a belly the person does not have, so it is held close to the average.
BETA_PRIOR = {1: 3e-3}
HEIGHT_PRIOR_M = 1.70

# Joints the fit may rotate and how freely about x, y, z (std of the Gaussian pose prior, radians).
# Rotations a front view cannot see (hip flexion, arm swing forward, twists) are held tight.
POSE_PRIOR_STD = {
    1: (0.1, 0.1, 0.4), 2: (0.1, 0.1, 0.4),          # hips: flexion, twist, spread
    4: (0.12, 0.05, 0.05), 5: (0.12, 0.05, 0.05),    # knees bend about x only
    7: (0.15, 0.1, 0.15), 8: (0.15, 0.1, 0.15),      # ankles
    3: (0.1, 0.1, 0.1), 6: (0.08, 0.08, 0.08), 9: (0.08, 0.08, 0.08),
    12: (0.15, 0.15, 0.15), 15: (0.2, 0.2, 0.2),      # neck, head
    13: (0.05, 0.05, 0.1), 14: (0.05, 0.05, 0.1),     # collars
    16: (0.3, 0.3, 1.0), 17: (0.3, 0.3, 1.0),        # shoulders: raise/lower about z is what shows
    18: (0.1, 0.6, 0.15), 19: (0.1, 0.6, 0.15),      # elbows bend about y
}

StepHook = Callable[[float], None]


@dataclass
class FitInput:
    """What the fit sees.

    Attributes:
        mask: [h,w] bool person mask at work resolution.
        focal: focal length in work pixels; cx, cy: principal point in work pixels.
        keypoints: [22,3] (u, v, confidence) in work pixels for SMPL-X joints 0..21, or None.
        world: [22,4] (x, y, z, confidence) 3D landmarks for the same joints in camera axes
            (x right, y down, z away from the camera: mediapipe's world landmarks), any scale
            and origin (only bone directions are used), or None.
    """

    mask: np.ndarray
    focal: float
    cx: float
    cy: float
    keypoints: np.ndarray | None = None
    world: np.ndarray | None = None


@dataclass
class FitResult:
    """The fitted body.

    Attributes:
        full_pose: [55,3] axis-angle (zeros beyond the body joints).
        betas: [B] shape.
        transl: [3] body translation in the camera-at-origin frame described in the module docstring.
        joints_2d: [22,2] projected body joints in work pixels.
        loss: final loss value.
    """

    full_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    joints_2d: np.ndarray
    loss: float


class BodyRig(torch.nn.Module):
    """Differentiable body restricted to `BODY_JOINTS` joints and a subset of vertices.

    Buffers: v_template [P,3], shapedirs [P,3,B], weights [P,22], j_template [22,3],
    j_shapedirs [22,3,B] for P sampled vertices; parents is a list of 22 ints.
    """

    def __init__(self, body: BodyModel, num_points: int = 1000, seed: int = 0) -> None:
        super().__init__()
        idx = sample_vertices(body, num_points, seed)
        b = body.num_betas
        w = merge_weights(body.weights)
        sd = body.shapedirs[..., :b]
        self.register_buffer("v_template", torch.from_numpy(body.v_template[idx]))
        self.register_buffer("shapedirs", torch.from_numpy(np.ascontiguousarray(sd[idx])))
        self.register_buffer("weights", torch.from_numpy(w[idx]))
        jreg = body.J_regressor[:BODY_JOINTS]
        self.register_buffer("j_template", torch.from_numpy(jreg @ body.v_template))
        self.register_buffer("j_shapedirs", torch.from_numpy(np.einsum("jv,vcb->jcb", jreg, sd).astype(np.float32)))
        self.parents = [int(p) for p in body.parents[:BODY_JOINTS]]
        self.vertex_index = idx
        self._tree_levels()

    def _tree_levels(self) -> None:
        """Group joints by depth so forward kinematics runs one batched step per tree level.

        Sets levels_t (list of [L] joint-index tensors), level_parents (list of [L] rows of each
        joint's parent in the arrays concatenated level by level), unorder (back to joint order)
        and parent_index [22].
        """
        depth = [0] * BODY_JOINTS
        for i in range(1, BODY_JOINTS):
            depth[i] = depth[self.parents[i]] + 1
        order = [0]
        self.levels_t, self.level_parents = [], []
        for d in range(1, max(depth) + 1):
            level = [i for i in range(BODY_JOINTS) if depth[i] == d]
            self.level_parents.append(torch.tensor([order.index(self.parents[i]) for i in level]))
            self.levels_t.append(torch.tensor(level))
            order += level
        self.unorder = torch.argsort(torch.tensor(order))
        self.parent_index = torch.tensor([max(p, 0) for p in self.parents])

    def forward(self, pose: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pose [22,3] axis-angle, betas [B] -> (points [P,3], joints [22,3]) posed, untranslated."""
        v = self.v_template + self.shapedirs @ betas
        j = self.j_template + self.j_shapedirs @ betas
        rot = rodrigues(pose)
        bone = j - j[self.parent_index]               # [22,3] offsets from the parent (root: itself)
        r, t = rot[:1], j[:1]
        for idx, par in zip(self.levels_t, self.level_parents):   # one tree level at a time
            r_new = r[par] @ rot[idx]
            t_new = (r[par] @ bone[idx][:, :, None])[..., 0] + t[par]
            r, t = torch.cat([r, r_new]), torch.cat([t, t_new])
        r, t = r[self.unorder], t[self.unorder]       # [22,3,3], [22,3] posed joints
        offs = t - (r @ j[:, :, None])[..., 0]        # rest point -> posed point: r x + offs
        blend_r = torch.einsum("pj,jab->pab", self.weights, r)
        blend_t = self.weights @ offs
        pts = (blend_r @ v[:, :, None])[..., 0] + blend_t
        return pts, t


def rodrigues(aa: torch.Tensor) -> torch.Tensor:
    """[N,3] axis-angle -> [N,3,3] (smooth at zero)."""
    theta = torch.sqrt((aa * aa).sum(-1, keepdim=True) + 1e-12)
    k = aa / theta
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    km = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).view(-1, 3, 3)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    return torch.eye(3)[None] + s * km + (1 - c) * (km @ km)


def merge_weights(weights: np.ndarray) -> np.ndarray:
    """[V,55] skinning weights -> [V,22]: fingers go to their wrist, jaw and eyes to the head."""
    w = weights[:, :BODY_JOINTS].copy()
    w[:, 20] += weights[:, 25:40].sum(1)
    w[:, 21] += weights[:, 40:55].sum(1)
    w[:, 15] += weights[:, 22:25].sum(1)
    return (w / np.maximum(w.sum(1, keepdims=True), 1e-9)).astype(np.float32)


def sample_vertices(body: BodyModel, n: int, seed: int = 0) -> np.ndarray:
    """[n] vertex indices spread evenly over the surface (probability ~ vertex area)."""
    from .surface import face_areas_normals
    area, _ = face_areas_normals(body.v_template, body.faces)
    va = np.zeros(body.num_vertices)
    for k in range(3):
        np.add.at(va, body.faces[:, k], area / 3)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(body.num_vertices, size=min(n, body.num_vertices), replace=False, p=va / va.sum()))


def default_pose(arm_down_deg: float = ARM_DOWN_DEG) -> np.ndarray:
    """[22,3] relaxed standing pose: arms lowered, elbows slightly bent."""
    pose = np.zeros((BODY_JOINTS, 3), np.float32)
    a = np.radians(arm_down_deg)
    pose[16], pose[17] = (0.0, 0.0, -a), (0.0, 0.0, a)
    pose[18], pose[19] = (0.0, -0.15, 0.0), (0.0, 0.15, 0.0)
    return pose


# ------------------------------------------------------------------------------ image targets
@dataclass
class MaskTargets:
    """Torch tensors derived from the mask: outside distance field [1,1,h,w] (pixels), coverage
    sample points [M,2] (pixels) with weights [M], person height in pixels, image size, and the
    mask's top and bottom (pixel edges; None where the mask runs off the view's edge: the person
    goes on beyond the photo there)."""

    dist_out: torch.Tensor
    samples: torch.Tensor
    sample_w: torch.Tensor
    height_px: float
    size: tuple[int, int]
    top: float | None
    bottom: float | None


def mask_targets(mask: np.ndarray, n_boundary: int = 360, n_inside: int = 180, seed: int = 0) -> MaskTargets:
    """Distance field outside the [h,w] bool mask and coverage samples (boundary-heavy)."""
    rng = np.random.default_rng(seed)
    dist_out = ndimage.distance_transform_edt(~mask).astype(np.float32)
    boundary = mask & ~ndimage.binary_erosion(mask)
    by, bx = np.nonzero(boundary)
    iy, ix = np.nonzero(ndimage.binary_erosion(mask, iterations=2))
    if iy.size == 0:
        iy, ix = np.nonzero(mask)
    bsel = rng.choice(by.size, min(n_boundary, by.size), replace=False)
    isel = rng.choice(iy.size, min(n_inside, iy.size), replace=False)
    pts = np.concatenate([np.stack([bx[bsel], by[bsel]], 1), np.stack([ix[isel], iy[isel]], 1)]).astype(np.float32)
    w = np.concatenate([np.full(bsel.size, 1.0), np.full(isel.size, 0.5)]).astype(np.float32)
    rows = np.nonzero(mask.any(axis=1))[0]
    return MaskTargets(torch.from_numpy(dist_out)[None, None], torch.from_numpy(pts + 0.5),
                       torch.from_numpy(w), float(rows[-1] - rows[0] + 1), mask.shape,
                       float(rows[0]) if rows[0] > 0 else None,
                       float(rows[-1] + 1) if rows[-1] < mask.shape[0] - 1 else None)


def project(points: torch.Tensor, transl: torch.Tensor, focal: float, cx: float, cy: float) -> torch.Tensor:
    """[N,3] body points + [3] translation -> [N,2] pixels (camera at origin looking down -Z): the projection
    of `core.camera.photo_camera` (principal point (cx, cy)), in torch for the fit's gradients."""
    p = points + transl
    z = (-p[:, 2]).clamp_min(0.05)
    return torch.stack([focal * p[:, 0] / z + cx, focal * -p[:, 1] / z + cy], dim=-1)


def sample_field(field: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of a [1,1,h,w] field at [N,2] pixel positions (clamped at the border)."""
    h, w = field.shape[-2:]
    grid = torch.stack([uv[:, 0] / w * 2 - 1, uv[:, 1] / h * 2 - 1], -1)[None, None]
    outside = F.relu(uv[:, 0] - w).pow(1) + F.relu(-uv[:, 0]) + F.relu(uv[:, 1] - h) + F.relu(-uv[:, 1])
    return F.grid_sample(field, grid, align_corners=False, padding_mode="border")[0, 0, 0] + outside


# ------------------------------------------------------------------------------------- losses
def silhouette_loss(uv: torch.Tensor, t: MaskTargets) -> tuple[torch.Tensor, torch.Tensor]:
    """(outside, coverage) losses for [P,2] projected body points, in units of person height."""
    scale = t.height_px
    outside = (sample_field(t.dist_out, uv) / scale).pow(2).mean()
    d = torch.cdist(t.samples, uv).min(dim=1).values / scale
    robust = d.pow(2) / (d.pow(2) + 0.05 ** 2)  # Geman-McClure: loose clothes and bags are not body
    coverage = (robust * t.sample_w).sum() / t.sample_w.sum()
    return outside, coverage


# The coverage term samples the outline mostly along its long sides, where clothes widen it, and
# barely at the crown and the soles, so a body fitted by it alone trades height for width: a few per
# cent too big overall, legs too short. The extent term holds the body's top and bottom to the
# outline's (measured on the benchmark: body size error 2.7 +- 3.5% -> 1.4 +- 0.9%).
EXTENT_WEIGHT = 50.0
EXTENT_TAU = 0.3     # pixels: softness of the smooth min/max over body points


def extent_loss(uv: torch.Tensor, t: MaskTargets) -> torch.Tensor:
    """Squared gaps between the [P,2] projected body points' top and bottom (smooth min/max of v) and
    the mask's top and bottom rows, in units of person height (a side cut off by the photo's edge
    counts nothing)."""
    v = uv[:, 1]
    loss = uv.new_zeros(())
    if t.top is not None:
        top = -EXTENT_TAU * torch.logsumexp(-v / EXTENT_TAU, 0)
        loss = loss + ((top - t.top) / t.height_px).pow(2)
    if t.bottom is not None:
        bottom = EXTENT_TAU * torch.logsumexp(v / EXTENT_TAU, 0)
        loss = loss + ((bottom - t.bottom) / t.height_px).pow(2)
    return loss


def keypoint_loss(joints_uv: torch.Tensor, keypoints: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Robust distance of [22,2] projected joints to [22,3] (u, v, conf) keypoints."""
    if keypoints is None:
        return joints_uv.new_zeros(())
    d2 = ((joints_uv - keypoints[:, :2]) / scale).pow(2).sum(-1)
    return (keypoints[:, 2] * d2 / (d2 + 0.03 ** 2)).sum() / keypoints[:, 2].sum().clamp_min(1e-6)


# (parent, child) joints whose bone direction the limb-depth term compares: upper and lower arms
# and legs. Not the torso: landmark models often tip the whole upper body towards the camera.
LIMB_BONES = ((16, 18), (18, 20), (17, 19), (19, 21), (1, 4), (4, 7), (2, 5), (5, 8))
WORLD_WEIGHT = 0.5


def world_targets(world: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """[22,4] camera-axes 3D landmarks -> ([L,3] unit bone directions in the fit's body frame
    (camera axes with y and z flipped, see the module docstring), [L] confidences), or None
    when no limb bone has both ends."""
    if world is None:
        return None
    w = np.asarray(world, np.float32)
    a, b = np.array(LIMB_BONES).T
    d = (w[b, :3] - w[a, :3]) * np.array([1.0, -1.0, -1.0], np.float32)
    n = np.linalg.norm(d, axis=1)
    conf = np.minimum(w[a, 3], w[b, 3]) * (n > 1e-4)
    if conf.sum() <= 0:
        return None
    d = d / np.maximum(n, 1e-4)[:, None]
    return torch.from_numpy(d.astype(np.float32)), torch.from_numpy(conf.astype(np.float32))


def world_loss(joints: torch.Tensor, targets: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """Disagreement of the [22,3] posed joints' limb bone directions with the target directions
    from `world_targets`: squared distance of unit vectors, 2 (1 - cos), confidence-weighted mean
    (0 without targets). Bounded by 4 per bone, so a wrong landmark cannot pull without limit; a
    redescending (Geman-McClure) form would go flat exactly where the depth is most wrong (a limb
    hanging down in the fit while it points at the camera in the photo)."""
    if targets is None:
        return joints.new_zeros(())
    dirs, conf = targets
    a, b = zip(*LIMB_BONES)
    bone = joints[list(b)] - joints[list(a)]
    unit = bone / bone.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    d2 = (unit - dirs).pow(2).sum(-1)
    return (conf * d2).sum() / conf.sum().clamp_min(1e-6)


def prior_loss(pose: torch.Tensor, betas: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
    """Pose prior around `init` [22,3], knee/elbow hinge limits, and a betas prior."""
    std = torch.full((BODY_JOINTS, 3), 0.05)
    for j, s in POSE_PRIOR_STD.items():
        std[j] = torch.tensor(s)
    std[0] = 10.0  # the global orientation has its own prior below
    p = ((pose - init) / std).pow(2).sum()
    knees = F.relu(-pose[[4, 5], 0]).pow(2).sum() + pose[[4, 5], 1:].pow(2).sum()
    elbows = F.relu(pose[18, 1]).pow(2) + F.relu(-pose[19, 1]).pow(2) + pose[[18, 19], 0].pow(2).sum() * 0.5
    # People stand upright and roughly face the camera; a silhouette barely constrains the turn.
    root = pose[0, [0, 2]].pow(2).sum() / 0.12 ** 2 + pose[0, 1].pow(2) / 0.35 ** 2
    w = torch.full_like(betas, 3e-4)
    for i, wi in BETA_PRIOR.items():
        if i < w.numel():
            w[i] = wi
    return 1e-3 * p + 1e-2 * root + 0.1 * (knees + elbows) + (w * betas.pow(2)).sum()


# -------------------------------------------------------------------------------------- setup
def initial_translation(t: MaskTargets, focal: float, cx: float, cy: float, rest_height: float,
                        pelvis_y: float, top_y: float) -> np.ndarray:
    """[3] translation that puts a standing body over the mask's bounding box."""
    mask_rows = t.samples[:, 1].numpy()
    mask_cols = t.samples[:, 0].numpy()
    top, bottom = float(mask_rows.min()), float(mask_rows.max())
    depth = focal * rest_height / max(bottom - top, 1.0)
    u_mid = float(np.median(mask_cols))
    v_pelvis = top + (top_y - pelvis_y) / rest_height * (bottom - top)
    x = (u_mid - cx) * depth / focal
    y = -(v_pelvis - cy) * depth / focal
    return np.array([x, y - pelvis_y, -depth], np.float32)


def best_arm_angles(rig: BodyRig, pose: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor,
                    inp: FitInput, t: MaskTargets) -> torch.Tensor:
    """Grid-search each shoulder's lowering angle (straight arm) against the silhouette."""
    pose = pose.detach().clone()
    angles = np.radians([-85, -70, -55, -40, -25, -10, 10, 35, 60])
    for sh, sign in ((16, 1.0), (17, -1.0)):
        scores = []
        for a in angles:
            trial = pose.clone()
            trial[sh] = torch.tensor([0.0, 0.0, sign * float(a)])
            trial[sh + 2] = 0.0
            with torch.no_grad():
                pts, _ = rig(trial, betas)
                out, cov = silhouette_loss(project(pts, transl, inp.focal, inp.cx, inp.cy), t)
            scores.append(float(out * 20 + cov))
        pose[sh] = torch.tensor([0.0, 0.0, sign * float(angles[int(np.argmin(scores))])])
        pose[sh + 2] = 0.0
    return pose


# -------------------------------------------------------------------------------------- optimiser
class Adam:
    """Plain Adam over parameter groups ({"params": [...], "lr": float}).

    Written out rather than `torch.optim.Adam`, whose first construction imports torch's compiler
    stack (seconds, uninterruptible), which would delay a cancel during the first reconstruction.
    """

    def __init__(self, groups: list[dict], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.groups = groups
        self.b1, self.b2, self.eps = betas[0], betas[1], eps
        self.t = 0
        self.state = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for g in groups for p in g["params"]}

    def zero_grad(self) -> None:
        for g in self.groups:
            for p in g["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for g in self.groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                m, v = self.state[id(p)]
                m.mul_(self.b1).add_(p.grad, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1 - self.b2)
                p.sub_(g["lr"] * (m / c1) / ((v / c2).sqrt() + self.eps))


# ---------------------------------------------------------------------------------------- fit
def fit_body(rig: BodyRig, inp: FitInput, *, iters: int = 160, step: StepHook | None = None) -> FitResult:
    """Fit pose, betas and translation to the mask (and keypoints). `step(fraction)` is called
    every few iterations (it may raise to cancel).

    Runs torch on one thread: the tensors are small, and more threads only add overhead.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_body(rig, inp, iters, step)
    finally:
        torch.set_num_threads(threads)


def _fit_body(rig: BodyRig, inp: FitInput, iters: int, step: StepHook | None) -> FitResult:
    t = mask_targets(inp.mask)
    betas = torch.zeros(rig.shapedirs.shape[-1])
    init = torch.from_numpy(default_pose())
    with torch.no_grad():
        _, rest_j = rig(torch.zeros(BODY_JOINTS, 3), betas)
        pts0, _ = rig(torch.zeros(BODY_JOINTS, 3), betas)
    top_y = float(pts0[:, 1].max())
    rest_height = top_y - float(pts0[:, 1].min())
    tr0 = initial_translation(t, inp.focal, inp.cx, inp.cy, rest_height, float(rest_j[0, 1]), top_y)
    transl = torch.tensor(tr0)
    kp = None if inp.keypoints is None else torch.from_numpy(inp.keypoints.astype(np.float32))
    wt = world_targets(inp.world)
    pose = init.clone()
    # Stage A: place the body (translation, depth, orientation) with arms at the default.
    transl, pose, betas = _adam(rig, inp, t, kp, pose, betas, transl, init, iters // 4, free_pose=False, step=step,
                                progress=(0.0, 0.25))
    if kp is None or float(kp[16:22, 2].sum()) < 1.0:
        pose = best_arm_angles(rig, pose, betas, transl, inp, t)
        init = init.clone()
        init[16:18] = pose[16:18]
    transl, pose, betas = _adam(rig, inp, t, kp, pose, betas, transl, init, iters - iters // 4, free_pose=True,
                                step=step, progress=(0.25, 1.0), world=wt)
    with torch.no_grad():
        pts, joints = rig(pose, betas)
        uv = project(joints, transl, inp.focal, inp.cx, inp.cy)
        out, cov = silhouette_loss(project(pts, transl, inp.focal, inp.cx, inp.cy), t)
    full = np.zeros((55, 3), np.float32)
    full[:BODY_JOINTS] = pose.numpy()
    return FitResult(full, betas.numpy().copy(), transl.numpy().copy(), uv.numpy(), float(out * 20 + cov))


def _adam(rig: BodyRig, inp: FitInput, t: MaskTargets, kp: torch.Tensor | None, pose: torch.Tensor,
          betas: torch.Tensor, transl: torch.Tensor, init: torch.Tensor, iters: int, *, free_pose: bool,
          step: StepHook | None, progress: tuple[float, float],
          world: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Adam stage (`world`: limb-direction targets from `world_targets`, or None).
    Returns detached (transl, pose, betas)."""
    pose = pose.clone().requires_grad_(True)
    betas = betas.clone().requires_grad_(free_pose)
    xy = transl[:2].clone().requires_grad_(True)
    log_depth = torch.log(-transl[2:3]).clone().requires_grad_(True)
    groups = [{"params": [xy], "lr": 0.01}, {"params": [log_depth], "lr": 0.01},
              {"params": [pose], "lr": 0.04 if free_pose else 0.02}]
    if free_pose:
        groups.append({"params": [betas], "lr": 0.05})
    opt = Adam(groups)
    pose_mask = torch.zeros(BODY_JOINTS, 1)
    pose_mask[0] = 1.0
    if free_pose:
        for j in POSE_PRIOR_STD:
            pose_mask[j] = 1.0
    for it in range(iters):
        if step is not None and it % 10 == 0:
            step(progress[0] + (progress[1] - progress[0]) * it / max(iters, 1))
        opt.zero_grad()
        tr = torch.cat([xy, -torch.exp(log_depth)])
        p = pose * pose_mask + init * (1 - pose_mask)
        pts, joints = rig(p, betas)
        uv = project(pts, tr, inp.focal, inp.cx, inp.cy)
        out, cov = silhouette_loss(uv, t)
        kl = keypoint_loss(project(joints, tr, inp.focal, inp.cx, inp.cy), kp, t.height_px)
        loss = 20.0 * out + cov + kl + prior_loss(p, betas, init) + EXTENT_WEIGHT * extent_loss(uv, t)
        if world is not None:
            loss = loss + WORLD_WEIGHT * world_loss(joints, world)
        loss.backward()
        opt.step()
    with torch.no_grad():
        tr = torch.cat([xy, -torch.exp(log_depth)])
        p = pose * pose_mask + init * (1 - pose_mask)
    return tr.detach(), p.detach(), betas.detach()
