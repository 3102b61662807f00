"""Choose a reconstruction back-end by name."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .base import Reconstructor

BACKENDS = ("template", "lhm")


def create_reconstructor(backend: str = "template", *, model_dir: str | Path | None = None,
                         prior_dir: str | Path | None = None, device: str = "auto",
                         num_gaussians: int | None = None) -> Reconstructor:
    """'template' needs no weights; 'lhm' needs an official checkpoint folder and the prior folder."""
    if backend == "template":
        from .template import TemplateReconstructor
        return TemplateReconstructor() if num_gaussians is None else TemplateReconstructor(num_gaussians=num_gaussians)
    if backend == "lhm":
        if model_dir is None or prior_dir is None:
            raise InputError("The LHM back-end needs --model (the folder with config.json and model.safetensors) "
                             "and --prior (LHM's pretrained_models folder).")
        from ..lhm.reconstructor import LHMReconstructor
        return LHMReconstructor(model_dir, prior_dir, device=device)
    raise InputError(f"Unknown reconstruction back-end '{backend}'; choose one of {', '.join(BACKENDS)}.")
