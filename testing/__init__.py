"""The workshop: generators and measuring tools for tests, benchmarks and the shipped resources.

- `standin`: generates the embedded stand-in SMPL-X body (resources/body/smplx/SMPLX_NEUTRAL.npz);
- `synthetic`: synthetic clothed people (ground-truth avatars, the sample photos);
- `motion_samples`: the sample motions (resources/motions) and other generated clips;
- `synthetic_video`: renders a synthetic person performing a motion (motion-capture tests);
- `evaluate`: motion-capture error measures (MPJPE, PA-MPJPE, foot slide).

Nothing in `core`, `app` or `cli` imports this package (tests/test_layers.py checks it), and it is
not part of the installed product (pyproject.toml does not list it).
"""
