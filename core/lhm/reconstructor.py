"""`LHMReconstructor`: one photo -> rigged Gaussian avatar through an official LHM checkpoint.

Same interface as every back-end (`core.reconstruct.base.Reconstructor`): progress by stage,
cancellation between stages and between transformer layers, an `Avatar` as the result. The compute
stages ("body encoder", "head encoder", "transformer") report an ETA in their stage text, e.g.
"transformer (layer 1/2, about 40 s left)", from their operation counts (`cost.py`) and the rate
measured so far.
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
from .cost import StageClock, format_eta, probe_rate, stage_flops
from .quant import quantize_linears_int8
from .network import LHMNetwork
from .preprocess import body_image, estimate_subject, head_image, sapiens_input
from .prior import LHMPrior, check_prior_dir, load_prior, load_sapiens

SubjectFn = Callable[[np.ndarray], tuple[np.ndarray, tuple[float, float, float, float], np.ndarray]]
COMPUTE_STAGES = ("body encoder", "head encoder", "transformer")
PRECISIONS = ("reference", "bf16", "int8")
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
            LHM does (fp32 throughout on the CPU); "bf16" also runs the network under bf16 autocast
            (CUDA only, faster); "int8" (CPU only, opt-in) runs the network's Linear layers int8
            dynamic-quantised: not the reference numerics (see README for its measured error).
        subject_fn: image -> (mask, head box, betas); defaults to `preprocess.estimate_subject`.
        keep_encoder: keep Sapiens in memory between photos. False loads it for each photo and frees it
            before the network runs: the peak memory is then the larger of the two models, not their
            sum (a single photo loses nothing; later photos reload Sapiens, a few percent of a CPU
            run). None (default): keep it on a GPU, free it on the CPU.
    """

    name = "lhm"

    def __init__(self, model_dir: str | Path, prior_dir: str | Path, device: str | torch.device = "auto", *,
                 precision: str = "reference", subject_fn: SubjectFn | None = None,
                 keep_encoder: bool | None = None) -> None:
        self.config_path, self.weights_path = find_checkpoint(model_dir)
        self.config = LHMConfig.from_json(self.config_path)
        self.prior_dir = check_prior_dir(prior_dir, self.config.num_points, self.config.sapiens_relpath)
        self.device = pick_device(device)
        if precision not in PRECISIONS:
            raise InputError(f"Unknown LHM precision '{precision}'; use one of {', '.join(PRECISIONS)}.")
        if precision == "int8" and self.device.type != "cpu":
            raise InputError("LHM precision 'int8' runs on the CPU only; use 'bf16' on a GPU.")
        self.precision = precision
        self.keep_encoder = self.device.type != "cpu" if keep_encoder is None else keep_encoder
        self.subject_fn = subject_fn or estimate_subject
        self.network: LHMNetwork | None = None
        self.prior: LHMPrior | None = None
        self.sapiens: torch.jit.ScriptModule | None = None

    # ------------------------------------------------------------------ loading
    @property
    def loaded(self) -> bool:
        return self.network is not None

    def load(self, progress: StageProgress | None = None) -> None:
        """Load prior, Sapiens (unless `keep_encoder` is False) and the checkpoint (once)."""
        if self.loaded:
            return
        if progress:
            progress.stage("load", 0.0)
        prior = load_prior(self.prior_dir, self.config.num_points, self.config.cano_pose_type)
        if progress:
            progress.stage("load", 0.2)
        if self.keep_encoder:
            self.sapiens = self._load_sapiens()
        if progress:
            progress.stage("load", 0.5)
        net = load_network(self.config, self.weights_path, self.device)
        if self.precision == "int8":
            quantize_linears_int8(net)
        net.set_upper_body(torch.from_numpy(prior.upper_body).to(self.device))
        self.prior, self.network = prior, net

    def _load_sapiens(self) -> torch.jit.ScriptModule:
        return load_sapiens(self.prior_dir / self.config.sapiens_relpath, self.device)

    # ------------------------------------------------------------------ stages
    def _autocast(self, enabled: bool):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=enabled and self.device.type == "cuda")

    @torch.no_grad()
    def encode_body(self, body: torch.Tensor) -> torch.Tensor:
        """[B,3,H,W] 0..1 body photo -> [B,4096,C] Sapiens tokens (fp32)."""
        sapiens = self.sapiens if self.sapiens is not None else self._load_sapiens()
        x = sapiens_input(body.to(self.device), self.config.sapiens_resolution)
        with self._autocast(True):
            out = sapiens(x)
        del sapiens  # without keep_encoder this frees Sapiens before the network runs
        feats = out[0] if isinstance(out, (tuple, list)) else out
        want = (x.shape[0], self.config.body_feat_dim)
        if feats.dim() != 4 or tuple(feats.shape[:2]) != want or feats.shape[2] * feats.shape[3] != self.config.num_body_tokens:
            raise ModelFileError(f"The Sapiens model returned features of shape {tuple(feats.shape)}; LHM needs "
                                 f"[{want[0]}, {want[1]}, 64, 64].")
        return feats.float().permute(0, 2, 3, 1).flatten(1, 2)

    @torch.inference_mode()
    def gaussians(self, body_tokens: torch.Tensor, head: torch.Tensor, progress: StageProgress | None = None,
                  clock: StageClock | None = None) -> dict[str, np.ndarray]:
        """Network pass for one subject -> numpy attributes [N,...] (stages "head encoder", "transformer")."""
        assert self.network is not None and self.prior is not None
        qp = torch.from_numpy(self.prior.points_big).to(self.device)[None]

        def on_layer(i: int, n: int) -> None:
            if progress:
                progress.stage("transformer", i / n)

        clock = clock or StageClock(stage_flops(self.config), 1.0)
        with self._autocast(self.precision == "bf16"):
            with clock.timing("head encoder"):
                ctx, temb = self.network.context(body_tokens, head.to(self.device))
            if progress:
                progress.stage("transformer", 0.0)
            with clock.timing("transformer"):
                out = self.network.gaussians_from_context(ctx, temb, qp, on_layer=on_layer)
        return {k: v[0].float().cpu().numpy() for k, v in out.items()}

    def _stages(self, clock: StageClock) -> list[tuple[str, float]]:
        """Progress-bar weights: the compute stages by their operation counts, the others small."""
        total = sum(clock.flops.values())
        return [("load", 0.05 * total), ("preprocess", 0.01 * total)] + \
            [(s, clock.flops[s]) for s in COMPUTE_STAGES] + [("rig", 0.02 * total)]

    # ------------------------------------------------------------------ run
    def run(self, image: np.ndarray, *, progress: Progress | None = None, cancel: CancelToken | None = None,
            mask: np.ndarray | None = None, head_box: tuple[float, float, float, float] | None = None,
            betas: np.ndarray | None = None) -> ReconstructionResult:
        """Reconstruct from an [H,W,3|4] uint8 photo; optional mask/head box/betas override the estimate."""
        rate = probe_rate() if self.device.type == "cpu" else 50e12  # a GPU's rate is only a start value
        clock = StageClock(stage_flops(self.config), rate)
        prog = EtaProgress(self._stages(clock), progress, cancel, clock, self.config.transformer_layers)
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
        with clock.timing("body encoder"):
            tokens = self.encode_body(body)
        prog.stage("head encoder", 0.0)
        out = self.gaussians(tokens, head, prog, clock)
        prog.stage("rig", 0.0)
        assert self.prior is not None
        avatar = lhm_avatar(out, self.prior, betas, name="lhm")
        timings = prog.finish()
        notes = NOTES + [f"{self.config.name} on {self.device} ({self.precision})."]
        if not np.any(betas):
            notes.append("Body shape (betas) is zero: no body fit was available.")
        return ReconstructionResult(avatar, Diagnostics(mask=np.asarray(mask, np.float32), timings=timings, notes=notes))


class EtaProgress(StageProgress):
    """`StageProgress` whose compute stages' text carries the time left, e.g. "body encoder (about 2 min left)"
    and "transformer (layer 1/2, about 40 s left)"; other stages and the timings keep their plain names."""

    def __init__(self, stages: list[tuple[str, float]], callback: Progress | None,
                 cancel: CancelToken | None, clock: StageClock, layers: int) -> None:
        super().__init__(stages, None if callback is None else self._emit, cancel)
        self._user = callback
        self._clock = clock
        self._layers = layers
        self._fraction = 0.0

    def stage(self, name: str, fraction: float = 0.0) -> None:
        self._fraction = fraction
        super().stage(name, fraction)

    def _emit(self, name: str, job_fraction: float) -> None:
        assert self._user is not None
        if name in COMPUTE_STAGES:
            text = format_eta(self._clock.eta(name, self._fraction))
            if name == "transformer" and self._fraction > 0:
                text = f"layer {int(round(self._fraction * self._layers))}/{self._layers}, {text}"
            name = f"{name} ({text})"
        self._user(name, job_fraction)
