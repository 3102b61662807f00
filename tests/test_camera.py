"""core/camera.py: the one home of the cameras (the pinhole Camera, the viewport's orbit camera, the
template photo's camera)."""
import numpy as np
import torch

from avatar_studio.core.camera import BODY_TO_CAMERA, Camera, OrbitCamera, photo_camera


def test_photo_camera_projects_as_the_template_fit_does():
    """The fit's differentiable projection and the photo camera agree, and the reconstructor's
    diagnostics describe that camera."""
    from avatar_studio.core.reconstruct.template.fit import project
    from avatar_studio.core.reconstruct.template.reconstructor import TemplateReconstructor
    rng = np.random.default_rng(0)
    transl = np.array([0.05, -0.2, -3.0], np.float32)
    points = rng.normal(0, 0.4, (50, 3)).astype(np.float32)
    cam = photo_camera(640, 480, 900.0, transl)
    uvz = cam.project(points)
    fit_uv = project(torch.from_numpy(points), torch.from_numpy(transl), 900.0, 320.0, 240.0).numpy()
    np.testing.assert_allclose(uvz[:, :2], fit_uv, atol=1e-3)
    assert (uvz[:, 2] > 0).all()   # the body in front of the camera
    np.testing.assert_allclose((points + transl) * BODY_TO_CAMERA, points @ cam.view[:3, :3].T + cam.view[:3, 3],
                               atol=1e-6)

    class Fit:
        betas = np.zeros(10, np.float32)
    Fit.transl = transl
    d = TemplateReconstructor._camera(np.zeros((480, 640, 3), np.uint8), 900.0, Fit())
    assert (d["fx"], d["cx"], d["cy"], d["width"], d["height"]) == (900.0, 320.0, 240.0, 640, 480)
    np.testing.assert_array_equal(d["view"], cam.view)


def test_orbit_camera_is_a_camera_orbit():
    oc = OrbitCamera(np.array([0.1, 1.0, 0.0]), 3.0, 30.0, 10.0, 40.0)
    cam = oc.camera(320, 240)
    ref = Camera.orbit([0.1, 1.0, 0.0], 3.0, 30.0, 10.0, fov_y_deg=40.0, width=320, height=240)
    np.testing.assert_allclose(cam.view, ref.view, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(cam.position - oc.target), 3.0, atol=1e-5)
