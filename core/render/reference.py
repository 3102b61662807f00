"""A small, slow pure-torch rasterizer: the oracle every other back-end is tested against.

It follows the 3DGS / gsplat maths step by step:
  * EWA projection: cov2d = J W Sigma W^T J^T + eps2d * I (eps2d = 0.3 px low-pass, like gsplat),
    with the Jacobian evaluated at a position clamped to 1.3x the field of view (like gsplat);
  * view-dependent SH colour (degree 0..3), colour = SH + 0.5 clamped at >= 0;
  * depth sort, front-to-back compositing per pixel, alpha = min(0.99, opacity * exp(-d^T conic d / 2)),
    fragments with alpha < 1/255 skipped, a pixel stops once its transmittance would fall below 1e-4.
Gaussians with camera-space z <= near (or >= far) are culled. Pixel centres are at (x + 0.5, y + 0.5).

Everything runs in float64 on the device the tensors are on; it is meant for a few thousand Gaussians
at a few hundred pixels, not for speed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..gaussians import GaussianSet
from .base import Camera, RenderMode, RenderResult
from .draw import DrawList, Target, composite_rendered

EPS2D = 0.3
ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99
T_MIN = 1e-4
TILE = 16

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
         -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """[N,4] wxyz quaternions (any norm) -> [N,3,3] rotation matrices."""
    q = quats / quats.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def covariance_3d(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """[N,4] wxyz, [N,3] linear std-devs -> [N,3,3] world covariances R S S^T R^T."""
    m = quat_to_rotmat(quats) * scales[:, None, :]
    return m @ m.transpose(-1, -2)


def eval_sh(sh: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Evaluate real SH.

    Args:
        sh: [N,K,3] coefficients, K in (1, 4, 9, 16).
        dirs: [N,3] unit view directions (camera centre -> Gaussian).
    Returns:
        [N,3] raw SH value (add 0.5 for colour).
    """
    k = sh.shape[1]
    out = SH_C0 * sh[:, 0]
    if k < 4:
        return out
    x, y, z = (dirs[:, i:i + 1] for i in range(3))
    out = out - SH_C1 * y * sh[:, 1] + SH_C1 * z * sh[:, 2] - SH_C1 * x * sh[:, 3]
    if k < 9:
        return out
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    out = (out + SH_C2[0] * xy * sh[:, 4] + SH_C2[1] * yz * sh[:, 5]
           + SH_C2[2] * (2 * zz - xx - yy) * sh[:, 6] + SH_C2[3] * xz * sh[:, 7]
           + SH_C2[4] * (xx - yy) * sh[:, 8])
    if k < 16:
        return out
    return (out + SH_C3[0] * y * (3 * xx - yy) * sh[:, 9] + SH_C3[1] * xy * z * sh[:, 10]
            + SH_C3[2] * y * (4 * zz - xx - yy) * sh[:, 11] + SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[:, 12]
            + SH_C3[4] * x * (4 * zz - xx - yy) * sh[:, 13] + SH_C3[5] * z * (xx - yy) * sh[:, 14]
            + SH_C3[6] * x * (xx - 3 * yy) * sh[:, 15])


@dataclass
class Projected:
    """Screen-space Gaussians (all [N,...], float64).

    Attributes:
        means2d: [N,2] pixel coordinates of the centres.
        conics: [N,3] inverse 2D covariance (a, b, c) for [[a, b], [b, c]].
        depths: [N] camera-space z.
        colors: [N,3] view-dependent colour (>= 0).
        opacities: [N].
        extents: [N,2] half-size in pixels of the box where alpha >= 1/255.
        valid: [N] bool, False for culled Gaussians.
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    colors: torch.Tensor
    opacities: torch.Tensor
    extents: torch.Tensor
    valid: torch.Tensor


def camera_tensors(camera: Camera, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Camera -> ([4,4] world-to-camera, [3] camera centre) as float64 tensors."""
    view = torch.as_tensor(np.asarray(camera.view, np.float64), device=device)
    campos = -view[:3, :3].T @ view[:3, 3]
    return view, campos


def project(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
            sh: torch.Tensor, camera: Camera, eps2d: float = EPS2D) -> Projected:
    """Project world Gaussians to the screen (EWA).

    Args:
        means: [N,3]; quats: [N,4] wxyz; scales: [N,3] linear; opacities: [N]; sh: [N,K,3].
    Returns:
        `Projected`.
    """
    means, quats, scales, opacities, sh = (t.double() for t in (means, quats, scales, opacities, sh))
    view, campos = camera_tensors(camera, means.device)
    w = view[:3, :3]
    pc = means @ w.T + view[:3, 3]
    x, y, z = pc.unbind(-1)
    zs = torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    tan_x, tan_y = 0.5 * camera.width / fx, 0.5 * camera.height / fy
    lim_xp, lim_xn = (camera.width - cx) / fx + 0.3 * tan_x, cx / fx + 0.3 * tan_x
    lim_yp, lim_yn = (camera.height - cy) / fy + 0.3 * tan_y, cy / fy + 0.3 * tan_y
    tx = zs * torch.clamp(x / zs, -lim_xn, lim_xp)
    ty = zs * torch.clamp(y / zs, -lim_yn, lim_yp)
    zero = torch.zeros_like(zs)
    jac = torch.stack([fx / zs, zero, -fx * tx / zs ** 2, zero, fy / zs, -fy * ty / zs ** 2], -1).reshape(-1, 2, 3)
    cov_cam = w @ covariance_3d(quats, scales) @ w.T
    cov2d = jac @ cov_cam @ jac.transpose(-1, -2)
    a, b, c = cov2d[:, 0, 0] + eps2d, cov2d[:, 0, 1], cov2d[:, 1, 1] + eps2d
    det = a * c - b * b
    dets = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / dets, -b / dets, a / dets], -1)
    means2d = torch.stack([fx * x / zs + cx, fy * y / zs + cy], -1)
    dirs = means - campos
    dirs = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    colors = (eval_sh(sh, dirs) + 0.5).clamp_min(0.0)
    r2 = 2.0 * torch.log((opacities * 255.0).clamp_min(1.0))
    extents = torch.stack([torch.sqrt(r2 * a), torch.sqrt(r2 * c)], -1)
    valid = (z > camera.near) & (z < camera.far) & (det > 0) & (opacities >= ALPHA_MIN)
    return Projected(means2d, conics, z, colors, opacities, extents, valid)


def project_gaussians(gaussians: GaussianSet, camera: Camera, device: str = "cpu") -> Projected:
    """`project` for a GaussianSet."""
    t = gaussians.to_torch(device)
    return project(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"], camera)


def _tile_gaussians(p: Projected, order: torch.Tensor, x0: int, y0: int, x1: int, y1: int) -> torch.Tensor:
    """Indices (front-to-back) of the Gaussians whose alpha>=1/255 box meets pixels [x0,x1) x [y0,y1)."""
    m, e = p.means2d[order], p.extents[order]
    hit = ((m[:, 0] + e[:, 0] > x0) & (m[:, 0] - e[:, 0] < x1)
           & (m[:, 1] + e[:, 1] > y0) & (m[:, 1] - e[:, 1] < y1))
    return order[hit]


def composite_tile(p: Projected, ids: torch.Tensor, px: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Front-to-back compositing of Gaussians `ids` (sorted near to far) at pixel centres.

    Args:
        ids: [M] Gaussian indices, near to far.
        px: [P,2] pixel-centre coordinates.
    Returns:
        color [P,3] (premultiplied, no background), alpha [P], depth_sum [P] (sum of w*z).
    """
    d = px[None, :, :] - p.means2d[ids][:, None, :]  # [M,P,2]
    a, b, c = (p.conics[ids, i][:, None] for i in range(3))
    power = -0.5 * (a * d[..., 0] ** 2 + c * d[..., 1] ** 2) - b * d[..., 0] * d[..., 1]
    alpha = torch.clamp_max(p.opacities[ids][:, None] * torch.exp(power), ALPHA_MAX)
    alpha = torch.where((power <= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
    t_after = torch.cumprod(1.0 - alpha, dim=0)
    t_before = torch.cat([torch.ones_like(t_after[:1]), t_after[:-1]], dim=0)
    weight = alpha * t_before * (t_after >= T_MIN)
    color = weight.T @ p.colors[ids]
    depth_sum = weight.T @ p.depths[ids]
    return color, weight.sum(0), depth_sum


def rasterize(p: Projected, width: int, height: int
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite projected Gaussians tile by tile.

    Returns:
        color [H,W,3] premultiplied (no background), alpha [H,W], depth_sum [H,W].
    """
    dev = p.means2d.device
    color = torch.zeros(height, width, 3, dtype=torch.float64, device=dev)
    alpha = torch.zeros(height, width, dtype=torch.float64, device=dev)
    depth = torch.zeros(height, width, dtype=torch.float64, device=dev)
    vis = torch.nonzero(p.valid).flatten()
    order = vis[torch.argsort(p.depths[vis], stable=True)]
    for y0 in range(0, height, TILE):
        for x0 in range(0, width, TILE):
            x1, y1 = min(x0 + TILE, width), min(y0 + TILE, height)
            ids = _tile_gaussians(p, order, x0, y0, x1, y1)
            if ids.numel() == 0:
                continue
            ys, xs = torch.meshgrid(torch.arange(y0, y1, device=dev), torch.arange(x0, x1, device=dev), indexing="ij")
            px = torch.stack([xs.flatten(), ys.flatten()], -1).double() + 0.5
            c, a, d = composite_tile(p, ids, px)
            color[y0:y1, x0:x1] = c.reshape(y1 - y0, x1 - x0, 3)
            alpha[y0:y1, x0:x1] = a.reshape(y1 - y0, x1 - x0)
            depth[y0:y1, x0:x1] = d.reshape(y1 - y0, x1 - x0)
    return color, alpha, depth


def render_centers(p: Projected, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each visible centre paints the pixel it falls in with its colour (clamped to 0..1); nearest wins.

    Returns:
        color [H,W,3] (0 where empty), alpha [H,W] (1 where a centre landed).
    """
    dev = p.means2d.device
    u = torch.floor(p.means2d[:, 0]).long()
    v = torch.floor(p.means2d[:, 1]).long()
    ok = p.valid & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    ids = torch.nonzero(ok).flatten()
    ids = ids[torch.argsort(p.depths[ids], descending=True, stable=True)]  # far first, near overwrites
    color = torch.zeros(height * width, 3, dtype=torch.float64, device=dev)
    alpha = torch.zeros(height * width, dtype=torch.float64, device=dev)
    flat = v[ids] * width + u[ids]
    # index_put with duplicates keeps an unspecified one, so write in depth order one layer at a time.
    uniq, first = _last_occurrence(flat)
    color[uniq] = p.colors[ids[first]].clamp(0.0, 1.0)
    alpha[uniq] = 1.0
    return color.reshape(height, width, 3), alpha.reshape(height, width)


def _last_occurrence(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[M] keys -> (unique keys, position of the last occurrence of each)."""
    if keys.numel() == 0:
        return keys, keys
    pos = torch.arange(keys.numel(), device=keys.device)
    uniq, inv = torch.unique(keys, return_inverse=True)
    last = torch.full((uniq.numel(),), -1, dtype=torch.long, device=keys.device)
    last.scatter_reduce_(0, inv, pos, reduce="amax")
    return uniq, last


def finish(color_pm: torch.Tensor, alpha: torch.Tensor, depth_sum: torch.Tensor | None,
           background: tuple[float, float, float] | None, mode: RenderMode) -> RenderResult:
    """Premultiplied colour + alpha (+ sum of w*z) -> a RenderResult in the shared conventions.

    Args:
        color_pm: [H,W,3]; alpha: [H,W]; depth_sum: [H,W] or None.
    """
    alpha_np = alpha.float().cpu().numpy()
    depth = None
    if mode == "depth" and depth_sum is not None:
        depth = torch.where(alpha > 0, depth_sum / alpha.clamp_min(1e-12), torch.zeros_like(alpha))
        depth = depth.float().cpu().numpy()
    if mode == "alpha":
        color = np.repeat(alpha_np[..., None], 3, axis=-1)
        return RenderResult(color.astype(np.float32), alpha_np, None)
    if background is None:
        straight = torch.where(alpha[..., None] > 0, color_pm / alpha.clamp_min(1e-12)[..., None],
                               torch.zeros_like(color_pm))
        color = straight.float().cpu().numpy()
    else:
        bg = torch.as_tensor(background, dtype=color_pm.dtype, device=color_pm.device)
        color = (color_pm + (1.0 - alpha)[..., None] * bg).float().cpu().numpy()
    return RenderResult(np.ascontiguousarray(color, np.float32), alpha_np, depth)


class ReferenceRenderer:
    """The pure-torch oracle behind the `Renderer` protocol (slow: tests and tiny previews only)."""

    name = "reference"

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def render(self, gaussians: GaussianSet, camera: Camera, *,
               background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
               mode: RenderMode = "color") -> RenderResult:
        p = project_gaussians(gaussians, camera, self.device)
        if mode == "centers":
            color, alpha = render_centers(p, camera.width, camera.height)
            return finish(color * alpha[..., None], alpha, None, background, "color")
        color, alpha, depth_sum = rasterize(p, camera.width, camera.height)
        return finish(color, alpha, depth_sum, background, mode)

    def composite(self, draw_list: DrawList, target: Target) -> None:
        """Draw a scene pass's list over `target`: each draw posed on the CPU and rendered."""
        composite_rendered(self, draw_list, target)

    def close(self) -> None:
        pass


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two arrays of the same shape (inf when equal)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def random_gaussians(n: int, seed: int = 0, sh_degree: int = 0, *, center=(0.0, 0.0, 0.0),
                     extent=(0.3, 0.5, 0.3), scale_range=(0.005, 0.06), opacity_range=(0.2, 1.0),
                     sh_scale: float = 0.4) -> GaussianSet:
    """A reproducible random scene for tests and benchmarks: normal centres, log-uniform anisotropic
    scales, random rotations, random SH of the given degree."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n, 3)) * np.asarray(extent) + np.asarray(center)
    quats = rng.normal(size=(n, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    lo, hi = np.log(scale_range[0]), np.log(scale_range[1])
    scales = np.exp(rng.uniform(lo, hi, (n, 3)))
    opacities = rng.uniform(opacity_range[0], opacity_range[1], n)
    sh = rng.normal(size=(n, (sh_degree + 1) ** 2, 3)) * sh_scale
    return GaussianSet(means, quats, scales, opacities, sh)
