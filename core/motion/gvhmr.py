"""GVHMR `hmr4d_results.pt` (SPECS §4.2): a torch-saved dict holding `smpl_params_global` (Y-up
world) and `smpl_params_incam` (camera frame), each {global_orient (L,3), body_pose (L,63),
betas (L,10), transl (L,3)}. No hands, jaw or eyes; GVHMR runs at 30 fps.
"""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.safe import excerpt, require_regular_file, short_error
from .motion import Motion
from .validate import positive_fps, shaped

DEFAULT_FPS = 30.0
MAX_FILE_BYTES = 1 << 30
PARAM_KEYS = {"global": "smpl_params_global", "incam": "smpl_params_incam"}


def read_results(path: Path) -> dict:
    """The dict inside a GVHMR result file, loaded with torch's tensors-only unpickler."""
    import torch
    require_regular_file(path, "GVHMR result")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{excerpt(path.name)} is over {MAX_FILE_BYTES:,} bytes; too large for a GVHMR result.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError,
            AttributeError, TypeError, KeyError, IndexError, OverflowError, NotImplementedError,
            RecursionError, UnicodeDecodeError) as err:
        raise InputError(f"{excerpt(path.name)} is not a readable GVHMR result (torch could not load it "
                         f"safely: {short_error(err, 120)}).") from err
    if not isinstance(data, dict):
        raise InputError(f"{path.name} does not hold a GVHMR result dict.")
    return data


def looks_like_gvhmr(path: Path) -> bool:
    path = Path(path)
    if path.is_dir():
        return (path / "hmr4d_results.pt").is_file()
    return path.suffix.lower() in (".pt", ".pth")


def _array(value, shape: tuple, what: str, source: str) -> np.ndarray:
    if hasattr(value, "detach"):
        try:
            value = value.detach().cpu().to_dense().double().numpy()
        except (RuntimeError, TypeError, ValueError, NotImplementedError) as err:
            raise InputError(f"{source}: '{what}' is not a plain tensor of numbers ({short_error(err, 80)}).") from err
    return shaped(value, shape, what, source)


def load_gvhmr(path: str | Path, which: str = "global", fps: float | None = None) -> Motion:
    """Read a GVHMR result file (or the folder holding `hmr4d_results.pt`).

    `which`: "global" (gravity-aligned Y-up world) or "incam" (camera frame).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "hmr4d_results.pt"
    if not path.is_file():
        raise InputError(f"GVHMR result not found: {path}")
    if which not in PARAM_KEYS:
        raise InputError(f"GVHMR motion must be 'global' or 'incam', got {which!r}.")
    data = read_results(path)
    key = PARAM_KEYS[which]
    params = data.get(key)
    if not isinstance(params, dict):
        raise InputError(f"{path.name} lacks '{key}' (it has {excerpt(', '.join(map(str, data)) or 'nothing', 120)}).")
    missing = [k for k in ("global_orient", "body_pose", "transl") if k not in params]
    if missing:
        raise InputError(f"{path.name}: '{key}' lacks {', '.join(missing)}.")
    src = f"{path.name}:{key}"
    orient = _array(params["global_orient"], (-1, 3), "global_orient", src)
    body = _array(params["body_pose"], (-1, 21, 3), "body_pose", src)
    transl = _array(params["transl"], (-1, 3), "transl", src)
    frames = orient.shape[0]
    if body.shape[0] != frames or transl.shape[0] != frames:
        raise InputError(f"{src}: global_orient, body_pose and transl differ in length "
                         f"({frames}, {body.shape[0]}, {transl.shape[0]}).")
    betas = np.zeros(10)
    if "betas" in params:
        b = _array(params["betas"], (-1,), "betas", src) if getattr(params["betas"], "ndim", 1) <= 1 else \
            _array(params["betas"], (-1, int(params["betas"].shape[-1])), "betas", src).mean(axis=0)
        betas = b
    zeros3 = np.zeros((frames, 3), np.float32)
    return Motion(global_orient=orient, body_pose=body, jaw=zeros3, leye=zeros3, reye=zeros3,
                  lhand=np.zeros((frames, 15, 3), np.float32), rhand=np.zeros((frames, 15, 3), np.float32),
                  transl=transl, betas=betas.astype(np.float32), fps=positive_fps(fps or DEFAULT_FPS, path.name),
                  flat_hand_mean=True, up_axis="y", frame="world" if which == "global" else "camera",
                  name=path.parent.name or path.stem, meta={"source": "gvhmr", "params": key})
