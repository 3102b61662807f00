"""Template reconstructor: mask from alpha, the body fit on a synthetic photo, cancellation, and
refusal of bad input. Photos are rendered from our own synthetic people (no downloaded images)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from avatar_studio.core.errors import CancelledError, InputError
from avatar_studio.core.reconstruct.base import CancelToken, Reconstructor, load_image
from avatar_studio.core.reconstruct.template import TemplateReconstructor
from avatar_studio.core.reconstruct.template.mask import mask_from_alpha, person_mask


@pytest.fixture(scope="module")
def photo(body):
    """A synthetic subject photographed from the front (RGBA 384x512, exact alpha)."""
    from avatar_studio.testing import synthetic as syn
    return syn.make_photo(syn.random_spec(7), body, width=384, height=512, num_gaussians=20000)


@pytest.fixture(scope="module")
def recon(body):
    return TemplateReconstructor(body, num_gaussians=12000, keypoint_method="none")


def _backdrop(photo) -> np.ndarray:
    """The photo over a plain light backdrop, as an RGB uint8 image."""
    a = photo.rgba[..., 3:4].astype(np.float32) / 255
    bg = np.array([200, 205, 215], np.float32)
    return (photo.rgba[..., :3] * a + bg * (1 - a)).astype(np.uint8)


# --------------------------------------------------------------------------------------- mask
def test_mask_from_alpha_is_the_alpha(photo):
    found = person_mask(photo.rgba, method="auto")
    assert found.method == "alpha"
    alpha = photo.rgba[..., 3].astype(np.float32) / 255
    kept = found.mask > 0
    assert np.abs(found.mask - alpha)[kept].max() < 1e-6      # the alpha itself, not a re-estimate
    assert np.array_equal(found.mask > 0.5, alpha > 0.5)       # only faint specks away from the person go


def test_opaque_alpha_is_not_a_mask(photo):
    rgba = np.concatenate([_backdrop(photo), np.full(photo.rgba.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert mask_from_alpha(rgba) is None
    with pytest.raises(InputError, match="transparency"):
        person_mask(rgba, method="alpha")


def test_classical_mask_finds_the_person_on_a_plain_backdrop(photo):
    found = person_mask(_backdrop(photo), method="grabcut")
    truth = photo.rgba[..., 3] > 127
    got = found.mask > 0.5
    assert found.method == "grabcut"
    assert (got & truth).sum() / (got | truth).sum() > 0.9


# ---------------------------------------------------------------------------------------- fit
def test_fit_matches_the_true_joints(photo, recon):
    assert isinstance(recon, Reconstructor)
    stages = []
    res = recon.run(photo.rgba, progress=lambda name, f: stages.append((name, f)))
    kp = res.diagnostics.keypoints
    assert kp.shape == (22, 3)
    truth = photo.joints_2d[:22]
    height = np.ptp(np.nonzero(photo.rgba[..., 3] > 127)[0])
    err = np.linalg.norm(kp[:, :2] - truth, axis=1) / height
    assert err.mean() < 0.03, err.round(3)         # measured: ~0.012-0.02 of the height
    assert np.median(err) < 0.025
    # The avatar is complete and animatable, the progress ran through every stage in order.
    assert len(res.avatar.gaussians) == 12000 and len(res.avatar.rig) == 12000
    assert res.diagnostics.fitted_pose.shape == (55, 3)
    # Canonical space is a standing T-pose of about the template's size (arms out along x).
    extent = np.ptp(res.avatar.gaussians.means, axis=0)
    assert 1.4 < extent[1] < 2.1 and 1.3 < extent[0] < 2.2 and extent[2] < 0.6, extent
    assert [s for s, _ in stages if s != "done"][0] == "mask" and stages[-1] == ("done", 1.0)
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions)
    assert {"mask", "fit", "colour", "canonical"} <= set(res.diagnostics.timings)
    # Colours came from the photo: the front view's mean colour is close to the photo's.
    person = photo.rgba[..., 3] > 200
    assert np.abs(res.avatar.gaussians.colors.mean(0) - photo.rgba[person, :3].mean(0) / 255).max() < 0.12


# ------------------------------------------------------------------------------------- cancel
@pytest.mark.parametrize("stage", ["mask", "fit"])
def test_cancel_from_another_thread_takes_effect_within_a_second(photo, recon, stage):
    """Cancel mid-run (during the classical segmentation, or during the body fit)."""
    image = _backdrop(photo) if stage == "mask" else photo.rgba
    r = TemplateReconstructor(recon.body, num_gaussians=12000, mask_method="grabcut" if stage == "mask" else "alpha",
                              keypoint_method="none")
    token = CancelToken()
    outcome: dict[str, object] = {}
    fitting = threading.Event()

    def progress(name: str, fraction: float) -> None:
        if name == stage and fraction > (0.16 if stage == "fit" else 0.0):
            fitting.set()

    def work() -> None:
        try:
            r.run(image, progress=progress, cancel=token)
            outcome["result"] = "finished"
        except CancelledError as err:
            outcome["result"] = err
        outcome["t"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    assert fitting.wait(10)  # mid-run: the stage has started
    t_cancel = time.perf_counter()
    token.cancel()
    thread.join(5)
    assert isinstance(outcome.get("result"), CancelledError)
    assert outcome["t"] - t_cancel < 1.0


# --------------------------------------------------------------------------------- bad inputs
def test_unreadable_file(tmp_path):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    with pytest.raises(InputError, match="not a readable image"):
        load_image(bad)


def test_tiny_image(recon):
    with pytest.raises(InputError, match="at least"):
        recon.run(np.zeros((40, 30, 3), np.uint8))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (9000, 8000)).save(bomb)      # 72 megapixels in a few kilobytes
    assert bomb.stat().st_size < 200_000
    with pytest.raises(InputError, match="megapixels|too large"):
        load_image(bomb)


@pytest.mark.parametrize("method", ["auto", "grabcut"])
def test_blank_image_has_no_person(recon, method):
    rng = np.random.default_rng(0)
    blank = np.clip(rng.normal(180, 3, (480, 360, 3)), 0, 255).astype(np.uint8)
    r = TemplateReconstructor(recon.body, num_gaussians=5000, mask_method=method, keypoint_method="none")
    with pytest.raises(InputError, match="No person"):
        r.run(blank)


@pytest.mark.parametrize("use_alpha", [True, False])
def test_two_people_are_refused(photo, recon, use_alpha):
    one = photo.rgba if use_alpha else _backdrop(photo)
    two = np.concatenate([one, one[:, ::-1]], axis=1)
    r = TemplateReconstructor(recon.body, num_gaussians=5000, mask_method="auto" if use_alpha else "grabcut",
                              keypoint_method="none")
    with pytest.raises(InputError, match="2 people"):
        r.run(two)
