"""The Qt-free scene model: items, time, events, placement, and skinning for the viewport."""
import numpy as np
import pytest

from avatar_studio.core.avatar import Avatar, Rig
from avatar_studio.core.motion.motion import Motion
from avatar_studio.core.scene import AvatarItem, Placement, Scene, SplatsItem
from avatar_studio.core.skinning import dense_to_sparse_weights
from support import random_gaussians


@pytest.fixture
def avatar(body, rng):
    v, _ = body.shaped()
    sel = rng.choice(body.num_vertices, 300, replace=False)
    g = random_gaussians(300, rng).replace(means=v[sel])
    idx, w = dense_to_sparse_weights(body.weights[sel], 4)
    return Avatar(g, Rig(idx, w))


def waving_motion(frames=30):
    fp = np.zeros((frames, 55, 3), np.float32)
    fp[:, 17, 2] = np.linspace(0, 1.5, frames)  # right shoulder raises
    return Motion.from_full_pose(fp, np.zeros((frames, 3)), fps=30)


def test_events_and_time(body, avatar):
    scene = Scene(body)
    seen = []
    scene.events.connect(lambda name, payload: seen.append(name))
    item = scene.add(AvatarItem("a", avatar=avatar))
    assert seen[:2] == ["items", "selection"] and scene.selected is item
    scene.set_motion(item, waving_motion())
    assert scene.duration == pytest.approx(1.0) and scene.num_frames == 30
    scene.set_time(5.0)
    assert scene.time == pytest.approx(1.0) and seen[-1] == "time"  # clamped to the clip
    scene.set_frame(15)
    assert scene.frame == 15
    scene.remove(item)
    assert scene.items == [] and scene.selected is None


def test_posed_gaussians_change_with_time(body, avatar):
    scene = Scene(body)
    item = scene.add(AvatarItem("a", avatar=avatar, motion=waving_motion()))
    a = scene.gaussians_at(0.0).means
    b = scene.gaussians_at(0.9).means
    assert np.abs(a - b).max() > 0.05
    item.visible = False
    assert len(scene.gaussians_at(0.5)) == 0


def test_gpu_skinning_data_matches_cpu_skinning(body, avatar):
    """The transforms handed to a GPU skinner reproduce the CPU-posed, placed Gaussians."""
    item = AvatarItem("a", avatar=avatar, motion=waving_motion(),
                      placement=Placement(np.array([1.0, 0.0, -2.0], np.float32), yaw_deg=30.0))
    t = 0.7
    rel, _, joints = item.skinning(body, t)
    g = avatar.gaussians
    idx, w = avatar.rig.skin_indices, avatar.rig.skin_weights
    m = np.einsum("nk,nkab->nab", w, rel[idx])
    gpu_means = np.einsum("nab,nb->na", m[:, :3, :3], g.means) + m[:, :3, 3]
    cpu = item.gaussians_at(body, t)
    np.testing.assert_allclose(gpu_means, cpu.means, atol=1e-4)
    assert joints.shape == (55, 3)


def test_several_items_concatenate(body, avatar, rng):
    scene = Scene(body)
    scene.add(AvatarItem("a", avatar=avatar))
    scene.add(SplatsItem("b", gaussians=random_gaussians(50, rng, 3)))
    g = scene.gaussians_at()
    assert len(g) == 350 and g.sh_degree == 3
    lo, hi = scene.bounds()
    assert np.all(hi > lo)


@pytest.mark.parametrize("az,el,size", [(0, 0, (512, 512)), (35, 10, (640, 360)), (90, -20, (300, 600))])
def test_framing_fits_the_box_tightly(az, el, size):
    from avatar_studio.core.render.base import Camera
    lo, hi = np.array([-0.3, -1.1, -0.2]), np.array([0.3, 0.6, 0.25])  # a standing person
    cam = Camera.framing(lo, hi, az, el, 35.0, *size)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    uvz = cam.project(corners)
    assert np.all(uvz[:, 2] > cam.near)
    assert np.all((uvz[:, 0] >= 0) & (uvz[:, 0] <= size[0]) & (uvz[:, 1] >= 0) & (uvz[:, 1] <= size[1]))
    # Tight: the box spans most of the image along at least one axis.
    span = max((uvz[:, 0].max() - uvz[:, 0].min()) / size[0], (uvz[:, 1].max() - uvz[:, 1].min()) / size[1])
    assert span > 0.8


def test_snapshot_is_detached(body, avatar):
    scene = Scene(body)
    item = scene.add(AvatarItem("a", avatar=avatar, motion=waving_motion()))
    heard = []
    scene.events.connect(lambda n, p: heard.append(n))
    snap = scene.snapshot()
    snap.set_time(0.5)
    snap.items[0].visible = False
    assert heard == [] and item.visible and snap.selected is snap.items[0]


def test_scene_animation_renders_every_avatar(body, avatar, gl, tmp_path):
    """Video export of a scene shows all placed avatars, not only the selected one."""
    from avatar_studio.core.export.animation import AnimationSettings, SceneAnimation
    from avatar_studio.core.export.video import write_video
    scene = Scene(body)
    scene.add(AvatarItem("left", avatar=avatar, motion=waving_motion(),
                         placement=Placement(np.array([-0.8, 0, 0], np.float32))))
    scene.add(AvatarItem("right", avatar=avatar, placement=Placement(np.array([0.8, 0, 0], np.float32))))
    anim = SceneAnimation(scene, gl, AnimationSettings(width=160, height=96, fps=10, azimuth_deg=0, elevation_deg=0))
    frame = anim.render(0)
    figure = frame.astype(int).sum(-1) < 700
    cols = np.nonzero(figure.any(0))[0]
    assert cols.min() < 60 and cols.max() > 100  # both sides of the frame hold a figure
    out = write_video(tmp_path / "scene.gif", anim, anim.num_frames)
    assert out.stat().st_size > 0 and anim.num_frames == 10


def test_scene_animation_skins_a_lone_avatar_on_the_device(body, avatar, gl):
    """A one-avatar scene (the usual GUI export) uploads the avatar once and sends bone transforms
    each frame, like the viewport (the same scene pass); its frames match posing on the CPU. Each
    further item is one more upload and one more draw a frame."""
    from avatar_studio.core.export.animation import AnimationSettings, SceneAnimation
    from avatar_studio.core.render.reference import psnr
    scene = Scene(body)
    scene.add(AvatarItem("a", avatar=avatar, motion=waving_motion(),
                         placement=Placement(np.array([0.3, 0.0, -0.5], np.float32), yaw_deg=30.0)))
    calls = {"set_avatar": 0, "render_avatar": 0}
    originals = {name: getattr(gl, name) for name in calls}

    def counted(name):
        def call(*a, **k):
            calls[name] += 1
            return originals[name](*a, **k)
        return call

    for name in calls:
        setattr(gl, name, counted(name))
    try:
        anim = SceneAnimation(scene, gl, AnimationSettings(width=128, height=128, fps=10, camera_mode="follow"))
        frames = {i: anim.render(i) for i in (0, 5, 9)}
        assert calls == {"set_avatar": 1, "render_avatar": 3}
        for i, frame in frames.items():
            cpu = gl.render(scene.gaussians_at(anim.time_of(i)), anim.camera(i), background=(1.0, 1.0, 1.0)).rgb8()
            assert psnr(frame / 255.0, cpu / 255.0) >= 40
            assert (frame.astype(int).sum(-1) < 740).mean() > 0.01   # the avatar is in the frame
        # A second visible item: uploaded once, drawn each frame.
        scene.add(AvatarItem("b", avatar=avatar, placement=Placement(np.array([-0.8, 0, 0], np.float32))))
        calls.update(set_avatar=0, render_avatar=0)
        two = SceneAnimation(scene, gl, AnimationSettings(width=128, height=128, fps=10))
        two.render(3)
        two.render(4)
        assert calls == {"set_avatar": 1, "render_avatar": 4}  # "a" is still uploaded: same item, same revision
    finally:
        for name, fn in originals.items():
            setattr(gl, name, fn)


def test_items_share_one_timeline_and_agree_on_frames(body, avatar, rng):
    """Avatar and sequence items at one frame rate show the same frame index at every time (the frame
    whose interval holds t, clamped to the clip); a still is always frame 0."""
    from avatar_studio.core.scene import SequenceItem, Timeline
    from avatar_studio.core.sequence import GaussianSequence, MemorySource
    a = AvatarItem("a", avatar, motion=waving_motion(30))
    s = SequenceItem("s", GaussianSequence(MemorySource([random_gaussians(5, rng)] * 30), fps=30))
    still = SplatsItem("still", random_gaussians(5, rng))
    for item in (a, s, still):
        assert isinstance(item, Timeline)
    times = np.concatenate([np.linspace(-0.5, 1.5, 97), np.arange(30) / 30.0])
    assert [a.frame_at(t) for t in times] == [s.frame_at(t) for t in times]
    assert a.frame_at(1 / 30) == 1 and a.frame_at(5.0) == 29 and a.frame_at(-1.0) == 0
    assert still.frame_at(2.0) == 0 and still.duration == 0 and still.fps is None
    assert a.duration == pytest.approx(s.duration) and a.fps == s.fps == 30
    for kind in (AvatarItem, SplatsItem, SequenceItem):   # an item always carries its body
        with pytest.raises(TypeError):
            kind("empty")
    assert (a.gaussians, still.avatar, s.motion) == (None, None, None)   # the other kinds' bodies read None


def test_scene_methods_emit_and_bump_revisions(body, avatar, rng):
    """Every change goes through a scene method that emits its event and bumps the scene's and the item's
    revision (what caches key on); time changes neither revision."""
    scene = Scene(body)
    heard = []
    scene.events.connect(lambda name, payload: heard.append(name))
    a = scene.add(AvatarItem("a", avatar, motion=waving_motion()))
    b = scene.add(SplatsItem("b", random_gaussians(20, rng)), select=False)
    r0, ra, rb = scene.revision, a.revision, b.revision
    scene.set_time(0.5)
    assert (scene.revision, a.revision) == (r0, ra)
    scene.set_placement(b, Placement(np.array([1.0, 0, 0], np.float32)))
    scene.set_visible(a, False)
    scene.rename(a, "anna")
    scene.set_gaussians(b, random_gaussians(10, rng))
    assert heard[-4:] == ["item"] * 4 and a.avatar.name == "anna" and len(b.gaussians) == 10
    assert scene.revision == r0 + 4 and a.revision == ra + 2 and b.revision == rb + 2
    assert (a.content_revision, b.content_revision) == (ra + 1, rb + 1)   # moves and renames leave content alone
    key = scene.content_key
    scene.set_placement(b, Placement(np.array([2.0, 0, 0], np.float32)))
    assert scene.content_key == key
    assert scene.remove(a) == 0 and scene.items == [b] and heard[-1] == "items"
    scene.add(a, index=0)
    assert scene.items == [a, b] and scene.index_of(b) == 1
    assert scene.unique_name("b") == "b (2)" and scene.unique_name("b", exclude=b) == "b"


def test_a_new_avatar_stands_beside_the_others(body, avatar):
    """Where a new item stands is the scene's decision: beside the rightmost of its kind, with a gap."""
    from avatar_studio.core.scene import NEIGHBOUR_GAP_M
    scene = Scene(body)
    first = AvatarItem("a", avatar)
    assert not scene.place_new(first) and first.placement.is_identity()
    scene.add(first)
    second = AvatarItem("b", avatar)
    assert scene.place_new(second)
    scene.add(second)
    assert scene.x_extent(second)[0] == pytest.approx(scene.x_extent(first)[1] + NEIGHBOUR_GAP_M, abs=1e-4)
