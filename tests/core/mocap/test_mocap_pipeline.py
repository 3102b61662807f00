"""Motion capture end to end: a rendered video of a known motion -> landmarks -> fit -> Motion.

Needs the optional landmark model (mediapipe 0.10.21, `avatar-studio install-landmarks`) and an
OpenGL context (llvmpipe is fine); skipped otherwise.
"""
import numpy as np
import pytest

from avatar_studio.core.errors import CancelledError, InputError
from avatar_studio.core.mocap import landmarks
from avatar_studio.testing import motion_samples as samples
from avatar_studio.testing.evaluate import pa_mpjpe
from avatar_studio.core.mocap.pipeline import capture_motion, overlay_skeleton
from avatar_studio.core.mocap.video import read_frames
from avatar_studio.core.reconstruct.base import CancelToken
from avatar_studio.core.motion.amass import load_amass

pytestmark = pytest.mark.skipif(not landmarks.available(),
                                reason="mediapipe 0.10.21 not installed (avatar-studio install-landmarks)")
SIZE = (640, 360)


@pytest.fixture(scope="module")
def clip(tmp_path_factory, body):
    """1.5 s of arms raised overhead, 640x360 at 20 fps, three-quarter view, textured backdrop."""
    from avatar_studio.testing.synthetic_video import camera_for, render_clip
    from avatar_studio.testing import synthetic as syn
    from avatar_studio.core.render.rendering import probe_gl
    if not probe_gl()[0]:
        pytest.skip("no OpenGL context")
    avatar = syn.make_avatar(syn.random_spec(5), body, 20000)
    motion = samples.arms_overhead(3.0, rest_joints=body.rest_joints(avatar.rig.betas))
    motion = motion.frames(slice(0, 90, 3)).replace(fps=10.0)          # 30 frames, whole move
    camera = camera_for(avatar, body, motion, "three_quarter", *SIZE)
    backdrop = syn.background(SIZE[1], SIZE[0], np.random.default_rng(1), "texture")
    return render_clip(avatar, body, motion, camera, tmp_path_factory.mktemp("mocap") / "arms.mp4",
                       backdrop=backdrop)


@pytest.fixture(scope="module")
def captured(clip, body):
    stages = []
    result = capture_motion(clip.path, body=body, progress=lambda s, f: stages.append((s, f)))
    return result, stages


def test_capture_recovers_the_known_motion(clip, captured):
    result, stages = captured
    motion = result.motion
    assert motion.num_frames == 30 and motion.fps == pytest.approx(10.0)
    assert motion.up_axis == "y" and motion.frame == "world" and motion.flat_hand_mean
    assert result.diagnostics.detected == 30
    assert np.allclose(motion.lhand, 0) and np.allclose(motion.jaw, 0)        # hands and face at rest
    error_mm = 1000 * pa_mpjpe(result.fit.joints, clip.joints_camera)
    assert error_mm < 80, f"PA-MPJPE {error_mm:.1f} mm"
    assert np.nanmean(result.diagnostics.reprojection_px) < 8
    # Progress: the stages in order, fractions rising to 1.
    names = [s for s, _ in stages]
    assert names.index("landmarks") < names.index("fit") < names.index("cleanup") and names[-1] == "done"
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_motion_stands_on_the_floor_and_exports(captured, body, tmp_path):
    from avatar_studio.core.motion.detect import load_motion, save_motion
    motion = captured[0].motion
    joints, _ = body.joint_transforms(motion.full_pose(), motion.betas)
    joints = joints.numpy() + motion.transl[:, None]
    assert abs(np.percentile(joints[:, [7, 8, 10, 11], 1].min(axis=1), 5)) < 0.15       # ankles near y = 0
    assert (joints[:, 15, 1] > joints[:, 0, 1]).all()                                  # head above pelvis
    for name in ("motion.npz", "motion.bvh", "lhm_params"):
        out = save_motion(motion, tmp_path / name, body)
        assert out.exists()
    again = load_motion(tmp_path / "motion.npz", body=body)
    assert again.num_frames == motion.num_frames


def test_overlay_draws_the_skeleton(clip, captured):
    result = captured[0]
    frame = read_frames(clip.path, [int(result.source_indices[12])])[0]
    out = overlay_skeleton(frame, result, 12)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (np.abs(out.astype(int) - frame).sum(-1) > 60).mean() > 0.003
    small = overlay_skeleton(frame[::2, ::2], result, 12)                 # any display size
    assert small.shape == (SIZE[1] // 2, SIZE[0] // 2, 3)
    with pytest.raises(InputError):
        overlay_skeleton(frame, result, 99)


def test_trimmed_and_strided(clip, body):
    result = capture_motion(clip.path, body=body, start=1.0, end=2.5, stride=2)
    assert result.source_indices.tolist() == [10, 12, 14, 16, 18, 20, 22, 24]
    assert result.motion.fps == pytest.approx(5.0) and result.motion.num_frames == 8


def test_video_without_a_person(tmp_path, body):
    from avatar_studio.core.export.video import write_video
    from avatar_studio.testing import synthetic as syn
    backdrop = (syn.background(240, 320, np.random.default_rng(2), "texture") * 255).astype(np.uint8)
    path = write_video(tmp_path / "empty_room.mp4", lambda i: np.roll(backdrop, i, axis=1), 8)
    with pytest.raises(InputError, match="No person found"):
        capture_motion(path, body=body)


def test_corrupt_video(tmp_path, clip, body):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(clip.path.read_bytes()[:2000])
    with pytest.raises(InputError, match="not a readable video"):
        capture_motion(bad, body=body)


@pytest.mark.parametrize("stage", ["landmarks", "fit"])
def test_cancel(clip, body, stage):
    token = CancelToken()

    def progress(name, fraction):
        if name == stage:
            token.cancel()

    with pytest.raises(CancelledError):
        capture_motion(clip.path, body=body, progress=progress, cancel=token)


def test_cli_mocap(clip, tmp_path, capsys):
    from avatar_studio.cli.main import main
    from avatar_studio.core.motion.motion import Motion
    out = tmp_path / "captured.npz"
    assert main(["mocap", str(clip.path), "-o", str(out), "--end", "1.5", "-q"]) == 0
    assert load_amass(out).num_frames == 15
    bad = tmp_path / "noise.mov"
    bad.write_bytes(b"\x00" * 500)
    assert main(["mocap", str(bad), "-o", str(tmp_path / "x.npz")]) == 2
    assert "error:" in capsys.readouterr().err
