"""Motion capture on a short clip of the held-out set (issue #20), with a loose bound, so that an
accuracy regression on motion the solver was not tuned on shows in CI.

The clip: the Mixamo take in ../shared/real-data/motion/ (a full turn in place, retargeted by our
BVH importer) on a synthetic subject in dark clothes, filmed near (85 % of the image height) from
60 degrees to the side, 2.3 s at 30 frames/s, rendered small (480x270). The full held-out
benchmark is tests/bench/bench_mocap_heldout.py. Needs ../shared, mediapipe and OpenGL; skipped otherwise.
"""
import numpy as np
import pytest

from avatar_studio.core.mocap import landmarks
from avatar_studio.testing.evaluate import score_capture
from avatar_studio.core.mocap.pipeline import capture_motion
from avatar_studio.testing.synthetic_video import HELD_OUT, held_out_rendered, shared_dir

pytestmark = pytest.mark.skipif(not landmarks.available(),
                                reason="mediapipe 0.10.21 not installed (avatar-studio install-landmarks)")
CLIP = "mixamo_spin_near"


@pytest.fixture(scope="module")
def clip(tmp_path_factory, body):
    from avatar_studio.core.render.rendering import probe_gl
    if not (shared_dir() / "real-data" / "motion").is_dir():
        pytest.skip("../shared/real-data/motion is absent (real BVH files are not part of the repository)")
    if not probe_gl()[0]:
        pytest.skip("no OpenGL context")
    spec = next(c for c in HELD_OUT if c.name == CLIP)
    return held_out_rendered(spec, body, tmp_path_factory.mktemp("heldout"), 480, 270)


def test_held_out_clip_within_a_loose_bound(clip, body):
    result = capture_motion(clip.path, body=body)
    row = score_capture(result, clip.motion, clip.joints_camera, body, clip.motion.betas)
    assert row["detected"] >= 0.9 * row["frames"]
    # Measured: PA-MPJPE 48 mm, MPJPE 78 mm on this clip; the bounds leave room for jitter, not regressions.
    assert row["pa_mpjpe_mm"] < 90, row
    assert row["mpjpe_mm"] < 150, row
    assert len(row["per_joint_mm"]) == 22 and np.isfinite(row["per_joint_mm"]).all()
