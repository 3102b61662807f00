"""Finding and loading an official LHM checkpoint folder (`config.json` + `model.safetensors`).

Loading builds the network on the meta device and assigns the tensors safetensors memory-maps, so
on the CPU the weights are never copied into RAM a second time (a checkpoint stored in half
precision is converted to fp32, which does make a copy). The load is strict except for the
allow-lists in `network.py` (SMPL-X buffers we rebuild from the prior folder, and parts only raw
training checkpoints hold).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelFileError
from .config import LHMConfig
from .embed import fourier_basis
from .network import IGNORED_PREFIXES, OPTIONAL_KEYS, LHMNetwork

CHECKPOINT_HINT = ("Download an LHM release (LHM-MINI, LHM-500M(-HF) or LHM-1B(-HF)) from the 3DAIGC organisation "
                   "on HuggingFace or Damo_XR_Lab on ModelScope, and point the studio at the folder holding "
                   "config.json and model.safetensors.")


def find_checkpoint(model_dir: str | Path) -> tuple[Path, Path]:
    """(config.json, model.safetensors) in `model_dir` or its newest `step_*` subfolder (ModelScope layout)."""
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise ModelFileError(f"The LHM model folder {root} does not exist. {CHECKPOINT_HINT}")
    candidates = [root] + sorted((p for p in root.glob("step_*") if p.is_dir()), reverse=True)
    for folder in candidates:
        cfg, weights = folder / "config.json", folder / "model.safetensors"
        if cfg.is_file() and weights.is_file():
            return cfg, weights
    missing = [str(root / n) for n in ("config.json", "model.safetensors") if not (root / n).is_file()]
    raise ModelFileError("The LHM model folder is incomplete. Missing: " + ", ".join(missing) + f". {CHECKPOINT_HINT}")


def read_state_dict(weights: Path) -> dict[str, torch.Tensor]:
    """Memory-mapped tensors of a safetensors file (CPU, views into the file mapping)."""
    from safetensors import safe_open
    try:
        with safe_open(str(weights), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:
        raise ModelFileError(f"{weights} is not a readable safetensors file ({err}).") from err


def filter_state_dict(state: dict[str, torch.Tensor], expected: dict[str, torch.Size]
                      ) -> dict[str, torch.Tensor]:
    """Drop allow-listed extra keys; raise ModelFileError on any other missing/unexpected/mis-shaped key."""
    kept = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
    missing = sorted(k for k in expected if k not in kept and k not in OPTIONAL_KEYS)
    unexpected = sorted(k for k in kept if k not in expected)
    wrong = sorted(f"{k} {tuple(v.shape)} (expected {tuple(expected[k])})" for k, v in kept.items()
                   if k in expected and v.shape != expected[k])
    problems = [(missing, "missing"), (unexpected, "unexpected"), (wrong, "with the wrong shape")]
    lines = [f"{len(keys)} weights {label}, e.g. {', '.join(keys[:4])}" for keys, label in problems if keys]
    if lines:
        raise ModelFileError("The checkpoint does not match its config.json (" + "; ".join(lines) + ").")
    return kept


def load_network(config: LHMConfig, weights: Path, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> LHMNetwork:
    """Build `LHMNetwork(config)` and load `weights` into it (strict modulo the allow-lists)."""
    with torch.device("meta"):
        net = LHMNetwork(config)
    expected = {k: v.shape for k, v in net.state_dict().items()}
    state = filter_state_dict(read_state_dict(weights), expected)
    state = {k: (v if v.dtype == dtype else v.to(dtype)) for k, v in state.items()}
    for key in OPTIONAL_KEYS:
        if key not in state:
            state[key] = fourier_basis(expected[key][1] // 3).to(dtype)
    net.load_state_dict(state, strict=True, assign=True)
    return net.to(device).eval()
