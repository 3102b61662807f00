"""`GsplatRenderer` (CUDA, through `gsplat.rasterization`) and `TextureBridge` (CUDA image -> GL texture).

gsplat is imported lazily: importing it works on a CPU-only machine but rasterizing does not
(see SPECS §7), so `rendering.probe_gsplat()` decides at start-up whether this back-end is used.

gsplat's conventions match ours: means [N,3], quats wxyz [N,4] (normalised inside), scales linear
[N,3], opacities [N] in 0..1, colours = SH coefficients [N,K,3] with `sh_degree`, viewmats = our
world-to-camera `view`, Ks = our intrinsics, eps2d = 0.3. Two small differences to the reference:
gsplat clamps alpha at 0.999 (3DGS: 0.99) and culls beyond `far_plane` the same way we do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendUnavailableError, InputError
from ..gaussians import GaussianSet
from .base import Camera, RenderMode, RenderResult
from .draw import Draw, DrawList, FramebufferTarget, ImageTarget, Target, Uploads
from .host import avatar_arrays

if TYPE_CHECKING:
    from ..avatar import Avatar

GL_TEXTURE_2D = 0x0DE1


def _torch() -> Any:
    import torch
    return torch


@dataclass(eq=False)
class GsplatAvatar:
    """Canonical Gaussians and skinning kept on the CUDA device (see `GsplatRenderer.set_avatar`).

    Attributes (torch tensors on the device): means [N,3], quats [N,4], scales [N,3], opacities [N],
    sh [N,K,3], skin_indices [N,K] long, skin_weights [N,K], rotation_locked [N] bool or None.
    """

    means: Any
    quats: Any
    scales: Any
    opacities: Any
    sh: Any
    skin_indices: Any = None
    skin_weights: Any = None
    rotation_locked: Any = None


class GsplatRenderer:
    """CUDA rasterization with gsplat behind the `Renderer` protocol.

    Args:
        device: a CUDA device ("cuda", "cuda:1").
    """

    name = "gsplat"

    def __init__(self, device: str = "cuda") -> None:
        torch = _torch()
        if not torch.cuda.is_available():
            raise BackendUnavailableError("gsplat needs a CUDA GPU, and none is available.")
        import gsplat  # noqa: F401 - fail early with a clear error
        self.device = torch.device(device)
        self._uploads = Uploads()
        self._bridge: TextureBridge | None = None

    # ------------------------------------------------------------------ tensors in, tensors out
    def rasterize(self, means: Any, quats: Any, scales: Any, opacities: Any, sh: Any, camera: Camera, *,
                  background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                  with_depth: bool = False) -> tuple[Any, Any, Any]:
        """Render device tensors; returns (color [H,W,3], alpha [H,W], depth [H,W] or None) on the device.

        `color` is composited over `background`, or premultiplied when background is None.
        Args:
            means: [N,3]; quats: [N,4] wxyz; scales: [N,3]; opacities: [N]; sh: [N,K,3].
        """
        torch = _torch()
        from gsplat import rasterization
        dev = self.device
        viewmats = torch.as_tensor(np.asarray(camera.view, np.float32), device=dev)[None]
        ks = torch.as_tensor(camera.K, device=dev)[None]
        bg = None if background is None else torch.tensor([background], dtype=torch.float32, device=dev)
        k = sh.shape[1]
        degree = {1: 0, 4: 1, 9: 2, 16: 3}[k]
        colors, alphas, _ = rasterization(
            means.float(), quats.float(), scales.float(), opacities.float(), sh.float(), viewmats, ks,
            camera.width, camera.height, near_plane=camera.near, far_plane=camera.far, eps2d=0.3,
            sh_degree=degree, backgrounds=bg, render_mode="RGB+ED" if with_depth else "RGB",
            rasterize_mode="classic")
        alpha = alphas[0, ..., 0]
        depth = colors[0, ..., 3] if with_depth else None
        if depth is not None:
            depth = torch.where(alpha > 0, depth, torch.zeros_like(depth))
        return colors[0, ..., :3], alpha, depth

    def render(self, gaussians: GaussianSet, camera: Camera, *,
               background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
               mode: RenderMode = "color") -> RenderResult:
        t = gaussians.to_torch(self.device)
        return self._render_tensors(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"],
                                    camera, background, mode)

    def _render_tensors(self, means: Any, quats: Any, scales: Any, opacities: Any, sh: Any, camera: Camera,
                        background: tuple[float, float, float] | None, mode: RenderMode) -> RenderResult:
        torch = _torch()
        if mode == "centers":
            from .reference import finish, project, render_centers
            p = project(means, quats, scales, opacities, sh, camera)
            color, alpha = render_centers(p, camera.width, camera.height)
            return finish(color * alpha[..., None], alpha, None, background, "color")
        if mode not in ("color", "alpha", "depth"):
            raise InputError(f"Unknown render mode {mode!r}.")
        color, alpha, depth = self.rasterize(means, quats, scales, opacities, sh, camera,
                                             background=background, with_depth=mode == "depth")
        alpha_np = alpha.float().cpu().numpy()
        if mode == "alpha":
            return RenderResult(np.repeat(alpha_np[..., None], 3, axis=-1), alpha_np, None)
        if background is None:
            color = torch.where(alpha[..., None] > 0, color / alpha.clamp_min(1e-12)[..., None],
                                torch.zeros_like(color))
        depth_np = None if depth is None else depth.float().cpu().numpy()
        return RenderResult(color.float().cpu().numpy(), alpha_np, depth_np)

    # ------------------------------------------------------------------ skinned avatars
    def set_avatar(self, gaussians: "Avatar | GaussianSet", skin_indices: np.ndarray | None = None,
                   skin_weights: np.ndarray | None = None, rotation_locked: np.ndarray | None = None) -> GsplatAvatar:
        """Move canonical Gaussians (+ skinning) to the device once."""
        gaussians, skin_indices, skin_weights, rotation_locked = avatar_arrays(
            gaussians, skin_indices, skin_weights, rotation_locked)  # an Avatar brings its rig
        torch = _torch()
        t = gaussians.to_torch(self.device)
        av = GsplatAvatar(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"])
        if skin_indices is not None:
            av.skin_indices = torch.as_tensor(np.asarray(skin_indices, np.int64), device=self.device)
            av.skin_weights = torch.as_tensor(np.asarray(skin_weights, np.float32), device=self.device)
        if rotation_locked is not None:
            av.rotation_locked = torch.as_tensor(np.asarray(rotation_locked, bool), device=self.device)
        return av

    def render_skinned(self, avatar: GsplatAvatar, transforms: Any, transl: Any, camera: Camera, *,
                       background: tuple[float, float, float] | None = (1.0, 1.0, 1.0),
                       mode: RenderMode = "color") -> RenderResult:
        """Pose on the device (same LBS convention as `core.skinning`) and render.

        Args:
            transforms: [J,4,4] or [1,J,4,4]; transl: [3] or None.
        """
        means, quats = self.pose(avatar, transforms, transl)
        return self._render_tensors(means, quats, avatar.scales, avatar.opacities, avatar.sh,
                                    camera, background, mode)

    def pose(self, avatar: GsplatAvatar, transforms: Any, transl: Any) -> tuple[Any, Any]:
        """([N,3] means, [N,4] quats) of the posed avatar, on the device."""
        torch = _torch()
        from ..skinning import lbs_points, matrix_to_quat_torch, quat_mul_torch
        tf = torch.as_tensor(np.asarray(transforms.detach().cpu() if hasattr(transforms, "detach") else transforms,
                                        np.float32), device=self.device)
        tf = tf.reshape(1, -1, 4, 4)
        posed, rot = lbs_points(avatar.means, avatar.skin_indices, avatar.skin_weights, tf)
        if transl is not None:
            tr = torch.as_tensor(np.asarray(transl.detach().cpu() if hasattr(transl, "detach") else transl,
                                            np.float32), device=self.device).reshape(1, 1, 3)
            posed = posed + tr
        q = quat_mul_torch(matrix_to_quat_torch(rot), avatar.quats[None])[0]
        if avatar.rotation_locked is not None:
            q = torch.where(avatar.rotation_locked[:, None], avatar.quats, q)
        return posed[0], q

    # ------------------------------------------------------------------ scene pass
    def composite(self, draw_list: DrawList, target: Target) -> None:
        """Draw the list over `target`: avatars skinned on the device, every draw's tensors rasterized
        together (one sort across items). Into a GL framebuffer target the image goes through the
        texture bridge (device to device with CUDA-GL interop); into other targets it is read back."""
        cam = draw_list.camera
        parts = []
        for d in draw_list.draws:
            av = self._uploads.handle(d, self._upload_draw)
            means, quats = self.pose(av, d.transforms, None) if d.skinned else (av.means, av.quats)
            parts.append((means, quats, av.scales, av.opacities, av.sh))
        self._uploads.prune(draw_list.keys)
        if not parts:
            return
        tensors = _concat_tensors(parts)
        if isinstance(target, ImageTarget) and target.empty:
            target.put(self._render_tensors(*tensors, cam, target.background, "color"))
            return
        torch = _torch()
        color, alpha, _ = self.rasterize(*tensors, cam, background=None)  # premultiplied
        rgba = TextureBridge.to_rgba8(torch.cat([color, alpha[..., None]], dim=-1))
        if isinstance(target, FramebufferTarget):
            if self._bridge is None or self._bridge.ctx is not target.ctx or (
                    (self._bridge.width, self._bridge.height) != (cam.width, cam.height)):
                if self._bridge is not None:
                    self._bridge.release()
                self._bridge = TextureBridge(target.ctx, cam.width, cam.height)
            self._bridge.update(rgba)
            target.blend_texture(self._bridge.texture, premultiplied=True)
        else:
            target.blend(rgba.cpu().numpy(), premultiplied=True)

    def _upload_draw(self, draw: Draw, _previous: GsplatAvatar | None) -> GsplatAvatar:
        return self.set_avatar(draw.source)

    def close(self) -> None:
        """Drop the device copies and the texture bridge (with its GL context current)."""
        self._uploads.clear()
        if self._bridge is not None:
            self._bridge.release()
            self._bridge = None


def _concat_tensors(parts: list[tuple]) -> tuple:
    """Concatenate (means, quats, scales, opacities, sh) device tensors; SH padded to the largest K."""
    torch = _torch()
    if len(parts) == 1:
        return parts[0]
    k = max(p[4].shape[1] for p in parts)
    shs = [torch.nn.functional.pad(p[4], (0, 0, 0, k - p[4].shape[1])) for p in parts]
    return tuple(torch.cat([p[i] for p in parts]) for i in range(4)) + (torch.cat(shs),)


# --------------------------------------------------------------------------- CUDA -> GL
def _cudart() -> Any:
    """cuda-python's runtime module, whichever layout is installed, or None."""
    try:
        from cuda.bindings import runtime as rt  # cuda-python >= 12.6
        return rt
    except ImportError:
        pass
    try:
        from cuda import cudart as rt  # older cuda-python
        return rt
    except ImportError:
        return None


def _check(result: Any) -> Any:
    """Unpack a cuda-python call result `(err, *values)`, raising on error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise BackendUnavailableError(f"CUDA-GL interop call failed with CUDA error {int(err)}.")
    return values[0] if len(values) == 1 else values


class TextureBridge:
    """Keeps a GL RGBA8 texture in sync with an image tensor (e.g. a gsplat frame for the Qt viewport).

    With `cuda-python` installed and a CUDA tensor, the texture is registered once with
    `cudaGraphicsGLRegisterImage` and each `update` is a device-to-device copy into the mapped array
    (no trip through host memory). Otherwise each `update` copies through the host
    (`texture.write(tensor.cpu().numpy())`). Call it with the GL context current, on its thread.

    Args:
        ctx: moderngl context owning the texture.
        width, height: texture size.
        interop: "auto" (use CUDA-GL interop when possible), "never", or "require".
    """

    def __init__(self, ctx: Any, width: int, height: int, interop: str = "auto") -> None:
        self.ctx = ctx
        self.texture = ctx.texture((width, height), 4, dtype="f1")
        self.width, self.height = width, height
        self._interop_mode = interop
        self._resource: Any = None
        self._rt: Any = None
        self.uses_interop = False

    @staticmethod
    def to_rgba8(image: Any) -> Any:
        """[H,W,3|4] float 0..1 or uint8 tensor -> contiguous [H,W,4] uint8 tensor (same device)."""
        torch = _torch()
        if image.dtype != torch.uint8:
            image = (image.float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
        if image.shape[-1] == 3:
            alpha = torch.full_like(image[..., :1], 255)
            image = torch.cat([image, alpha], dim=-1)
        return image.contiguous()

    def update(self, image: Any) -> None:
        """Copy an [H,W,3|4] image tensor (row 0 = image top) into `self.texture`."""
        if tuple(image.shape[:2]) != (self.height, self.width):
            raise InputError(f"Image is {tuple(image.shape[:2])}, the texture is {(self.height, self.width)}.")
        rgba = self.to_rgba8(image)
        if rgba.is_cuda and self._interop_mode != "never" and self._ensure_interop():
            self._copy_interop(rgba)
        else:
            if self._interop_mode == "require":
                raise BackendUnavailableError("CUDA-GL interop was required but is not available.")
            self.texture.write(rgba.cpu().numpy().tobytes())

    def _ensure_interop(self) -> bool:
        """Register the texture with CUDA once; False (host copies from now on) if that fails."""
        if self._resource is not None:
            return True
        if self._rt is False:
            return False
        rt = _cudart()
        try:
            if rt is None:
                raise BackendUnavailableError("cuda-python is not installed.")
            flags = int(rt.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsWriteDiscard)
            self._resource = _check(rt.cudaGraphicsGLRegisterImage(self.texture.glo, GL_TEXTURE_2D, flags))
            self._rt = rt
            self.uses_interop = True
            return True
        except Exception:  # noqa: BLE001 - any failure means: use host copies
            if self._interop_mode == "require":
                raise
            self._rt = False
            return False

    def _copy_interop(self, rgba: Any) -> None:
        """Device-to-device copy of a [H,W,4] uint8 CUDA tensor into the registered texture."""
        torch = _torch()
        rt = self._rt
        stream = torch.cuda.current_stream(rgba.device).cuda_stream
        _check(rt.cudaGraphicsMapResources(1, self._resource, stream))
        try:
            array = _check(rt.cudaGraphicsSubResourceGetMappedArray(self._resource, 0, 0))
            pitch = self.width * 4
            kind = rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice
            _check(rt.cudaMemcpy2DToArrayAsync(array, 0, 0, rgba.data_ptr(), pitch, pitch, self.height, kind, stream))
        finally:
            _check(rt.cudaGraphicsUnmapResources(1, self._resource, stream))

    def release(self) -> None:
        """Unregister from CUDA and free the texture (GL context current)."""
        if self._resource is not None and self._rt:
            self._rt.cudaGraphicsUnregisterResource(self._resource)
        self._resource = None
        self.texture.release()
