"""Opt-in int8 for the CPU: dynamic quantisation of the Linear layers (weights int8 per channel,
activations quantised per call). Not the reference numerics: see README's LHM performance rows for
the measured error. Convolutions, norms and attention stay fp32.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn


def quantize_linears_int8(module: nn.Module) -> nn.Module:
    """Replace every nn.Linear of `module` (CPU, fp32, eval) by an int8 dynamic-quantised one; returns it.

    The fp32 weights are no longer referenced afterwards (a memory-mapped checkpoint's pages can go).
    """
    with warnings.catch_warnings():  # torch.ao.quantization warns that it moves to torchao; it still works
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
