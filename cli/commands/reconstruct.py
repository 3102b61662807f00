"""`avatar-studio reconstruct PHOTO -o AVATAR.ply`: one photo -> a rigged avatar PLY."""
from __future__ import annotations

import argparse

from ..options import quiet_option


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from ...core.operations import reconstruct_photo
    from ..progress import ConsoleProgress
    prog = ConsoleProgress("reconstruct", args.quiet)
    path, count = reconstruct_photo(args.photo, args.output, backend=args.backend, model_dir=args.model,
                                     prior_dir=args.prior, device=args.device, gaussians=args.gaussians,
                                     progress=prog.stage)
    prog.done(f"{count:,} Gaussians -> {path}")
    return 0


def register(subparsers) -> None:
    sp = quiet_option(subparsers.add_parser("reconstruct", help="photo -> avatar PLY"))
    sp.add_argument("photo", help="a full-body photo (PNG/JPEG; an alpha channel is used as the person mask)")
    sp.add_argument("-o", "--output", required=True, help="avatar file to write (.ply)")
    sp.add_argument("--backend", default="template", choices=["template", "lhm"])
    sp.add_argument("--model", help="LHM checkpoint folder (config.json + model.safetensors)")
    sp.add_argument("--prior", help="LHM prior folder (pretrained_models)")
    sp.add_argument("--device", default="auto", help="auto, cpu or cuda (LHM)")
    sp.add_argument("--gaussians", type=int, default=None, help="number of Gaussians (template back-end)")
    sp.set_defaults(func=cmd_reconstruct)
