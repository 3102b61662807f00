"""`CpuRenderer`: EWA splatting on the CPU, for machines whose OpenGL is a software rasterizer.

On llvmpipe every point sprite costs ~0.4 us of set-up before a pixel is shaded; a splat-specific
tile rasterizer (`cpu_kernels`, compiled by numba) skips that and shades a tile row in vectors
(one 16-lane segment on AVX-512, two 8-lane segments on AVX2, of which a splat visits only those
its box touches). On the 2-core AVX2 CI machine the 40k demo avatar at 512x512 costs ~15 ms of CPU
a frame here against ~45 ms through llvmpipe. With a real GPU, the GLSL renderer stays the better choice.

Per frame: skin + project every Gaussian (threads over whole batches), bin copies of the records into
16x16 tiles in index order (threads over index ranges: memory read in sequence, no global sort), then
per tile (threads over interleaved tiles) sort its list near to far by GL's 16-bit depth keys (radix,
in cache) and composite it. The maths is the reference renderer's (see `reference.py`); exp()
is a polynomial good to 1e-4.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import InputError
from ..gaussians import GaussianSet
from .base import Camera, RenderMode, RenderResult, Rgba8RenderResult
from .draw import Draw, DrawList, ImageTarget, Target, Uploads
from .host import as_numpy_transforms, as_numpy_vec3, avatar_arrays, top4_skin

if TYPE_CHECKING:
    from ..avatar import Avatar

_POOL: ThreadPoolExecutor | None = None


def default_threads() -> int:
    """Worker count: the cores this process may use (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _pool(threads: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers < threads - 1:   # the calling thread takes one share
        _POOL = ThreadPoolExecutor(max_workers=max(threads - 1, 1), thread_name_prefix="splat-cpu")
    return _POOL


def _parallel(fn, shares: list[tuple], threads: int) -> None:
    """Run fn(*share) for every share: the first on this thread, the rest on the pool (the kernels
    release the GIL). Re-raises the first failure."""
    if threads <= 1 or len(shares) == 1:
        for s in shares:
            fn(*s)
        return
    futures = [_pool(threads).submit(fn, *s) for s in shares[1:]]
    fn(*shares[0])
    for f in futures:
        f.result()


def kernels() -> Any:
    """The compiled kernels (imports numba on first call; raises ImportError without it)."""
    from . import cpu_kernels
    return cpu_kernels


@dataclass(eq=False)
class CpuAvatar:
    """Canonical Gaussians (and top-4 skinning) in the layout the kernels read; `CpuRenderer.set_avatar`."""

    canon: np.ndarray                 # [CANON,N] float32: one row per quantity (see cpu_kernels.CANON)
    sh: np.ndarray                    # [N,K,3]
    skin_idx: np.ndarray              # [4,N] int32 ([4,0] when static)
    skin_w: np.ndarray                # [4,N] float32
    locked: np.ndarray                # [N] uint8
    records: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 16), np.float32))
    released: bool = False

    @property
    def skinned(self) -> bool:
        return self.skin_idx.shape[1] > 0

    def __len__(self) -> int:
        return self.canon.shape[1]


class CpuRenderer:
    """Tile-based CPU splat renderer (implements `Renderer` and `SkinnedRenderer`).

    Args:
        threads: worker threads (None: the cores available, at most 8).
        read_back: "8bit" returns colour renders over an opaque background as `Rgba8RenderResult`
            (video export); "float" (default) returns float images.
    """

    name = "cpu"

    def __init__(self, *, threads: int | None = None, read_back: Literal["float", "8bit"] = "float") -> None:
        if read_back not in ("float", "8bit"):
            raise InputError("read_back must be 'float' or '8bit'.")
        self.k = kernels()
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self.read_back = read_back
        self._buffers: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray]] = {}
        self._ws = self.k.Workspace()   # the binning's arrays, kept between frames
        self._uploads = Uploads()
        self._closed = False

    # ------------------------------------------------------------------ avatars
    def set_avatar(self, gaussians: "Avatar | GaussianSet", skin_indices: np.ndarray | None = None,
                   skin_weights: np.ndarray | None = None, rotation_locked: np.ndarray | None = None,
                   handle: CpuAvatar | None = None) -> CpuAvatar:
        """Prepare canonical Gaussians (and optional skinning, top 4 weights) once; returns a handle.

        `handle` is accepted for the GL renderer's signature (which reuses its buffers); here a new
        handle is as cheap."""
        gaussians, skin_indices, skin_weights, rotation_locked = avatar_arrays(
            gaussians, skin_indices, skin_weights, rotation_locked)  # an Avatar brings its rig
        n = len(gaussians)
        if skin_indices is not None:
            if skin_weights is None or len(skin_indices) != n:
                raise InputError("Skinning needs [N,K] skin_indices and skin_weights for every Gaussian.")
            idx, w = top4_skin(skin_indices, skin_weights)
        else:
            idx, w = np.zeros((0, 4), np.int64), np.zeros((0, 4), np.float32)
        locked = (np.zeros(n, np.uint8) if rotation_locked is None
                  else np.asarray(rotation_locked, bool).reshape(n).astype(np.uint8))
        opacities = np.asarray(gaussians.opacities, np.float32).reshape(n)
        log_limits = (-np.log(np.maximum(opacities.astype(np.float64) * 255.0, 1.0))).astype(np.float32)
        sh = np.ascontiguousarray(gaussians.sh, np.float32)
        rgb0 = np.maximum(np.float32(0.28209479177387814) * sh[:, 0, :] + np.float32(0.5), 0.0)  # degree-0 colour
        canon = np.concatenate([np.asarray(gaussians.means, np.float32).T, np.asarray(gaussians.quats, np.float32).T,
                                np.asarray(gaussians.scales, np.float32).T, opacities[None], log_limits[None],
                                rgb0.T]).astype(np.float32)
        assert canon.shape[0] == self.k.CANON
        return CpuAvatar(np.ascontiguousarray(canon), sh, np.ascontiguousarray(idx.T, np.int32),
                         np.ascontiguousarray(w.T, np.float32), locked, np.zeros((n, self.k.REC), np.float32))

    def release_avatar(self, handle: CpuAvatar) -> None:
        handle.released = True
        handle.records = np.zeros((0, self.k.REC), np.float32)

    # ------------------------------------------------------------------ frame
    def _rasterize(self, handle: CpuAvatar, camera: Camera, transforms: Any, transl: Any, *,
                   want_depth: bool = False, eight_bit: int = 0,
                   background: tuple[float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Skin, project, sort, bin and composite.

        Args:
            eight_bit: 0 float output; 1 uint8 premultiplied; 2 uint8 over the opaque `background`.
        Returns:
            image ([H,W,4] float32 premultiplied rgb + alpha, or uint8 as asked), depth [H,W] (sum
            of weight*z, or a 1x1 dummy), records [N,REC].
        """
        if self._closed:
            raise InputError("This renderer was closed.")
        if handle.released:
            raise InputError("This avatar handle was released.")
        k, n = self.k, len(handle)
        if transforms is not None and not handle.skinned:
            raise InputError("Bone transforms were given for an avatar prepared without skinning.")
        if transforms is not None:
            bones = as_numpy_transforms(transforms)
            if n and int(handle.skin_idx.max()) >= bones.shape[0]:
                raise InputError(f"The avatar is skinned to {int(handle.skin_idx.max()) + 1} joints, "
                                 f"but {bones.shape[0]} transforms were given.")
            if not np.isfinite(bones).all():
                raise InputError("The bone transforms contain NaN or infinite values.")
            bones = np.ascontiguousarray(bones[:, :3, :].reshape(-1, 12).T)   # [12,J]
        else:
            bones = np.zeros((12, 1), np.float32)
        tr = as_numpy_vec3(transl)
        if not np.isfinite(tr).all():
            raise InputError("The translation contains NaN or infinite values.")
        w, h = int(camera.width), int(camera.height)
        if w < 1 or h < 1:
            raise InputError(f"The image size {w}x{h} is empty.")
        view = np.asarray(camera.view, np.float32)
        campos = camera.position.astype(np.float32)
        cam = np.array([camera.fx, camera.fy, camera.cx, camera.cy, w, h, camera.near, camera.far], np.float32)
        rec = handle.records
        skinned = transforms is not None
        # whole batches per thread: a Gaussian then takes the same (vector or scalar) path whatever the
        # thread count, so images do not depend on it to the last bit
        chunk = max(-(-n // (self.threads * k.BLOCK)), 1) * k.BLOCK
        _parallel(lambda lo, hi: k.project_range(lo, hi, handle.canon, handle.sh, skinned, handle.skin_idx,
                                                 handle.skin_w, handle.locked, bones, tr, view, campos, cam, rec),
                  [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)] or [(0, 0)], self.threads)
        tiles_x, tiles_y = -(-w // k.TILE), -(-h // k.TILE)
        starts, ents, keys = k.bin_tiles(rec, tiles_x, tiles_y, self.threads,
                                         lambda fn, shares: _parallel(fn, shares, self.threads), self._ws)
        if eight_bit:   # the kernel writes bytes only: 1x1 stand-ins for the float targets
            rgba, depth = np.empty((1, 1, 4), np.float32), np.empty((1, 1), np.float32)
            out8 = np.empty((h, w, 4), np.uint8)
        else:
            rgba, depth = self._buffer(w, h, want_depth)
            out8 = np.empty((1, 1, 4), np.uint8)
        bg = np.asarray(background if background is not None else (0.0, 0.0, 0.0), np.float32)
        steps = min(self.threads, tiles_x * tiles_y)
        _parallel(lambda first: k.raster_tiles(first, steps, starts, ents, keys, w, h, want_depth, rgba, depth,
                                               out8, bg, eight_bit),
                  [(i,) for i in range(steps)], self.threads)
        return (out8 if eight_bit else rgba), depth, rec

    def _buffer(self, w: int, h: int, want_depth: bool) -> tuple[np.ndarray, np.ndarray]:
        """Float colour and depth targets, reused between frames of one size."""
        key = (w, h, want_depth)
        if key not in self._buffers:
            if len(self._buffers) > 4:
                self._buffers.clear()
            self._buffers[key] = (np.empty((h, w, 4), np.float32),
                                  np.empty((h, w) if want_depth else (1, 1), np.float32))
        return self._buffers[key]

    # ------------------------------------------------------------------ public rendering
    def render(self, gaussians: GaussianSet, camera: Camera, *,
               background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
               mode: RenderMode = "color") -> RenderResult:
        """Render a GaussianSet as it is."""
        return self.render_avatar(self.set_avatar(gaussians), camera, background=background, mode=mode)

    def render_skinned(self, handle: CpuAvatar, transforms: Any, transl: Any, camera: Camera, *,
                       background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                       mode: RenderMode = "color") -> RenderResult:
        """Pose a prepared avatar ([J,4,4] rest-to-posed `transforms`, [3] `transl`) and render it."""
        return self.render_avatar(handle, camera, transforms=transforms, transl=transl,
                                  background=background, mode=mode)

    def render_avatar(self, handle: CpuAvatar, camera: Camera, *, transforms: Any = None, transl: Any = None,
                      background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                      mode: RenderMode = "color") -> RenderResult:
        """Render a prepared avatar (posed when `transforms` is given)."""
        if mode not in ("color", "alpha", "depth", "centers"):
            raise InputError(f"Unknown render mode {mode!r}; use color, alpha, depth or centers.")
        if mode == "color" and background is not None and self.read_back == "8bit":
            image, _, _ = self._rasterize(handle, camera, transforms, transl, eight_bit=2, background=background)
            return Rgba8RenderResult(image)
        rgba, dsum, rec = self._rasterize(handle, camera, transforms, transl, want_depth=mode == "depth")
        if mode == "centers":
            return self._centers(rec, camera, background)
        alpha = rgba[..., 3].copy()
        if mode == "alpha":
            return RenderResult(np.repeat(alpha[..., None], 3, axis=-1), alpha, None)
        depth = None
        if mode == "depth":
            depth = np.where(alpha > 1e-6, dsum / np.maximum(alpha, 1e-6), 0.0).astype(np.float32)
        if background is None:
            color = np.where(alpha[..., None] > 0, rgba[..., :3] / np.maximum(alpha, 1e-12)[..., None], 0.0)
        else:
            color = rgba[..., :3] + (1.0 - alpha)[..., None] * np.asarray(background, np.float32)
        return RenderResult(np.ascontiguousarray(color, np.float32), alpha, depth)

    def render_premultiplied(self, handle: CpuAvatar, camera: Camera, transforms: Any = None,
                             transl: Any = None) -> np.ndarray:
        """[H,W,4] uint8 premultiplied RGBA, rows top first: for blending onto a screen (the viewport)."""
        image, _, _ = self._rasterize(handle, camera, transforms, transl, eight_bit=1)
        return image

    def composite(self, draw_list: DrawList, target: Target) -> None:
        """Draw the list far to near over `target`: each draw skinned (or as it is) and rasterized into
        premultiplied RGBA8, blended by the target; the first draw on an empty `ImageTarget` is
        rasterized straight over its background (one 8-bit image, as a single render)."""
        cam = draw_list.camera
        draws = draw_list.draws
        for n, d in enumerate(draws):
            handle = self._uploads.handle(d, self._upload_draw)
            if n == 0 and isinstance(target, ImageTarget) and target.empty:
                if target.background is not None:
                    image, _, _ = self._rasterize(handle, cam, d.transforms, None, eight_bit=2,
                                                  background=target.background)
                    target.put(Rgba8RenderResult(image))
                    continue
                if len(draws) == 1:   # transparent: straight colour from the float image, as render() gives
                    target.put(self.render_avatar(handle, cam, transforms=d.transforms, background=None))
                    continue
            target.blend(self.render_premultiplied(handle, cam, d.transforms), premultiplied=True)
        self._uploads.prune(draw_list.keys, self.release_avatar)

    def _upload_draw(self, draw: Draw, _previous: CpuAvatar | None) -> CpuAvatar:
        return self.set_avatar(draw.source)

    @staticmethod
    def _centers(rec: np.ndarray, camera: Camera, background: tuple[float, float, float] | None) -> RenderResult:
        """Each visible centre paints its pixel with its colour (clamped); the nearest wins."""
        w, h = camera.width, camera.height
        vis = np.flatnonzero(rec[:, 3] > 0)
        u, v = np.floor(rec[vis, 0]).astype(np.int64), np.floor(rec[vis, 1]).astype(np.int64)
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        vis, u, v = vis[inside], u[inside], v[inside]
        near_first = np.argsort(rec[vis, 2], kind="stable")
        flat = (v * w + u)[near_first]
        _, first = np.unique(flat, return_index=True)
        pick = vis[near_first][first]
        color = np.zeros((h * w, 3), np.float32)
        alpha = np.zeros(h * w, np.float32)
        color[flat[first]] = np.clip(rec[pick, 8:11], 0.0, 1.0)
        alpha[flat[first]] = 1.0
        color, alpha = color.reshape(h, w, 3), alpha.reshape(h, w)
        if background is not None:
            color = color + (1.0 - alpha)[..., None] * np.asarray(background, np.float32)
        return RenderResult(np.ascontiguousarray(color, np.float32), alpha, None)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._closed = True
        self._buffers.clear()
        self._ws.clear()
        self._uploads.clear()

    def __enter__(self) -> "CpuRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) every kernel by rendering a tiny skinned scene."""
    from .reference import random_gaussians
    g = random_gaussians(8, seed=0, sh_degree=1, center=(0.0, 0.0, 2.0))
    with CpuRenderer(threads=1) as r:
        h = r.set_avatar(g, np.zeros((8, 1), np.int64), np.ones((8, 1), np.float32))
        cam = Camera.from_long_side_fov(16, 16, 60.0)
        r.render_skinned(h, np.eye(4, dtype=np.float32)[None], None, cam, mode="depth")
        r.render_premultiplied(h, cam)
        r.read_back = "8bit"
        r.render(g, cam)
