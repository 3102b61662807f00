"""Key manifest: every parameter/buffer name and shape of `LHMNetwork` per named model, built on the
meta device (no weights are allocated).

    python -m avatar_studio.core.lhm.manifest --out tests/fixtures/lhm/manifest.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .config import PRESET_NAMES, LHMConfig
from .network import LHMNetwork


def key_shapes(config: LHMConfig) -> dict[str, list[int]]:
    """{state-dict key: shape} of `LHMNetwork(config)`, built on the meta device."""
    with torch.device("meta"):
        net = LHMNetwork(config)
    return {k: list(v.shape) for k, v in net.state_dict().items()}


def manifest(names: tuple[str, ...] = PRESET_NAMES) -> dict[str, dict[str, list[int]]]:
    """{model name: {key: shape}} for the named presets."""
    return {name: key_shapes(LHMConfig.preset(name)) for name in names}


def parameter_count(shapes: dict[str, list[int]]) -> int:
    total = 0
    for shape in shapes.values():
        n = 1
        for s in shape:
            n *= s
        total += n
    return total


def dumps(data: dict[str, dict[str, list[int]]]) -> str:
    """Stable JSON text, one key per line (readable diffs)."""
    lines = ["{"]
    for i, (model, shapes) in enumerate(sorted(data.items())):
        lines.append(f' "{model}": {{')
        items = sorted(shapes.items())
        lines += [f'  "{k}": {json.dumps(v)}' + ("," if j < len(items) - 1 else "") for j, (k, v) in enumerate(items)]
        lines.append(" }" + ("," if i < len(data) - 1 else ""))
    return "\n".join(lines + ["}"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the manifest JSON here (default: print counts only)")
    args = parser.parse_args(argv)
    data = manifest()
    for name, shapes in data.items():
        print(f"{name}: {len(shapes)} tensors, {parameter_count(shapes):,} values")
    if args.out:
        args.out.write_text(dumps(data), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
