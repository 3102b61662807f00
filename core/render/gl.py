"""`GLRenderer`: EWA splatting with our own GLSL through moderngl (OpenGL 4.3+; Mesa llvmpipe works).

Pipeline for one frame (all Gaussian data stays on the GL side; only sort keys are computed on the CPU):
  1. `splat_project.comp`, one invocation per Gaussian: optional linear-blend skinning with the bone
     matrices (same convention as `core.skinning.skinned_means_quats`), EWA projection (gsplat's maths,
     eps2d = 0.3), view-dependent SH colour. It writes a 48-byte record per Gaussian to an SSBO.
  2. The CPU computes the camera depth of every (posed) centre -- cheap: for a skinned avatar
     z = (W_sparse @ zrows(V A_j)) . [x, 1], one sparse [N,J]x[J,4] product -- and sorts near to far
     with numpy's radix sort on 16-bit keys. Steps 1-2 are skipped when neither pose nor view changed.
  3. Splats are drawn near to far with the "under" blend (ONE_MINUS_DST_ALPHA, ONE) on premultiplied
     colour: exactly 3DGS front-to-back compositing. Each Gaussian is a point sprite sized to its exact
     alpha >= 1/255 box (on llvmpipe sprites are ~20% faster than quads); the fragment shader evaluates
     the conic and writes zero below 1/255 (cheaper than `discard` on llvmpipe). Gaussians too big
     for a 255-px sprite are drawn as quads in their place in the order. The GL viewport is widened by
     a guard band so sprites whose centre is just off-image still reach the image.
  4. Occlusion culling between stages of the order (`CULL_STAGES`): a min-alpha pyramid of the
     image so far (`hiz.comp`) lets `splat_cull.comp` drop Gaussians lying wholly over pixels whose
     transmittance is already below 1e-4 (3DGS's early stop), so they are never rasterized.
  5. The background goes under the result in one full-screen pass; `render*` read the image back,
     `draw` copies it into a caller's framebuffer (the Qt viewport).

Use it from the thread that owns its context. For the Qt viewport, create it with the widget's
context current (`GLRenderer(moderngl.create_context())`) and call `draw(...)` in paintGL; the
widget needs an OpenGL >= 4.3 core-profile surface format.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np

from ... import SHADERS_DIR
from ..errors import BackendUnavailableError, InputError
from ..gaussians import GaussianSet
from .base import Camera, RenderMode, RenderResult, Rgba8RenderResult
from .draw import Draw, DrawList, FramebufferTarget, ImageTarget, Target, Uploads
from .host import (MAX_JOINTS, as_numpy_transforms, as_numpy_vec3, avatar_arrays, pack_skin,  # noqa: F401 - re-exported
                   sort_near_to_far)

if TYPE_CHECKING:
    from ..avatar import Avatar

ALPHA_MIN = 1.0 / 255.0
EPS2D = 0.3
GUARD = 128                 # guard band in pixels around the image (half the largest sprite)
MAX_SPRITE_EXTENT = 126.0   # half-extent above which a Gaussian is drawn as a quad
MAX_RUNS = 256              # more point/quad alternations than this: draw everything as quads
WORKGROUP = 128
HIZ_LEVELS = 6              # occlusion pyramid levels: blocks of 4, 8, ... 128 pixels
AUTO_CULL_OVERDRAW = 16.0   # "auto" culling: only when the sprites cover the image this many times over
CULL_STAGES = (0.5,)          # occlusion culling after these fractions of the sorted splats (llvmpipe: one stage paid off best)

Background = "tuple[float, float, float] | None"
Skeleton = "tuple[np.ndarray, np.ndarray]"


# --------------------------------------------------------------------------- shader loading
@lru_cache(maxsize=None)
def _shader_file(name: str) -> str:
    return (SHADERS_DIR / name).read_text(encoding="utf-8")


def load_shader(name: str, defines: Sequence[str] = ()) -> str:
    """GLSL source of `shaders/<name>` with `#include "file"` inlined and `#define`s after `#version`."""
    def inline(src: str, depth: int = 0) -> str:
        if depth > 4:
            raise InputError(f"Shader include nesting too deep in {name}.")
        return re.sub(r'^\s*#include\s+"([^"]+)"\s*$',
                      lambda m: inline(_shader_file(m.group(1)), depth + 1), src, flags=re.M)
    src = inline(_shader_file(name))
    lines = src.split("\n", 1)
    extra = "".join(f"#define {d}\n" for d in defines)
    return lines[0] + "\n" + extra + (lines[1] if len(lines) > 1 else "")


def create_headless_context() -> Any:
    """A standalone OpenGL >= 4.3 context (EGL first, then the platform default)."""
    import moderngl
    errors = []
    for kwargs in ({"backend": "egl"}, {}):
        try:
            return moderngl.create_standalone_context(require=430, **kwargs)
        except Exception as exc:  # noqa: BLE001 - report every attempt
            errors.append(f"{kwargs.get('backend', 'default')}: {exc}")
    raise BackendUnavailableError("No OpenGL 4.3 context could be created (" + "; ".join(errors) + ").")


# --------------------------------------------------------------------------- CPU helpers
def skin_matrix(packed: np.ndarray, weights: np.ndarray) -> Any:
    """[N] packed joint ids + [N,4] weights -> scipy CSR [N, max_id+1] weight matrix."""
    import scipy.sparse
    n = packed.shape[0]
    idx = np.stack([(packed >> s) & 255 for s in (0, 8, 16, 24)], 1).astype(np.int64)
    cols = int(idx.max()) + 1 if n else 1
    return scipy.sparse.csr_matrix((weights.ravel(), idx.ravel(), np.arange(0, 4 * n + 1, 4)), shape=(n, cols))


def sprite_extent_bound(camera: Camera, z: np.ndarray, max_scale: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Upper bound of the projected half-extent (pixels) of each Gaussian's alpha >= 1/255 box.

    Args:
        z: [M] camera depths (> near); max_scale: [M] largest std-dev; opacity: [M].
    """
    tan_x, tan_y = 0.5 * camera.width / camera.fx, 0.5 * camera.height / camera.fy
    lim = max((camera.width - camera.cx) / camera.fx + 0.3 * tan_x, camera.cx / camera.fx + 0.3 * tan_x,
              (camera.height - camera.cy) / camera.fy + 0.3 * tan_y, camera.cy / camera.fy + 0.3 * tan_y)
    f = max(camera.fx, camera.fy)
    r2 = 2.0 * np.log(np.maximum(opacity * 255.0, 1.0))
    sigma2 = (f / z) ** 2 * (1.0 + lim * lim) * max_scale ** 2 + EPS2D
    return np.sqrt(r2 * sigma2)


def _view_key(camera: Camera) -> bytes:
    c = np.array([camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy,
                  camera.near, camera.far], np.float64)
    return np.asarray(camera.view, np.float32).tobytes() + c.tobytes()


def _with_context(method):
    """Make the renderer's own (headless) context current before the call, and leave it current.

    Several headless renderers can then live on one thread. (glcontext's `__exit__` releases to *no*
    context rather than restoring the previous one, so we never use `with ctx:` here.) A borrowed
    context (Qt) is left alone: its owner makes it current (paintGL does).
    """
    @functools.wraps(method)
    def wrapper(self: "GLRenderer", *args: Any, **kwargs: Any) -> Any:
        self._make_current()
        return method(self, *args, **kwargs)
    return wrapper


# --------------------------------------------------------------------------- avatar handle
@dataclass(eq=False)
class AvatarHandle:
    """Gaussians uploaded once (plus skinning data); returned by `GLRenderer.set_avatar`.

    Holds host copies of what the CPU depth sort needs, the GL buffers, and the cache of the last
    projection/sort (re-done only when the pose or the view changes).
    """

    count: int
    sh_k: int
    means: np.ndarray                 # [N,3]
    opacities: np.ndarray             # [N]
    max_scale: np.ndarray             # [N]
    skin_matrix: Any = None           # scipy CSR [N,J] skin weights (for the CPU depth sort)
    buffers: dict[str, Any] = field(default_factory=dict)
    pose_key: bytes | None = None
    view_key: bytes | None = None
    runs: list[tuple[str, int, int]] = field(default_factory=list)
    n_visible: int = 0
    overdraw: float = 0.0              # sprites' total area / image area (upper bound), for "auto" culling
    depth_range: tuple[float, float] = (0.0, 1.0)
    released: bool = False

    @property
    def skinned(self) -> bool:
        return self.skin_matrix is not None

    def invalidate(self) -> None:
        self.pose_key = self.view_key = None


@dataclass
class _Target:
    """An offscreen framebuffer for `render()`: colour (+ alpha-weighted depth) attachments."""

    fbo: Any
    color: Any
    depth: Any | None
    color_only: Any | None = None    # framebuffer over `color` alone (for the background pass)
    hiz: Any | None = None           # occlusion pyramid (see hiz.comp)
    rgba8: Any | None = None         # RGBA8 framebuffer the float colour is quantized into (read_back="8bit")


class GLRenderer:
    """OpenGL EWA splat renderer (implements the `Renderer` protocol).

    Args:
        ctx: an existing moderngl context (e.g. the Qt viewport's, from `moderngl.create_context()`),
            or None to create a headless EGL context owned (and released) by the renderer.
        precision: "float" renders `render()` results into RGBA32F (exact compositing, the default);
            "uint8" uses RGBA8 like an on-screen framebuffer (faster on llvmpipe, 8-bit blending).
        sort_bits: 16 (quantised depth, fastest) or 32 (exact float order) for the depth sort.
        center_size: dot size in pixels for the "centers" mode.
        read_back: "8bit" quantizes colour renders over an opaque background to RGBA8 on the GPU
            before reading them back (video export: a quarter of the bytes and no conversion on the
            CPU, 20 ms a frame less at 1080p); blending stays at `precision`. "float" (default)
            reads the target as it is.
        occlusion_culling: skip splats lying wholly over pixels that are already opaque (transmittance
            below 1e-4, or alpha 255 with "uint8"), like 3DGS's early stop. Tested between stages of
            the near-to-far order (`CULL_STAGES`). The test itself costs a sync in mid-frame, so
            "auto" (the default) culls only deep scenes: when the sprites' total area is over
            `AUTO_CULL_OVERDRAW` times the image's (llvmpipe: 30% faster on a dense box of
            Gaussians, 10% slower on a surface avatar).
    """

    name = "gl"

    def __init__(self, ctx: Any = None, *, precision: Literal["float", "uint8"] = "float",
                 sort_bits: int = 16, center_size: float = 1.0,
                 occlusion_culling: bool | Literal["auto"] = "auto",
                 read_back: Literal["float", "8bit"] = "float") -> None:
        import moderngl
        self._mgl = moderngl
        self._owns_ctx = ctx is None
        self.ctx = create_headless_context() if ctx is None else ctx
        if self.ctx.version_code < 430:
            raise BackendUnavailableError(
                f"The OpenGL renderer needs OpenGL 4.3 (compute shaders); this context has "
                f"{self.ctx.version_code // 100}.{self.ctx.version_code % 100 // 10}.")
        if precision not in ("float", "uint8") or sort_bits not in (16, 32) or read_back not in ("float", "8bit"):
            raise InputError("precision must be 'float' or 'uint8', sort_bits 16 or 32, read_back 'float' or '8bit'.")
        self.read_back = read_back
        self.precision = precision
        self.sort_bits = sort_bits
        self.center_size = float(center_size)
        self.occlusion_culling = occlusion_culling
        self.cull_stages = CULL_STAGES
        self._programs: dict[str, Any] = {}
        self._vaos: dict[str, Any] = {}
        self._targets: dict[tuple, _Target] = {}
        self._scratch: AvatarHandle | None = None
        self._handles: list[AvatarHandle] = []
        self._uploads = Uploads()
        self._bones = self.ctx.buffer(reserve=MAX_JOINTS * 64)   # uniform block of the projection shader
        self._overlay_vbo = self.ctx.buffer(reserve=16)
        self._closed = False
        self._stamp = 0

    def _make_current(self) -> None:
        if self._owns_ctx and not self._closed:
            self.ctx.__enter__()

    # ------------------------------------------------------------------ programs
    def _program(self, key: str) -> Any:
        """Compile (once) one of the named programs."""
        if key in self._programs:
            return self._programs[key]
        ctx = self.ctx
        if key in ("project", "hiz", "cull"):
            name = {"project": "splat_project.comp", "hiz": "hiz.comp", "cull": "splat_cull.comp"}[key]
            prog = ctx.compute_shader(load_shader(name, (f"MAX_JOINTS {MAX_JOINTS}",)))
        else:
            vs, fs, defines = {
                "point": ("splat_point.vert", "splat.frag", ()),
                "quad": ("splat_quad.vert", "splat.frag", ()),
                "point_depth": ("splat_point.vert", "splat.frag", ("DEPTH_OUTPUT",)),
                "quad_depth": ("splat_quad.vert", "splat.frag", ("DEPTH_OUTPUT",)),
                "center": ("splat_point.vert", "splat_center.frag", ()),
                "overlay": ("overlay.vert", "overlay.frag", ()),
                "blit": ("blit.vert", "blit.frag", ()),
                "blit_depth": ("blit.vert", "blit_depth.frag", ()),
                "fill": ("blit.vert", "fill.frag", ()),
            }[key]
            prog = ctx.program(vertex_shader=load_shader(vs, defines), fragment_shader=load_shader(fs, defines))
        self._programs[key] = prog
        return prog

    def _vao(self, key: str) -> Any:
        """An attribute-less vertex array for a program (vertex pulling from SSBOs)."""
        if key not in self._vaos:
            self._vaos[key] = self.ctx.vertex_array(self._program(key), [])
        return self._vaos[key]

    @staticmethod
    def _set(prog: Any, name: str, value: Any) -> None:
        """Set a uniform if the linker kept it."""
        if name in prog:
            prog[name].value = value

    # ------------------------------------------------------------------ avatars
    @_with_context
    def set_avatar(self, gaussians: "Avatar | GaussianSet", skin_indices: np.ndarray | None = None,
                   skin_weights: np.ndarray | None = None, rotation_locked: np.ndarray | None = None,
                   handle: AvatarHandle | None = None) -> AvatarHandle:
        """Upload canonical Gaussians (and optional top-4 skinning) once; returns a handle.

        Args:
            gaussians: N canonical Gaussians.
            skin_indices, skin_weights: [N,K] (K <= 4 exact; more are cut to the top 4), or None
                for a static set.
            rotation_locked: [N] bool, Gaussians that keep their rotation when posed (LHM prior).
            handle: an existing handle to overwrite (buffers are reused when big enough).
        """
        gaussians, skin_indices, skin_weights, rotation_locked = avatar_arrays(
            gaussians, skin_indices, skin_weights, rotation_locked)  # an Avatar brings its rig
        n = len(gaussians)
        skinned = skin_indices is not None
        if skinned and (skin_weights is None or len(skin_indices) != n):
            raise InputError("Skinning needs [N,K] skin_indices and skin_weights for every Gaussian.")
        canon = np.zeros((n, 3, 4), np.float32)
        canon[:, 0, :3], canon[:, 0, 3] = gaussians.means, gaussians.opacities
        canon[:, 1] = gaussians.quats
        canon[:, 2, :3] = gaussians.scales
        if rotation_locked is not None:
            canon[:, 2, 3] = np.asarray(rotation_locked, bool).reshape(n)
        packed, weights = pack_skin(skin_indices, skin_weights) if skinned else (None, None)
        arrays = {"canon": canon, "sh": gaussians.sh, "skin_idx": packed, "skin_w": weights,
                  "splats": None, "order": None, "culled": None}
        if handle is None:
            handle = AvatarHandle(0, 1, gaussians.means, gaussians.opacities, gaussians.scales)
            self._handles.append(handle)
        handle.count, handle.sh_k = n, gaussians.sh.shape[1]
        handle.means, handle.opacities = gaussians.means, gaussians.opacities
        handle.max_scale = gaussians.scales.max(axis=1) if n else np.zeros(0, np.float32)
        handle.skin_matrix = skin_matrix(packed, weights) if skinned else None
        for name, arr in arrays.items():
            size = {"splats": n * 48, "order": n * 4, "culled": n * 4}.get(name, 0 if arr is None else arr.nbytes)
            self._upload(handle, name, arr, max(size, 16))
        handle.buffers["culled"].clear()
        handle.invalidate()
        return handle

    def _upload(self, handle: AvatarHandle, name: str, arr: np.ndarray | None, size: int) -> None:
        """(Re)allocate a handle's buffer when too small, then write `arr` into it."""
        buf = handle.buffers.get(name)
        if buf is None or buf.size < size:
            if buf is not None:
                buf.release()
            buf = self.ctx.buffer(reserve=size)
            handle.buffers[name] = buf
        if arr is not None and arr.nbytes:
            buf.write(np.ascontiguousarray(arr).tobytes())

    @_with_context
    def release_avatar(self, handle: AvatarHandle) -> None:
        """Free a handle's GL buffers (with this renderer's context current)."""
        for buf in handle.buffers.values():
            buf.release()
        handle.buffers.clear()
        handle.released = True
        if handle in self._handles:
            self._handles.remove(handle)

    # ------------------------------------------------------------------ per-frame preparation
    def _posed_depths(self, handle: AvatarHandle, camera: Camera, transforms: np.ndarray | None,
                      transl: np.ndarray) -> np.ndarray:
        """[N] camera-space z of the (posed) centres, computed on the CPU for sorting."""
        view = np.asarray(camera.view, np.float32)
        if transforms is None:
            m = handle.means   # elementwise, not a BLAS product (see `_sort`)
            return m[:, 0] * view[2, 0] + m[:, 1] * view[2, 1] + m[:, 2] * view[2, 2] + view[2, 3]
        rows = view[2, :3] @ transforms[:, :3, :]          # [J,4]: z-row of V applied to each bone
        if rows.shape[0] < handle.skin_matrix.shape[1]:
            raise InputError(f"The avatar is skinned to {handle.skin_matrix.shape[1]} joints, "
                             f"but {rows.shape[0]} transforms were given.")
        blended = handle.skin_matrix @ rows[:handle.skin_matrix.shape[1]]  # [N,4] blended z-rows
        z = np.einsum("ij,ij->i", blended[:, :3], handle.means) + blended[:, 3]
        return z + (view[2, :3] @ transl + view[2, 3])

    def _prepare(self, handle: AvatarHandle, camera: Camera, transforms: Any = None, transl: Any = None) -> None:
        """Project (compute shader) and sort, unless pose and view are unchanged since last time."""
        if handle.released:
            raise InputError("This avatar handle was released.")
        if transforms is not None and not handle.skinned:
            raise InputError("Bone transforms were given for an avatar uploaded without skinning.")
        t_np = as_numpy_transforms(transforms) if transforms is not None else None
        tr = as_numpy_vec3(transl)
        pose_key = b"" if t_np is None else t_np.tobytes() + tr.tobytes()
        view_key = _view_key(camera)
        if pose_key == handle.pose_key and view_key == handle.view_key:
            return
        self._run_projection(handle, camera, t_np, tr)
        self._sort(handle, camera, self._posed_depths(handle, camera, t_np, tr))
        handle.pose_key, handle.view_key = pose_key, view_key

    def _run_projection(self, handle: AvatarHandle, camera: Camera, transforms: np.ndarray | None,
                        transl: np.ndarray) -> None:
        prog = self._program("project")
        if transforms is not None:
            if transforms.shape[0] > MAX_JOINTS:
                raise InputError(f"At most {MAX_JOINTS} bones are supported.")
            self._bones.write(np.ascontiguousarray(transforms.transpose(0, 2, 1)).tobytes())
        b = handle.buffers
        for slot, name in enumerate(("canon", "sh", "skin_idx", "skin_w")):
            b[name].bind_to_storage_buffer(slot)
        self._bones.bind_to_uniform_block(0)
        b["splats"].bind_to_storage_buffer(5)
        view = np.asarray(camera.view, np.float32)
        self._set(prog, "count", handle.count)
        self._set(prog, "sh_k", handle.sh_k)
        self._set(prog, "skinned", transforms is not None)
        self._set(prog, "transl", tuple(map(float, transl)))
        prog["view"].write(np.ascontiguousarray(view.T).tobytes())
        self._set(prog, "campos", tuple(map(float, camera.position)))
        self._set(prog, "intrinsics", (camera.fx, camera.fy, camera.cx, camera.cy))
        self._set(prog, "image_size", (float(camera.width), float(camera.height)))
        self._set(prog, "clip_z", (float(camera.near), float(camera.far)))
        self._set(prog, "eps2d", EPS2D)
        self._set(prog, "alpha_min", ALPHA_MIN)
        if handle.count:
            prog.run(group_x=(handle.count + WORKGROUP - 1) // WORKGROUP)
        self.ctx.memory_barrier()

    def _sort(self, handle: AvatarHandle, camera: Camera, z: np.ndarray) -> None:
        """Cull by depth/opacity, sort near to far, upload the order, split into sprite/quad runs."""
        visible = np.flatnonzero((z > camera.near) & (z < camera.far) & (handle.opacities >= ALPHA_MIN))
        zv = z[visible]
        order = visible[sort_near_to_far(zv, self.sort_bits)]
        handle.n_visible = int(order.size)
        handle.depth_range = (float(zv.min()), float(zv.max())) if zv.size else (camera.near, camera.far)
        if order.size:
            handle.buffers["order"].write(order.astype(np.uint32).tobytes())
        extent = sprite_extent_bound(camera, z[order], handle.max_scale[order], handle.opacities[order])
        handle.runs = self._runs(extent > MAX_SPRITE_EXTENT)
        side = 2.0 * np.minimum(extent, camera.width + camera.height)
        # Not np.dot: a BLAS call wakes OpenBLAS's threads, whose spin-wait then takes the CPU
        # from llvmpipe's rasterizer threads (~30% slower frames on 2 cores).
        handle.overdraw = float((side * side).sum()) / max(camera.width * camera.height, 1)

    @staticmethod
    def _runs(big: np.ndarray) -> list[tuple[str, int, int]]:
        """[M] bool (needs a quad) -> [(kind, first, count)] consecutive runs in draw order."""
        m = big.size
        if m == 0:
            return []
        if not big.any():
            return [("point", 0, m)]
        edges = np.flatnonzero(np.diff(big.astype(np.int8))) + 1
        if edges.size + 1 > MAX_RUNS:
            return [("quad", 0, m)]
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [m]])
        return [("quad" if big[s] else "point", int(s), int(e - s)) for s, e in zip(starts, ends)]

    # ------------------------------------------------------------------ drawing
    @staticmethod
    def _maps(rect: tuple[int, int, int, int], flip_y: bool) -> tuple[tuple, tuple, tuple]:
        """Viewport rect -> (GL viewport with guard band, ndc_map, pix_map) uniforms."""
        x0, y0, w, h = rect
        gw, gh = w + 2 * GUARD, h + 2 * GUARD
        gl_viewport = (x0 - GUARD, y0 - GUARD, gw, gh)
        if flip_y:
            ndc = (2.0 / gw, 2.0 * GUARD / gw - 1.0, -2.0 / gh, 2.0 * (h + GUARD) / gh - 1.0)
            pix = (1.0, -float(x0), -1.0, float(y0 + h))
        else:
            ndc = (2.0 / gw, 2.0 * GUARD / gw - 1.0, 2.0 / gh, 2.0 * GUARD / gh - 1.0)
            pix = (1.0, -float(x0), 1.0, -float(y0))
        return gl_viewport, ndc, pix

    def _stages(self, handle: AvatarHandle) -> list[list[tuple[str, int, int]]]:
        """The sorted runs cut at the occlusion-culling stage boundaries."""
        m = handle.n_visible
        cull = self.occlusion_culling is True or (self.occlusion_culling == "auto"
                                                   and handle.overdraw > AUTO_CULL_OVERDRAW)
        cuts = sorted({0, m, *(int(f * m) for f in self.cull_stages)}) if cull else [0, m]
        stages = []
        for s0, s1 in zip(cuts[:-1], cuts[1:]):
            part = [(k, max(f, s0), min(f + c, s1) - max(f, s0)) for k, f, c in handle.runs
                    if f < s1 and f + c > s0]
            stages.append(part)
        return stages

    def _draw_splats(self, handle: AvatarHandle, target: _Target, mode: RenderMode, with_depth: bool) -> None:
        """Near-to-far splatting into `target` (cleared to 0), with occlusion culling between stages."""
        mgl = self._mgl
        w, h = target.color.size
        rect = (0, 0, w, h)
        gl_viewport, ndc, pix = self._maps(rect, False)
        target.fbo.use()
        self.ctx.viewport = gl_viewport
        self.ctx.scissor = rect
        handle.buffers["splats"].bind_to_storage_buffer(5)
        handle.buffers["order"].bind_to_storage_buffer(6)
        self.ctx.enable(mgl.PROGRAM_POINT_SIZE | mgl.BLEND)
        self.ctx.blend_equation = mgl.FUNC_ADD
        self.ctx.blend_func = mgl.ONE_MINUS_DST_ALPHA, mgl.ONE   # "under": front-to-back compositing
        if mode == "centers":   # opaque dots, near to far: the nearest one keeps the pixel
            prog = self._program("center")
            self._set(prog, "ndc_map", ndc)
            self._set(prog, "center_size", max(self.center_size, 1.0))
            self._set(prog, "cull", False)
            if handle.n_visible:
                self._vao("center").render(mgl.POINTS, vertices=handle.n_visible)
            return
        suffix = "_depth" if with_depth else ""
        self._stamp = self._stamp % 0xFFFFFFFF + 1
        handle.buffers["culled"].bind_to_storage_buffer(7)
        for kind in ("point", "quad"):
            prog = self._program(kind + suffix)
            for name, value in (("ndc_map", ndc), ("pix_map", pix), ("alpha_min", ALPHA_MIN),
                                ("center_size", 0.0), ("white", mode == "alpha"), ("cull_stamp", 0)):
                self._set(prog, name, value)
        for i, stage in enumerate(self._stages(handle)):
            if i > 0 and stage:
                self._build_hiz(target)
                self._cull_stage(handle, stage[0][1], sum(c for _, _, c in stage))
                for kind in ("point", "quad"):
                    self._set(self._program(kind + suffix), "cull_stamp", self._stamp)
                target.fbo.use()
                self.ctx.viewport = gl_viewport
            self._draw_runs(stage, suffix)

    def _draw_runs(self, runs: list[tuple[str, int, int]], suffix: str) -> None:
        """Draw runs of the sorted order as sprites or quads."""
        mgl = self._mgl
        for kind, first, count in runs:
            vao = self._vao(kind + suffix)
            if kind == "point":
                vao.render(mgl.POINTS, vertices=count, first=first)
            else:
                vao.render(mgl.TRIANGLES, vertices=6 * count, first=6 * first)

    def _cull_stage(self, handle: AvatarHandle, first: int, count: int) -> None:
        """Stamp the Gaussians of order[first:first+count] that lie wholly over opaque pixels."""
        prog = self._program("cull")
        for name, value in (("hiz", 1), ("levels", HIZ_LEVELS), ("first", first), ("count", count),
                            ("cull_stamp", self._stamp),
                            ("saturated", 1.0 - 1e-4 if self.precision == "float" else 1.0)):
            self._set(prog, name, value)
        prog.run(group_x=-(-count // WORKGROUP))
        self.ctx.memory_barrier()

    def _build_hiz(self, target: _Target) -> None:
        """Min-alpha pyramid of the target so far (levels of 4, 8, ... 128-pixel blocks)."""
        if target.hiz is None:
            w, h = target.color.size
            blocks = 1 << (HIZ_LEVELS - 1)
            size0 = (-(-w // (4 * blocks)) * blocks, -(-h // (4 * blocks)) * blocks)  # exact halving
            target.hiz = self.ctx.texture(size0, 1, dtype="f4")
            target.hiz.build_mipmaps(0, HIZ_LEVELS - 1)
            target.hiz.filter = (self._mgl.NEAREST_MIPMAP_NEAREST, self._mgl.NEAREST)
        prog = self._program("hiz")
        size0 = target.hiz.size
        self.ctx.memory_barrier()
        target.color.use(0)
        self._set(prog, "color", 0)
        self._set(prog, "image_size", target.color.size)
        for level in range(HIZ_LEVELS):
            dst = (size0[0] >> level, size0[1] >> level)
            target.hiz.bind_to_image(0, read=False, write=True, level=level)
            if level:
                target.hiz.bind_to_image(1, read=True, write=False, level=level - 1)
            self._set(prog, "level", level)
            self._set(prog, "src_size", (size0[0] >> max(level - 1, 0), size0[1] >> max(level - 1, 0)))
            self._set(prog, "dst_size", dst)
            prog.run(group_x=-(-dst[0] // 8), group_y=-(-dst[1] // 8))
            self.ctx.memory_barrier()
        target.hiz.use(1)

    def _fill_background(self, target: _Target, background: tuple[float, float, float]) -> None:
        """Put the background under the accumulated splats (colour only; alpha stays coverage)."""
        mgl = self._mgl
        (target.color_only or target.fbo).use()
        w, h = target.color.size
        self.ctx.viewport = (0, 0, w, h)
        self.ctx.scissor = None
        self.ctx.enable(mgl.BLEND)
        self.ctx.blend_func = mgl.ONE_MINUS_DST_ALPHA, mgl.ONE, mgl.ZERO, mgl.ONE
        prog = self._program("fill")
        self._set(prog, "fill_color", tuple(map(float, background)))
        self._vao("fill").render(mgl.TRIANGLES, vertices=3)

    def _restore_state(self) -> None:
        """Leave the shared context as a Qt widget expects it."""
        self.ctx.disable(self._mgl.BLEND | self._mgl.PROGRAM_POINT_SIZE)
        self.ctx.scissor = None

    def _target(self, width: int, height: int, depth: bool) -> _Target:
        key = (width, height, depth, self.precision)
        if key not in self._targets:
            dtype = "f4" if self.precision == "float" else "f1"
            color = self.ctx.texture((width, height), 4, dtype=dtype)
            color.filter = (self._mgl.NEAREST, self._mgl.NEAREST)   # only ever copied 1:1
            dtex = self.ctx.texture((width, height), 4, dtype="f4") if depth else None
            fbo = self.ctx.framebuffer([color] + ([dtex] if dtex is not None else []))
            only = self.ctx.framebuffer([color]) if dtex is not None else None
            self._targets[key] = _Target(fbo, color, dtex, only)
        return self._targets[key]

    def _scratch_handle(self, gaussians: GaussianSet) -> AvatarHandle:
        self._scratch = self.set_avatar(gaussians, handle=self._scratch)
        return self._scratch

    def _render_target(self, handle: AvatarHandle, camera: Camera, mode: RenderMode,
                       background: tuple[float, float, float] | None, with_depth: bool = False) -> _Target:
        """Splat into the internal target; composite over `background` unless it is None."""
        target = self._target(camera.width, camera.height, with_depth)
        target.fbo.clear(0.0, 0.0, 0.0, 0.0)
        self._draw_splats(handle, target, mode, with_depth)
        if background is not None:
            self._fill_background(target, (0.0, 0.0, 0.0) if mode == "alpha" else background)
        return target

    # ------------------------------------------------------------------ public rendering
    @_with_context
    def render(self, gaussians: GaussianSet, camera: Camera, *,
               background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
               mode: RenderMode = "color", skeleton: tuple[np.ndarray, np.ndarray] | None = None) -> RenderResult:
        """Render a GaussianSet (uploaded for this call) and read the image back.

        Args:
            skeleton: optional (joints [J,3] world positions, parents [J]) drawn over the image.
        """
        return self.render_avatar(self._scratch_handle(gaussians), camera, background=background,
                                  mode=mode, skeleton=skeleton)

    @_with_context
    def render_skinned(self, handle: AvatarHandle, transforms: Any, transl: Any, camera: Camera, *,
                       background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                       mode: RenderMode = "color", skeleton: tuple[np.ndarray, np.ndarray] | None = None) -> RenderResult:
        """Pose an uploaded avatar on the GPU and render it.

        Args:
            transforms: [J,4,4] (or [1,J,4,4]) rest-to-posed bone transforms (`forward_kinematics`'s
                `rel_transforms` for one frame), torch or numpy.
            transl: [3] translation added after skinning, or None.
        """
        return self.render_avatar(handle, camera, transforms=transforms, transl=transl,
                                  background=background, mode=mode, skeleton=skeleton)

    @_with_context
    def render_avatar(self, handle: AvatarHandle, camera: Camera, *, transforms: Any = None, transl: Any = None,
                      background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                      mode: RenderMode = "color", skeleton: tuple[np.ndarray, np.ndarray] | None = None) -> RenderResult:
        """Render an uploaded avatar (posed when `transforms` is given) offscreen and read it back."""
        self._check_mode(mode)
        self._prepare(handle, camera, transforms, transl)
        target = self._render_target(handle, camera, mode, background, mode == "depth")
        if skeleton is not None:
            target.fbo.use()
            self._draw_skeleton_into(skeleton[0], skeleton[1], camera, (0, 0, camera.width, camera.height), False)
        self._restore_state()
        return self._read_back(target, camera, background, mode)

    @_with_context
    def draw(self, scene: AvatarHandle | GaussianSet, camera: Camera, *, framebuffer: Any = None,
             viewport: tuple[int, int, int, int] | None = None, transforms: Any = None, transl: Any = None,
             background: tuple[float, float, float] | None = (1.0, 1.0, 1.0), mode: RenderMode = "color",
             clear: bool = True, flip_y: bool = True,
             skeleton: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Draw into a framebuffer (the Qt viewport path; no read-back to the CPU).

        The splats are rendered into an internal texture (that is what makes occlusion culling
        possible) and then copied into `framebuffer`.

        Args:
            scene: an `AvatarHandle` (fast: uploaded once) or a GaussianSet (uploaded now).
            camera: its width/height are the size of the drawn rectangle in framebuffer pixels.
            framebuffer: a moderngl Framebuffer; None uses the one bound now (`ctx.detect_framebuffer()`,
                right for QOpenGLWidget.paintGL).
            viewport: (x, y, w, h) in framebuffer pixels (GL convention, y up); default (0, 0, W, H).
            background: RGB behind the splats, or None (premultiplied, alpha 0 where empty).
            clear: True replaces the rectangle; False blends the splats over what is there
                (e.g. a floor grid drawn first).
            flip_y: True for on-screen framebuffers (image top at the top of the window).
            skeleton: optional (joints [J,3], parents [J]) overlay.
        """
        self._check_mode(mode)
        handle = scene if isinstance(scene, AvatarHandle) else self._scratch_handle(scene)
        self._prepare(handle, camera, transforms, transl)
        fbo = framebuffer if framebuffer is not None else self.ctx.detect_framebuffer()
        rect = viewport if viewport is not None else (0, 0, camera.width, camera.height)
        if mode == "depth":
            target = self._render_target(handle, camera, "depth", None, True)
            self._restore_state()
            self._blit_depth(handle, target, fbo, rect, background, flip_y)
        else:
            target = self._render_target(handle, camera, mode, background if clear else None)
            self._restore_state()
            self._blit(target.color, fbo, rect, flip_y, over=not clear)
        if skeleton is not None:
            fbo.use()
            self._draw_skeleton_into(skeleton[0], skeleton[1], camera, rect, flip_y)
        self._restore_state()

    @_with_context
    def composite(self, draw_list: DrawList, target: Target) -> None:
        """Draw the list far to near over `target`, each draw uploaded once and skinned on the GPU. Into a
        framebuffer of this renderer's context (the viewport) it draws without a read-back; into any other
        target each draw is rendered offscreen and read back (the first one on an empty `ImageTarget`
        straight over its background, as a single render)."""
        cam = draw_list.camera
        on_gl = isinstance(target, FramebufferTarget) and target.ctx is self.ctx
        for n, d in enumerate(draw_list.draws):
            handle = self._uploads.handle(d, self._upload_draw)
            if on_gl:
                self.draw(handle, cam, framebuffer=target.framebuffer, viewport=(0, 0, cam.width, cam.height),
                          transforms=d.transforms, background=None, clear=False, flip_y=True)
            elif n == 0 and isinstance(target, ImageTarget) and target.empty and (
                    target.background is not None or len(draw_list.draws) == 1):
                target.put(self.render_avatar(handle, cam, transforms=d.transforms, background=target.background))
            else:
                target.blend(self.render_avatar(handle, cam, transforms=d.transforms, background=None).rgba8(),
                             premultiplied=False)
        self._uploads.prune(draw_list.keys, self.release_avatar)

    def _upload_draw(self, draw: Draw, previous: AvatarHandle | None) -> AvatarHandle:
        return self.set_avatar(draw.source, handle=previous)

    def _blit(self, texture: Any, fbo: Any, rect: tuple[int, int, int, int], flip_y: bool, over: bool) -> None:
        """Copy a texture (row 0 = image top) into a framebuffer rect; `over` blends premultiplied."""
        fbo.use()
        self.ctx.viewport = rect
        if over:
            self.ctx.enable(self._mgl.BLEND)
            self.ctx.blend_func = self._mgl.ONE, self._mgl.ONE_MINUS_SRC_ALPHA
        else:
            self.ctx.disable(self._mgl.BLEND)
        texture.use(0)
        prog = self._program("blit")
        self._set(prog, "image", 0)
        self._set(prog, "flip_y", flip_y)
        self._vao("blit").render(self._mgl.TRIANGLES, vertices=3)

    def _blit_depth(self, handle: AvatarHandle, target: _Target, fbo: Any, rect: tuple[int, int, int, int],
                    background: tuple[float, float, float] | None, flip_y: bool) -> None:
        """Depth mode on screen: show the alpha-weighted depth as grey (near = light)."""
        fbo.use()
        self.ctx.viewport = rect
        self.ctx.disable(self._mgl.BLEND)
        prog = self._program("blit_depth")
        target.color.use(0)
        target.depth.use(1)
        self._set(prog, "color_tex", 0)
        self._set(prog, "depth_tex", 1)
        self._set(prog, "depth_range", handle.depth_range)
        self._set(prog, "background", tuple(background) if background is not None else (0.0, 0.0, 0.0))
        self._set(prog, "flip_y", flip_y)
        self._vao("blit_depth").render(self._mgl.TRIANGLES, vertices=3)

    @_with_context
    def draw_texture(self, texture: Any, *, framebuffer: Any = None, viewport: tuple[int, int, int, int] | None = None,
                     flip_y: bool = True) -> None:
        """Draw a texture whose row 0 is the image top (e.g. `TextureBridge.texture`) over a viewport."""
        fbo = framebuffer if framebuffer is not None else self.ctx.detect_framebuffer()
        self._blit(texture, fbo, viewport if viewport is not None else (0, 0, *texture.size), flip_y, over=False)

    # ------------------------------------------------------------------ skeleton overlay
    @_with_context
    def draw_skeleton(self, joints: np.ndarray, parents: Sequence[int], camera: Camera, *, framebuffer: Any = None,
                      viewport: tuple[int, int, int, int] | None = None, flip_y: bool = True,
                      color: tuple[float, float, float, float] = (1.0, 0.35, 0.1, 1.0),
                      line_px: float = 2.0, joint_px: float = 5.0) -> None:
        """Draw bones (joint -> parent segments) and joint dots over a framebuffer (no clear)."""
        fbo = framebuffer if framebuffer is not None else self.ctx.detect_framebuffer()
        fbo.use()
        rect = viewport if viewport is not None else (0, 0, camera.width, camera.height)
        self._draw_skeleton_into(joints, parents, camera, rect, flip_y, color, line_px, joint_px)
        self._restore_state()

    def _draw_skeleton_into(self, joints: np.ndarray, parents: Sequence[int], camera: Camera,
                            rect: tuple[int, int, int, int], flip_y: bool,
                            color: tuple[float, float, float, float] = (1.0, 0.35, 0.1, 1.0),
                            line_px: float = 2.0, joint_px: float = 5.0) -> None:
        verts = skeleton_triangles(np.asarray(joints, np.float32), np.asarray(parents, np.int64), camera,
                                   color, line_px, joint_px)
        if verts.size == 0:
            return
        data = verts.tobytes()
        if self._overlay_vbo.size < len(data):
            self._overlay_vbo.orphan(len(data))
        self._overlay_vbo.write(data)
        gl_viewport, ndc, _ = self._maps(rect, flip_y)
        self.ctx.viewport = gl_viewport
        self.ctx.scissor = rect
        self.ctx.enable(self._mgl.BLEND)
        self.ctx.blend_func = self._mgl.ONE, self._mgl.ONE_MINUS_SRC_ALPHA
        prog = self._program("overlay")
        self._set(prog, "ndc_map", ndc)
        vao = self.ctx.vertex_array(prog, [(self._overlay_vbo, "2f 4f", "in_pixel", "in_color")])
        vao.render(self._mgl.TRIANGLES, vertices=len(verts))
        vao.release()

    # ------------------------------------------------------------------ read-back
    def _read_back(self, target: _Target, camera: Camera, background: tuple[float, float, float] | None,
                   mode: RenderMode) -> RenderResult:
        """Framebuffer (premultiplied, rows already top-first) -> RenderResult."""
        w, h = camera.width, camera.height
        if self.precision == "float" and self.read_back == "8bit" and mode == "color" and background is not None:
            return Rgba8RenderResult(self._quantized(target, w, h))
        if self.precision == "float":
            rgba = np.empty((h, w, 4), np.float32)
            target.fbo.read_into(rgba, components=4, dtype="f4", attachment=0)
        else:
            raw = np.empty((h, w, 4), np.uint8)
            target.fbo.read_into(raw, components=4, dtype="f1", attachment=0)
            if mode == "color" and background is not None:
                return Rgba8RenderResult(raw)
            rgba = raw.astype(np.float32)
            rgba *= 1.0 / 255.0
        alpha = np.ascontiguousarray(rgba[..., 3])
        premult = rgba[..., :3]   # already composited over the background when there is one
        depth = None
        if mode == "depth":
            dsum = np.frombuffer(target.fbo.read(components=1, dtype="f4", attachment=1), np.float32).reshape(h, w)
            depth = np.where(alpha > 1e-6, dsum / np.maximum(alpha, 1e-6), 0.0).astype(np.float32)
        if mode == "alpha":
            return RenderResult(np.repeat(alpha[..., None], 3, axis=-1), alpha, None)
        color = premult   # composited over the background, or (centre dots, opaque) already straight
        if background is None and mode != "centers":
            color = np.where(alpha[..., None] > 0, premult / np.maximum(alpha, 1e-12)[..., None], 0.0)
        return RenderResult(np.ascontiguousarray(color, np.float32), alpha, depth)

    def _quantized(self, target: _Target, w: int, h: int) -> np.ndarray:
        """[H,W,4] uint8: the float target converted to RGBA8 by a GPU blit (round to nearest)."""
        if target.rgba8 is None:
            target.rgba8 = self.ctx.framebuffer([self.ctx.texture((w, h), 4, dtype="f1")])
        self._blit(target.color, target.rgba8, (0, 0, w, h), flip_y=False, over=False)
        self._restore_state()
        raw = np.empty((h, w, 4), np.uint8)
        target.rgba8.read_into(raw, components=4, dtype="f1")
        return raw

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in ("color", "alpha", "depth", "centers"):
            raise InputError(f"Unknown render mode {mode!r}; use color, alpha, depth or centers.")

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release every GL object (and the context when the renderer created it)."""
        if self._closed:
            return
        self._make_current()
        self._release_all()
        self._closed = True
        if self._owns_ctx:
            # Leave no context current: a headless (EGL) context left current on a thread breaks a
            # Qt (GLX) context used there later (its framebuffer grabs come back empty).
            self.ctx.__exit__(None, None, None)
            self.ctx.release()

    def _release_all(self) -> None:
        self._uploads.clear()   # their handles are released below
        for h in list(self._handles):
            self.release_avatar(h)
        for obj in [*self._vaos.values(), *self._programs.values(), self._bones, self._overlay_vbo]:
            obj.release()
        for t in self._targets.values():
            for obj in (t.fbo, t.color_only, t.color, t.depth, t.hiz, t.rgba8):
                if obj is not None:
                    obj.release()
        self._vaos.clear()
        self._programs.clear()
        self._targets.clear()

    def __enter__(self) -> "GLRenderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def skeleton_triangles(joints: np.ndarray, parents: np.ndarray, camera: Camera,
                       color: tuple[float, float, float, float], line_px: float, joint_px: float) -> np.ndarray:
    """Screen-space triangles for a skeleton overlay.

    Args:
        joints: [J,3] world positions; parents: [J] (-1 for roots).
    Returns:
        [V,6] float32 vertices (pixel x, y, r, g, b, a); segments are clipped to the near plane.
    """
    view = camera.view
    pc = joints @ view[:3, :3].T + view[:3, 3]
    near = camera.near * 1.001
    tris: list[np.ndarray] = []
    for j, p in enumerate(parents):
        if p < 0:
            continue
        a, b = pc[p].astype(np.float64), pc[j].astype(np.float64)
        if a[2] < near and b[2] < near:
            continue
        if a[2] < near or b[2] < near:  # clip the segment at z = near
            t = (near - a[2]) / (b[2] - a[2])
            cut = a + t * (b - a)
            a, b = (cut, b) if a[2] < near else (a, cut)
        ua, ub = _to_pixels(camera, a), _to_pixels(camera, b)
        tris.append(_segment_quad(ua, ub, line_px / 2))
    for k in np.flatnonzero(pc[:, 2] > near):
        u = _to_pixels(camera, pc[k].astype(np.float64))
        tris.append(_segment_quad(u - [joint_px / 2, 0], u + [joint_px / 2, 0], joint_px / 2))
    if not tris:
        return np.zeros((0, 6), np.float32)
    xy = np.concatenate(tris)
    rgba = np.broadcast_to(np.asarray(color, np.float32), (len(xy), 4))
    return np.ascontiguousarray(np.concatenate([xy, rgba], 1), np.float32)


def _to_pixels(camera: Camera, p: np.ndarray) -> np.ndarray:
    return np.array([camera.fx * p[0] / p[2] + camera.cx, camera.fy * p[1] / p[2] + camera.cy])


def _segment_quad(a: np.ndarray, b: np.ndarray, half_width: float) -> np.ndarray:
    """Two triangles [6,2] covering the segment a-b widened by half_width on each side."""
    d = b - a
    n = np.linalg.norm(d)
    d = d / n if n > 1e-9 else np.array([1.0, 0.0])
    side = np.array([-d[1], d[0]]) * half_width
    a, b = a - d * half_width * 0.5, b + d * half_width * 0.5
    return np.array([a - side, a + side, b - side, b - side, a + side, b + side])
