"""Accuracy and speed of motion capture from video (issue #9), against known truth.

1. One of our synthetic avatars (clothed Gaussians on the embedded body) performs five known
   motions (walk, wave, turn, squat, arms overhead; `testing/motion_samples.py`), rendered by our
   renderer to 1280x720 H.264 videos from a front and a three-quarter camera (40 degree vertical
   field of view, 5 degrees above the subject, over a textured backdrop).
2. `capture_motion` runs on each video with its default settings: it guesses the camera's field
   of view (60 degrees across the long side; the true value is 65.8) and knows nothing else.
3. The captured motion is compared with the truth over the 22 body joints (the truth at the
   avatar's own betas, the capture at the betas it fitted):
   * PA-MPJPE: per-frame Procrustes-aligned mean joint error;
   * MPJPE: pelvis-aligned, after turning the truth into the capture's world frame (the capture
     knows the camera only up to that rotation: its yaw is kept, pitch and roll come from the floor);
   * N-MPJPE: MPJPE after the best per-frame scale: without the person's size, which one camera
     cannot measure (the default subject is 1.88 m tall, 10 % over the mean shape: 45 mm of
     MPJPE on its own);
   * joint-angle error: geodesic angle between local rotations of the 21 body joints;
   * foot slide: mean horizontal speed of the capture's heels and toes over the frames where the
     truth has them planted (within 2 cm of the floor and slower than 0.2 m/s), and the truth's own
     figure over the same frames for reference;
   * fps: video frames per second of wall time, end to end (decode, landmarks, fit, clean-up).

Also writes `resources/docs/mocap_side_by_side.gif` (source video | another avatar driven by the
captured motion), under 2 MB.

    python tests/bench/bench_mocap.py                  # all motions, both cameras
    python tests/bench/bench_mocap.py --motions squat --views front --no-gif
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

from avatar_studio import PACKAGE_DIR
from avatar_studio.core.body.model import default_body_model
from avatar_studio.testing import motion_samples as samples
from avatar_studio.testing.evaluate import body_joints, score_capture
from avatar_studio.core.mocap.pipeline import MocapResult, capture_motion
from avatar_studio.testing.synthetic_video import RenderedClip, camera_for, render_clip
from avatar_studio.testing import synthetic as syn
from avatar_studio.core.render.rendering import create_renderer

GIF_PATH = PACKAGE_DIR / "resources" / "docs" / "mocap_side_by_side.gif"
OUT_DIR = PACKAGE_DIR / "tests" / "bench" / "output" / "mocap"
MOTIONS = ("walk", "wave", "turn", "squat", "arms_overhead")
VIEWS = ("front", "three_quarter")


def score(result: MocapResult, clip: RenderedClip, body, betas: np.ndarray) -> dict:
    """The figures of one capture against its truth (`betas`: the subject's): the held-out bench's
    `score_capture` and the mean reprojection error."""
    return {**score_capture(result, clip.motion, clip.joints_camera, body, betas),
            "reprojection_px": float(np.nanmean(result.diagnostics.reprojection_px))}


def person_box(result: MocapResult, width: int, height: int, pad: float = 0.12) -> tuple[int, int, int]:
    """(x0, y0, side) of a square around every landmark of the clip, in `width` x `height` pixels."""
    lm = result.landmarks
    px = lm.pixels()[lm.present] * (width / lm.width)
    lo, hi = px.reshape(-1, 2).min(0), px.reshape(-1, 2).max(0)
    side = int(min(max(hi - lo) * (1 + 2 * pad), width, height))
    centre = (lo + hi) / 2
    x0 = int(np.clip(centre[0] - side / 2, 0, width - side))
    y0 = int(np.clip(centre[1] - side / 2, 0, height - side))
    return x0, y0, side


def side_by_side_gif(clip: RenderedClip, result: MocapResult, body, path: Path, size: int = 240,
                     fps: float = 10.0, seed: int = 11) -> Path:
    """GIF: the source video (cropped to the person) | another synthetic avatar performing the
    captured motion, seen from the front-left."""
    from avatar_studio.core.export.video import VideoOptions, write_video
    from avatar_studio.core.mocap.video import read_frames
    from avatar_studio.core.render.base import Camera
    from PIL import Image
    avatar = syn.make_avatar(syn.random_spec(seed), body, 30000)
    motion = result.motion
    step = max(1, int(round(motion.fps / fps)))
    idx = np.arange(0, motion.num_frames, step)
    src = read_frames(clip.path, result.source_indices[idx].tolist())
    x0, y0, side = person_box(result, src[0].shape[1], src[0].shape[0])
    joints = body_joints(motion, body, avatar.rig.betas).reshape(-1, 3)
    cam = Camera.framing(joints.min(0) - [0.15, 0.12, 0.15], joints.max(0) + [0.15, 0.25, 0.15], 25.0, 8.0, 35.0,
                         size, size, margin=0.8)
    renderer = create_renderer("gl")

    def frame(k: int) -> np.ndarray:
        i = idx[k]
        left = np.asarray(Image.fromarray(src[k][y0:y0 + side, x0:x0 + side]).resize((size, size),
                                                                                   Image.Resampling.LANCZOS))
        posed = avatar.posed(body, motion.full_pose()[i], motion.transl[i])
        right = renderer.render(posed, cam, background=(1.0, 1.0, 1.0)).rgb8()
        return np.concatenate([left, np.full((size, 4, 3), 255, np.uint8), right], axis=1)

    try:
        write_video(path, frame, len(idx), VideoOptions(fps=motion.fps / step))
    finally:
        renderer.close()
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--motions", nargs="+", default=list(MOTIONS), choices=MOTIONS)
    ap.add_argument("--views", nargs="+", default=list(VIEWS), choices=VIEWS)
    ap.add_argument("--seed", type=int, default=3, help="synthetic subject (clothes, hair, betas)")
    ap.add_argument("--out", default=str(OUT_DIR), help="folder for the rendered videos and results.json")
    ap.add_argument("--reuse", action="store_true", help="reuse rendered videos already in --out")
    ap.add_argument("--no-gif", action="store_true")
    ap.add_argument("--gif-clip", default="arms_overhead/three_quarter", help="motion/view shown in the GIF")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    body = default_body_model()
    spec = syn.random_spec(args.seed)
    avatar = syn.make_avatar(spec, body, 40000)
    rest_joints = body.rest_joints(avatar.rig.betas)
    renderer = create_renderer("gl")
    rows, keep = [], {}
    print(f"body: {'stand-in' if body.is_standin else 'SMPL-X'} ({body.file}); subject seed {args.seed}; "
          f"1280x720 H.264, fov_y 40 deg (capture assumes 60 deg across)", flush=True)
    try:
        for name in args.motions:
            motion = samples.MOTIONS[name](rest_joints=rest_joints)
            for view in args.views:
                path = out / f"{name}_{view}.mp4"
                cam = camera_for(avatar, body, motion, view, 1280, 720)
                backdrop = syn.background(720, 1280, np.random.default_rng(7), "texture")
                if args.reuse and path.is_file():
                    from avatar_studio.testing.synthetic_video import posed_body_joints
                    world = posed_body_joints(avatar, body, motion)
                    clip = RenderedClip(path, cam, motion, world,
                                        world @ cam.view[:3, :3].T.astype(np.float64) + cam.view[:3, 3])
                else:
                    t0 = time.perf_counter()
                    clip = render_clip(avatar, body, motion, cam, path, renderer=renderer, backdrop=backdrop)
                    print(f"  rendered {path.name} ({motion.num_frames} frames, "
                          f"{time.perf_counter() - t0:.1f} s)", flush=True)
                result = capture_motion(path, body=body)
                row = {"motion": name, "view": view, **score(result, clip, body, avatar.rig.betas)}
                rows.append(row)
                keep[f"{name}/{view}"] = (clip, result)
                print(f"  {name:14s} {view:14s} PA-MPJPE {row['pa_mpjpe_mm']:5.1f} mm  "
                      f"MPJPE {row['mpjpe_mm']:5.1f} mm  "
                      f"N-MPJPE {row['n_mpjpe_mm']:5.1f} mm  "
                      f"angle {row['angle_deg']:4.1f} deg  slide {row['foot_slide_cm_s']:4.1f} cm/s "
                      f"(truth {row['truth_slide_cm_s']:3.1f})  {row['fps']:4.1f} fps", flush=True)
                for note in result.diagnostics.notes:
                    print(f"      note: {note}")
    finally:
        renderer.close()
    print_table(rows)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    if not args.no_gif and args.gif_clip in keep:
        clip, result = keep[args.gif_clip]
        GIF_PATH.parent.mkdir(parents=True, exist_ok=True)
        side_by_side_gif(clip, result, body, GIF_PATH)
        print(f"wrote {GIF_PATH} ({GIF_PATH.stat().st_size / 1e6:.2f} MB)")
    return 0


COLUMNS = (("PA-MPJPE mm", "pa_mpjpe_mm"), ("MPJPE mm", "mpjpe_mm"), ("N-MPJPE mm", "n_mpjpe_mm"),
           ("angle deg", "angle_deg"), ("slide cm/s", "foot_slide_cm_s"), ("truth slide", "truth_slide_cm_s"))


def print_table(rows: list[dict]) -> None:
    """The figures as a Markdown table, with the mean over all clips (fps: over all frames)."""
    head = ["motion", "camera"] + [c for c, _ in COLUMNS] + ["fps"]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [r["motion"], r["view"].replace("_", "-")] + [f"{r[k]:.1f}" for _, k in COLUMNS] + [f"{r['fps']:.1f}"]
        print("| " + " | ".join(cells) + " |")
    if rows:
        fps = sum(r["frames"] for r in rows) / sum(r["seconds"] for r in rows)
        cells = ["**mean**", ""] + [f"{np.mean([r[k] for r in rows]):.1f}" for _, k in COLUMNS] + [f"{fps:.1f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
