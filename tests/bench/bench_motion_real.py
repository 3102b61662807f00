"""Real third-party BVH files retargeted onto SMPL-X (a script that prints figures; not a test).

    python tests/bench/bench_motion_real.py [FOLDER]      # default ../shared/real-data/motion

One row per file: limb direction error after one best global rotation, uprightness (this retarget /
the source), facing against the travel, hip height above the floor, hip path, foot sliding on the
source's contact frames (see core/motion/fidelity.py), and the seconds the retarget took.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from avatar_studio.core.errors import StudioError
from avatar_studio.core.motion.bvh import read_bvh
from avatar_studio.core.motion.conventions import rest_joints_of
from avatar_studio.core.motion.fidelity import measure
from avatar_studio.core.motion.retarget import resolve_mapping, retarget_bvh


def main() -> None:
    default = Path(__file__).resolve().parents[2].parent / "shared" / "real-data" / "motion"
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    files = sorted(folder.glob("*.bvh"))
    if not files:
        sys.exit(f"no BVH files in {folder}")
    rest = rest_joints_of(None)
    print("file | limb° | upright° (src) | facing° | hips m (src) | path m (src) | slide cm/s (src) | s")
    for path in files:
        clip = read_bvh(path)
        start = time.perf_counter()
        try:
            motion = retarget_bvh(clip, rest)
        except StudioError as err:
            print(f"{path.name} | refused: {str(err)[:90]}...")
            continue
        seconds = time.perf_counter() - start
        f = measure(clip, resolve_mapping(clip.skeleton), motion, rest)
        print(f"{path.name} | {f.limb_error_deg:.1f} | {f.upright_deg:.1f} ({f.source_upright_deg:.1f}) | "
              f"{f.facing_deg:.1f} | {f.pelvis_height:.3f} ({f.source_pelvis_height:.3f}) | "
              f"{f.path:.2f} ({f.source_path:.2f}) | {100 * f.slide:.1f} ({100 * f.source_slide:.1f}) | {seconds:.2f}")


if __name__ == "__main__":
    main()
