"""`avatar-studio batch JOBS -o OUT`: many photos and motions in one command (core/batch does the work)."""
from __future__ import annotations

import argparse
import sys

from ...core.errors import InputError

EPILOG = """\
JOBS is a folder of photos, a glob ('shoots/**/*.jpg'), or a manifest: CSV with a header row or
JSON (a list of objects). Manifest columns: photo or avatar (one of them), motion, outputs
(e.g. "ply mp4"; kinds: ply mp4 webm gif glb), size, camera, frames, fps, time, backend,
gaussians, renderer, model, prior, body; empty cells take the command-line values. A folder or
glob runs every photo with every --motion.

Outputs go to OUT/<photo>/avatar.ply and OUT/<photo>/<motion>.<kind>; OUT/batch_results.json
records every task (status, seconds, error) as it finishes. Exit status: 0 all done, 1 some
failed (each named in the summary), 130 stopped (run again with --resume to finish).
"""


def _size(text: str) -> tuple[int, int]:
    from ...core.batch.jobs import parse_size
    try:
        return parse_size(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_batch(args: argparse.Namespace) -> int:
    from ...core.batch import JobDefaults, run_batch
    from ...core.batch.jobs import parse_outputs
    defaults = JobDefaults(motions=list(args.motion or []),
                           outputs=parse_outputs(args.outputs) if args.outputs else None,
                           size=args.size, camera=args.camera, frames=args.frames, fps=args.fps,
                           backend=args.backend, gaussians=args.gaussians, renderer=args.renderer,
                           model=args.model, prior=args.prior, body=args.body)
    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1.")
    if args.frames is not None and args.frames < 1:
        raise InputError("--frames must be at least 1.")
    summary = run_batch(args.jobs, args.output, defaults=defaults, engine=args.engine, workers=args.workers,
                        address=args.address, resume=args.resume, quiet=args.quiet)
    resumed = f", {summary.resumed} already done" if summary.resumed else ""
    print(f"batch: {summary.jobs} jobs, {summary.tasks} tasks: {summary.done} done{resumed}, {summary.failed} failed "
          f"in {summary.seconds:.1f} s ({summary.jobs_per_minute:.1f} jobs/min); results in {summary.results_path}",
          file=sys.stderr)
    for task_id, source, error in summary.failures:
        print(f"  failed: {task_id} ({source}): {error}", file=sys.stderr)
    return 1 if summary.failed else 0


def register(subparsers) -> None:
    sp = subparsers.add_parser("batch", help="run many photos x motions in one go (local pool or Ray)",
                               description="Reconstruct, animate and export many jobs with a pool of workers that "
                                           "each load the models once.", epilog=EPILOG,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("jobs", help="folder of photos, .csv/.json manifest, or a glob")
    sp.add_argument("-o", "--output", required=True, help="output folder (a path every Ray node sees, for a cluster)")
    sp.add_argument("--workers", type=int, default=None, help="worker processes (local) or CPUs (local Ray); "
                                                              "default: the CPU count")
    sp.add_argument("--engine", default="local", choices=["local", "ray"])
    sp.add_argument("--address", default=None, help="Ray cluster address (e.g. ray://head:10001 or auto); "
                                                   "default: start a local Ray instance")
    sp.add_argument("--resume", action="store_true", help="skip the tasks an earlier run into OUT finished")
    sp.add_argument("--motion", action="append", help="motion for every photo of a folder/glob (repeatable)")
    sp.add_argument("--outputs", default=None, help="output kinds for rows that name none, e.g. 'ply,mp4' "
                                                    "(default: ply without a motion, mp4 with one)")
    sp.add_argument("--size", type=_size, default=(512, 512), help="video size WxH or N (default 512)")
    sp.add_argument("--camera", default="fixed", choices=["fixed", "turntable", "follow"])
    sp.add_argument("--frames", type=int, default=None, help="at most this many video frames per job")
    sp.add_argument("--fps", type=float, default=None, help="video frame rate (default: the motion's)")
    sp.add_argument("--backend", default="template", choices=["template", "lhm"])
    sp.add_argument("--gaussians", type=int, default=None, help="number of Gaussians (template back-end)")
    sp.add_argument("--renderer", default="auto", choices=["auto", "gl", "gsplat", "cpu"])
    sp.add_argument("--model", help="LHM checkpoint folder")
    sp.add_argument("--prior", help="LHM prior folder")
    sp.add_argument("--body", default=None, help="SMPL-X folder for avatars rigged on the real SMPL-X (LHM)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_batch)
