"""`LHMReconstructor`: one photo -> rigged Gaussian avatar through an official LHM checkpoint.

Same interface as every back-end (`core.reconstruct.base.Reconstructor`): progress by stage,
cancellation between stages and between transformer layers, an `Avatar` as the result.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError, ModelFileError
from ..reconstruct.base import CancelToken, Diagnostics, Progress, StageProgress, ReconstructionResult, check_image
from .animate import lhm_avatar
from .checkpoint import find_checkpoint, load_network
from .config import LHMConfig
from .network import LHMNetwork
from .preprocess import body_image, estimate_subject, head_image, sapiens_input
from .prior import LHMPrior, check_prior_dir, load_prior, load_sapiens

SubjectFn = Callable[[np.ndarray], tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]]
STAGES = [("load", 3.0), ("preprocess", 1.0), ("body encoder", 3.0), ("transformer", 5.0), ("rig", 1.0)]
NOTES = ["LHM back-end: face super-resolution (GFPGAN) is skipped; the head crop is resized straight to 448 px."]


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class LHMReconstructor:
    """Reconstruct with LHM. Files are checked at construction and loaded on the first `run`.

    Args:
        model_dir: folder with the release's config.json and model.safetensors (or a step_* subfolder).
        prior_dir: LHM's `pretrained_models/` folder (see `prior.py`).
        device: "auto", "cpu" or "cuda[:i]".
        precision: "reference" runs the network in fp32 and Sapiens under bf16 autocast on CUDA, as
            LHM does; "bf16" also runs the network under bf16 autocast (CUDA only, faster).
        subject_fn: image -> (mask, head box, betas); defaults to `preprocess.estimate_subject`.
    """

    name = "lhm"

    def __init__(self, model_dir: str | Path, prior_dir: str | Path, device: str | torch.device = "auto", *,
                 precision: str = "reference", subject_fn: SubjectFn | None = None) -> None:
        self.config_path, self.weights_path = find_checkpoint(model_dir)
        self.config = LHMConfig.from_json(self.config_path)
        self.prior_dir = check_prior_dir(prior_dir, self.config.num_points, self.config.sapiens_relpath)
        self.device = pick_device(device)
        if precision not in ("reference", "bf16"):
            raise InputError(f"Unknown LHM precision '{precision}'; use 'reference' or 'bf16'.")
        self.precision = precision
        self.subject_fn = subject_fn or estimate_subject
        self.network: LHMNetwork | None = None
        self.prior: LHMPrior | None = None
        self.sapiens: torch.jit.ScriptModule | None = None

    # ------------------------------------------------------------------ loading
    @property
    def loaded(self) -> bool:
        return self.network is not None

    def load(self, progress: StageProgress | None = None) -> None:
        """Load prior, Sapiens and the checkpoint (once)."""
        if self.loaded:
            return
        if progress:
            progress.stage("load", 0.0)
        prior = load_prior(self.prior_dir, self.config.num_points, self.config.cano_pose_type)
        if progress:
            progress.stage("load", 0.2)
        sapiens = load_sapiens(self.prior_dir / self.config.sapiens_relpath, self.device)
        if progress:
            progress.stage("load", 0.5)
        net = load_network(self.config, self.weights_path, self.device)
        net.set_upper_body(torch.from_numpy(prior.upper_body).to(self.device))
        self.prior, self.sapiens, self.network = prior, sapiens, net

    # ------------------------------------------------------------------ stages
    def _autocast(self, enabled: bool):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=enabled and self.device.type == "cuda")

    @torch.no_grad()
    def encode_body(self, body: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] 0..1 body photo -> [B,4096,C] Sapiens tokens (fp32)."""
        assert self.sapiens is not None
        x = sapiens_input(body.to(self.device), self.config.sapiens_resolution)
        with self._autocast(True):
            out = self.sapiens(x)
        feats = out[0] if isinstance(out, (tuple, list)) else out
        want = (x.shape[0], self.config.body_feat_dim)
        if feats.dim() != 4 or tuple(feats.shape[:2]) != want or feats.shape[2] * feats.shape[3] != self.config.num_body_tokens:
            raise ModelFileError(f"The Sapiens model returned features of shape {tuple(feats.shape)}; LHM needs "
                                 f"[{want[0]}, {want[1]}, 64, 64].")
        return feats.float().permute(0, 2, 3, 1).flatten(1, 2)

    @torch.no_grad()
    def gaussians(self, body_tokens: torch.Tensor, head: torch.Tensor, progress: StageProgress | None = None
                  ) -> dict[str, np.ndarray]:
        """Network pass for one subject -> numpy attributes [N,...]."""
        assert self.network is not None and self.prior is not None
        qp = torch.from_numpy(self.prior.points_big).to(self.device)[None]

        def on_layer(i: int, n: int) -> None:
            if progress:
                progress.stage("transformer", i / n)

        with self._autocast(self.precision == "bf16"):
            out = self.network.forward_gaussians(body_tokens, head.to(self.device), qp, on_layer=on_layer)
        return {k: v[0].float().cpu().numpy() for k, v in out.items()}

    # ------------------------------------------------------------------ run
    def run(self, image: np.ndarray, *, progress: Progress | None = None, cancel: CancelToken | None = None,
            mask: np.ndarray | None = None, head_box: tuple[float, float, float, float] | None = None,
            betas: np.ndarray | None = None) -> ReconstructionResult:
        """Reconstruct from an [H,W,3|4] uint8 photo; optional mask/head box/betas override the estimate."""
        prog = StageProgress(STAGES, progress, cancel)
        self.load(prog)
        prog.stage("preprocess", 0.0)
        image = check_image(image)
        est_mask, est_box, est_betas = self.subject_fn(image)
        mask = est_mask if mask is None else np.asarray(mask, np.float32)
        head_box = est_box if head_box is None else head_box
        betas = est_betas if betas is None else np.asarray(betas, np.float32)
        body = body_image(image, mask, self.config.image_hw)
        head = head_image(image, head_box, self.config.head_resolution)
        prog.stage("body encoder", 0.0)
        tokens = self.encode_body(body)
        prog.stage("transformer", 0.0)
        out = self.gaussians(tokens, head, prog)
        prog.stage("rig", 0.0)
        assert self.prior is not None
        avatar = lhm_avatar(out, self.prior, betas, name="lhm")
        timings = prog.finish()
        notes = NOTES + [f"{self.config.name} on {self.device} ({self.precision})."]
        if not np.any(betas):
            notes.append("Body shape (betas) is zero: no body fit was available.")
        return ReconstructionResult(avatar, Diagnostics(mask=np.asarray(mask, np.float32), timings=timings, notes=notes))
