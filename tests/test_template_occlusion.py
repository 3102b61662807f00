"""Occlusions, held objects and clean edges in the template reconstructor (issue #21): the shell
beyond the body takes its depth and skinning from the body part it adjoins in the photo, a region a
hand holds hangs rigidly from that hand, and the outline's background-coloured fringe is left out."""
from __future__ import annotations

import numpy as np
import pytest

from avatar_studio.testing import synthetic as syn
from avatar_studio.core.reconstruct.template.clothing import depth_layers, extra_sites, geodesic_nearest
from avatar_studio.core.reconstruct.template.colour import hand_colours
from avatar_studio.core.reconstruct.template.mask import background_edge
from avatar_studio.core.reconstruct.template.view import PhotoView

HEAD, ARM = 1, 3


def _view(mask: np.ndarray, rgb: np.ndarray | None = None) -> PhotoView:
    h, w = mask.shape
    rgb = np.zeros((h, w, 3), np.float32) if rgb is None else rgb
    return PhotoView(rgb, mask.astype(np.float32), 200.0, 200.0, w / 2, h / 2, 0, 0, 1.0)


def _disc_sites(view: PhotoView, cu: float, cv: float, radius_px: float, z_front: float, z_back: float,
                step: float = 0.5) -> np.ndarray:
    """[N,3] camera-frame sites filling a disc of the view at two depths (a front and a back surface)."""
    uu, vv = np.meshgrid(np.arange(cu - radius_px, cu + radius_px, step),
                         np.arange(cv - radius_px, cv + radius_px, step))
    keep = np.hypot(uu - cu, vv - cv) < radius_px
    u, v = uu[keep], vv[keep]
    return np.concatenate([view.unproject(u, v, np.full(u.size, z)) for z in (z_front, z_back)])


def _hand_before_face() -> tuple[PhotoView, np.ndarray, np.ndarray, np.ndarray]:
    """A head (disc, 2.0 to 2.2 m) with a hand (small disc, 1.84 to 1.86 m) in front of it; the
    photo's hand reaches beyond the fitted one (a ring of person pixels no site covers)."""
    size = 96
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    head_px = np.hypot(xx - 48, yy - 48) < 30
    hand_px = np.hypot(xx - 48, yy - 75) < 12           # fingers beyond the fitted hand, below the chin
    view = _view(head_px | hand_px)
    head = _disc_sites(view, 48, 48, 30, 2.0, 2.2)
    hand = _disc_sites(view, 48, 72, 6, 1.84, 1.86)
    cam = np.concatenate([head, hand]).astype(np.float32)
    part = np.concatenate([np.full(len(head), HEAD), np.full(len(hand), ARM)])
    wrist = np.concatenate([np.full(len(head), -1), np.full(len(hand), 21)])
    return view, cam, part, wrist


def test_back_layer_is_the_front_parts_own():
    view, cam, part, _ = _hand_before_face()
    zf, zb, _, _ = depth_layers(view, cam)
    zf_p, zb_p, _, back = depth_layers(view, cam, part)
    at_hand = 72, 48
    assert zf[at_hand] == pytest.approx(1.84, abs=1e-3) and zb[at_hand] == pytest.approx(2.2, abs=1e-3)
    assert zf_p[at_hand] == pytest.approx(1.84, abs=1e-3) and zb_p[at_hand] == pytest.approx(1.86, abs=1e-3)
    assert part[back[at_hand]] == ARM
    assert zb_p[48, 48] == pytest.approx(2.2, abs=1e-3)      # the face's own back is untouched


def test_shell_beyond_a_hand_in_front_of_the_face_stays_at_the_hand():
    """The fingers beyond the fitted hand get a thin shell at the hand's depth, bound to the hand,
    not a stick from the hand to the back of the head."""
    view, cam, part, wrist = _hand_before_face()
    ex = extra_sites(view, cam, spacing=0.005, part=part, hand_joint=wrist)
    below_hand = (ex.uv[:, 1] > 80) & (np.abs(ex.uv[:, 0] - 48) < 3)    # fingers straight below the hand
    assert below_hand.sum() > 10
    assert np.all(part[ex.source[below_hand]] == ARM)
    assert ex.cam[below_hand, 2].max() < 1.95 and ex.cam[below_hand, 2].min() > 1.75
    old = extra_sites(view, cam, spacing=0.005)              # without parts: the hand-to-nape span
    assert old.cam[(old.uv[:, 1] > 80) & (np.abs(old.uv[:, 0] - 48) < 3), 2].max() > 2.0


def test_geodesic_nearest_follows_the_outline():
    """A strand hanging from the top seed ends 2 px from another seed across the background: along
    the outline it still belongs to the top one."""
    region = np.zeros((40, 40), bool)
    region[5:30, 10] = True                             # the strand
    seeds = np.zeros((40, 40), bool)
    seeds[3:5, 8:13] = True                             # what it hangs from
    seeds[28:31, 13:16] = True                          # something else, near its end
    sy, sx, dist = geodesic_nearest(region, seeds)
    assert sy[29, 10] < 5 and 8 <= sx[29, 10] < 13
    assert dist[29, 10] == pytest.approx(25.0, abs=1.0)
    assert np.isinf(dist[35, 35])                       # off region and seeds


def test_held_region_hangs_rigidly_from_the_wrist():
    """A large region below the hand that touches only the hand is a held object: rigid on the
    wrist, centred at the hand's depth and not as deep as it is wide."""
    size = 120
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    arm_px = (np.abs(xx - 60) < 5) & (yy > 5) & (yy < 40)
    bag_px = (np.abs(xx - 60) < 25) & (yy >= 40) & (yy < 100)
    view = _view(arm_px | bag_px)
    uu, vv = np.meshgrid(np.arange(55.5, 65, 0.4), np.arange(5.5, 40, 0.4))
    arm = np.concatenate([view.unproject(uu.ravel(), vv.ravel(), np.full(uu.size, z)) for z in (1.5, 1.54)])
    part = np.full(len(arm), ARM)
    wrist = np.where(view.project(arm)[:, 1] > 30, 20, -1)
    ex = extra_sites(view, arm.astype(np.float32), spacing=0.005, part=part, hand_joint=wrist)
    bag = ex.uv[:, 1] > 50
    assert bag.sum() > 100
    assert np.all(ex.joint[bag] == 20)
    depth = ex.cam[bag, 2]
    width = 50 * 1.5 / view.fx
    assert abs(float(np.median(depth)) - 1.52) < 0.03 and np.ptp(depth) < width


def test_a_region_touching_no_hand_is_not_held():
    view, cam, part, wrist = _hand_before_face()
    wrist = np.full_like(wrist, -1)
    ex = extra_sites(view, cam, spacing=0.005, part=part, hand_joint=wrist)
    assert np.all(ex.joint == -1)


def test_background_fringe_of_a_loose_mask_is_found():
    """A red figure on a grey wall, segmented 3 px too wide: the grey fringe is flagged, the figure
    (whose colour varies) is not."""
    size = 80
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    figure = (np.abs(xx - 40) < 15) & (np.abs(yy - 40) < 30)
    rgb = np.full((size, size, 3), 0.55, np.float32)
    rgb[figure] = np.stack([0.8 + 0.1 * np.sin(yy[figure] / 3), 0.15 + 0 * yy[figure], 0.2 + 0 * yy[figure]], -1)
    loose = (np.abs(xx - 40) < 18) & (np.abs(yy - 40) < 33)
    bad = background_edge(rgb, loose, band_px=4.0)
    fringe = loose & ~figure
    assert bad[fringe].mean() > 0.9
    assert not bad[figure].any()


def test_unseen_hand_sites_take_the_hands_colour():
    rgb = np.zeros((20, 3), np.float32)
    rgb[:10] = (0.9, 0.7, 0.6)                          # seen skin
    rgb[10:] = (0.1, 0.1, 0.4)                          # propagated sleeve
    visible = np.arange(20) < 10
    hand = np.full(20, 21)
    out = hand_colours(rgb, visible, hand)
    assert np.allclose(out[10:], (0.9, 0.7, 0.6), atol=1e-3)
    assert np.allclose(hand_colours(rgb, visible, np.full(20, -1)), rgb)


@pytest.mark.parametrize("case", syn.HARD_CASES)
def test_hard_cases_pose_the_hands_where_they_say(case):
    from avatar_studio.core.body.model import default_body_model
    body = default_body_model()
    spec = syn.hard_spec(300, case)
    assert spec.case == case and spec.pose_array.shape == (55, 3)
    joints = body.joint_transforms(spec.pose_array[None], np.asarray(spec.betas, np.float32))[0][0].numpy()
    head, wrists = joints[15], joints[[20, 21]]
    if case == "hand_face":
        assert np.linalg.norm(wrists - head, axis=1).min() < 0.15
    if case in ("hand_torso", "crossed_arms"):
        assert np.linalg.norm(wrists - joints[6], axis=1).min() < 0.3   # in front of the belly / chest
    if case in ("bag", "box"):
        av = syn.make_avatar(spec, body, num_gaussians=6000)
        rigid = (av.rig.skin_indices[:, 0] == spec.held_wrist) & (av.rig.skin_weights[:, 0] > 0.999)
        assert rigid.sum() >= 6000 // 12 - 1
        for pose in (spec.pose_array, np.zeros((55, 3), np.float32)):
            g = av.posed(body, pose)
            wrist = body.joint_transforms(pose[None], np.asarray(spec.betas, np.float32))[0][0, spec.held_wrist].numpy()
            assert np.linalg.norm(g.means[rigid] - wrist, axis=1).max() < 0.6     # it goes where the hand goes
        posed = av.posed(body, spec.pose_array).means[rigid]
        assert np.median(posed[:, 1]) < wrists[spec.held_wrist - 20, 1] - 0.1     # hanging below the hand


def test_busy_background_is_cluttered():
    img = syn.background(200, 150, np.random.default_rng(0), "busy")
    assert img.shape == (200, 150, 3) and img.dtype == np.float32
    assert len(np.unique((img[::4, ::4] * 8).astype(int).reshape(-1, 3), axis=0)) > 20


@pytest.mark.parametrize("colour, kept", [((0.1, 0.2, 0.9), False), ((0.85, 0.1, 0.1), True)])
def test_a_region_unlike_the_body_it_leaves_is_left_out_far_from_it(colour, kept):
    """In a segmented photo, a blue shelf joined to a red figure loses its part beyond 6 cm; a red
    skirt-like region of the same shape stays (exact mattes keep both)."""
    size = 100
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    body_px = np.hypot(xx - 35, yy - 50) < 20
    region = (xx >= 50) & (xx < 85) & (np.abs(yy - 50) < 12)
    rgb = np.zeros((size, size, 3), np.float32)
    rgb[body_px] = (0.85, 0.1, 0.1)
    rgb[region & ~body_px] = colour
    view = _view(body_px | region, rgb)
    cam = _disc_sites(view, 35, 50, 20, 1.5, 1.6).astype(np.float32)
    part = np.zeros(len(cam), np.int64)
    far_px = 0.06 * view.fx / 1.55
    dropped = extra_sites(view, cam, 0.005, 1, part, np.full(len(cam), -1), drop_unlike=True)
    exact = extra_sites(view, cam, 0.005, 1, part, np.full(len(cam), -1), drop_unlike=False)
    beyond = exact.uv[:, 0] > 55 + far_px + 2
    assert beyond.sum() > 50
    assert (dropped.uv[:, 0] > 55 + far_px + 2).any() == kept


def test_hand_points_reach_past_the_wrist():
    from avatar_studio.core.reconstruct.template.reconstructor import hand_points
    kp = np.zeros((22, 3), np.float32)
    kp[18], kp[20] = (100, 100, 1), (100, 150, 1)      # left elbow, wrist: forearm pointing down
    kp[21] = (300, 150, 1)                              # right wrist without its elbow
    pts = hand_points(kp)
    assert pts.shape == (3, 2)
    assert np.allclose(pts[1], (100, 180)) and np.allclose(pts[2], (300, 150))
    assert hand_points(np.zeros((22, 3), np.float32)).shape == (0, 2)
