"""Motion capture accuracy on a tuning set and a held-out set (issue #20). Prints figures; asserts nothing.

* tuning set: the clips the solver's settings were chosen on: `bench_mocap.py`'s (one synthetic
  subject, seed 3, performing our five procedural motions, walk, wave, turn, squat, arms overhead,
  front and three-quarter cameras) and three real-capture clips (`TUNING_REAL`: other takes or
  stretches, subjects and cameras than the held-out set's).
* held-out set (`testing/synthetic_video.py: HELD_OUT`, never used to choose settings before
  it is measured): stretches of real motion-capture takes (the BVH files in
  `../shared/real-data/motion/`, retargeted by our importer) on the five real photos' template
  avatars (made at run time) and synthetic subjects in skirts, loose or dark clothes, filmed from
  25 % to 90 % of the image height, from the front, sides, behind and above, with depth-heavy
  motion (jumps and walks towards or away from the camera, turns in place, arms reaching at it,
  kneeling).

Every clip is rendered by our renderer to an H.264 video (default 1280x720) and cached under
--out with its truth; `capture_motion` then runs end to end (decode, landmarks, fit, clean-up) with
its default settings and nothing known about the camera. Figures per clip and per set: PA-MPJPE,
MPJPE (pelvis-aligned, truth turned into the capture's world), N-MPJPE, joint-angle error, foot
slide on the truth's planted frames (and the truth's own), frames/s end to end, and PA-aligned
errors per joint.

    python tests/bench/bench_mocap_heldout.py                        # both sets, 1280x720
    python tests/bench/bench_mocap_heldout.py --sets heldout --clips hug_near kneel
    python tests/bench/bench_mocap_heldout.py --reuse-landmarks --fit world=1.0   # solver variants
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np

from avatar_studio import PACKAGE_DIR
from avatar_studio.core.body.model import default_body_model
from avatar_studio.testing.evaluate import JOINT_NAMES, score_capture
from avatar_studio.core.mocap.landmarks import Landmarks
from avatar_studio.core.mocap.pipeline import MocapSettings, capture_motion, solve_landmarks
from avatar_studio.testing.synthetic_video import (HELD_OUT, TUNING_REAL, RenderedClip, camera_for,
                                                      held_out_rendered, load_rendered, render_clip, save_truth,
                                                      shared_dir)

OUT_DIR = PACKAGE_DIR / "tests" / "bench" / "output" / "mocap_heldout"
TUNING_MOTIONS = ("walk", "wave", "turn", "squat", "arms_overhead")
TUNING_VIEWS = ("front", "three_quarter")


def tuning_clips(body, folder: Path, width: int, height: int, renderer) -> list[tuple[str, RenderedClip, str]]:
    """(name, clip, description) of the tuning set, rendered into `folder` unless cached there."""
    from avatar_studio.testing import motion_samples as samples
    from avatar_studio.testing import synthetic as syn
    avatar, out = None, []
    for name in TUNING_MOTIONS:
        for view in TUNING_VIEWS:
            video = folder / f"tuning_{name}_{view}_{width}x{height}.mp4"
            truth = video.with_suffix(".truth.npz")
            if not (video.is_file() and truth.is_file()):
                avatar = avatar or syn.make_avatar(syn.random_spec(3), body, 40000)
                motion = samples.MOTIONS[name](rest_joints=body.rest_joints(avatar.rig.betas))
                cam = camera_for(avatar, body, motion.replace(betas=avatar.rig.betas), view, width, height)
                backdrop = syn.background(height, width, np.random.default_rng(7), "texture")
                clip = render_clip(avatar, body, motion.replace(betas=avatar.rig.betas), cam, video,
                                   renderer=renderer, backdrop=backdrop)
                save_truth(clip, truth)
            out.append((f"{name}/{view}", load_rendered(video, truth), "procedural"))
    for spec in TUNING_REAL:
        out.append((spec.name, held_out_rendered(spec, body, folder, width, height, renderer=renderer), spec.hard))
    return out


def held_out_clips(body, folder: Path, width: int, height: int, renderer, only: list[str] | None
                   ) -> list[tuple[str, RenderedClip, str]]:
    """(name, clip, what makes it hard) of the held-out set, rendered into `folder` unless cached there."""
    out = []
    for spec in HELD_OUT:
        if only and spec.name not in only:
            continue
        t0 = time.perf_counter()
        clip = held_out_rendered(spec, body, folder, width, height, renderer=renderer)
        if time.perf_counter() - t0 > 2:
            print(f"  rendered {spec.name} ({clip.motion.num_frames} frames, {time.perf_counter() - t0:.0f} s)",
                  flush=True)
        out.append((spec.name, clip, spec.hard))
    return out


def save_landmarks(lm: Landmarks, path: Path) -> None:
    np.savez(path, image=lm.image, world=lm.world, present=lm.present, size=[lm.width, lm.height], fps=lm.fps,
             source_indices=lm.source_indices, notes=np.array(lm.notes, dtype=object))


def load_landmarks(path: Path) -> Landmarks:
    z = np.load(path, allow_pickle=True)
    return Landmarks(z["image"], z["world"], z["present"], int(z["size"][0]), int(z["size"][1]), float(z["fps"]),
                     z["source_indices"], list(z["notes"]))


def parse_overrides(pairs: list[str], settings: MocapSettings) -> MocapSettings:
    """key=value pairs onto FitSettings / FitWeights / CleanupSettings / MocapSettings fields."""
    fit, weights, clean = settings.fit, settings.fit.weights, settings.cleanup
    top = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        val = type(getattr(settings, key, getattr(fit, key, getattr(weights, key, getattr(clean, key, 0.0)))))
        v = (value.lower() in ("1", "true", "yes")) if val is bool else val(value)
        if key in {f.name for f in fields(weights)}:
            weights = replace(weights, **{key: v})
        elif key in {f.name for f in fields(fit)}:
            fit = replace(fit, **{key: v})
        elif key in {f.name for f in fields(clean)}:
            clean = replace(clean, **{key: v})
        elif key in {f.name for f in fields(settings)}:
            top[key] = v
        else:
            raise SystemExit(f"unknown setting {key}")
    return replace(settings, fit=replace(fit, weights=weights), cleanup=clean, **top)


def run(clips, body, settings: MocapSettings, folder: Path, reuse_landmarks: bool, label: str) -> list[dict]:
    rows = []
    for name, clip, hard in clips:
        cache = folder / f"{clip.path.stem}.landmarks_c{settings.model_complexity}.npz"
        if reuse_landmarks and cache.is_file():
            result = solve_landmarks(load_landmarks(cache), body, settings, name=clip.path.stem)
            timed = False
        else:
            cpu0 = time.process_time()        # all threads of this process: mediapipe's, torch's, ffmpeg excluded
            result = capture_motion(clip.path, body=body, settings=settings)
            cpu = time.process_time() - cpu0
            save_landmarks(result.landmarks, cache)
            timed = True
        row = {"set": label, "clip": name, "hard": hard, "size": f"{clip.camera.width}x{clip.camera.height}",
               **score_capture(result, clip.motion, clip.joints_camera, body, clip.motion.betas)}
        row["cpu_fps"] = row["frames"] / cpu if timed else float("nan")
        if not timed:
            row["fps"] = float("nan")
        rows.append(row)
        print(f"  {label:8s} {name:26s} PA-MPJPE {row['pa_mpjpe_mm']:5.1f}  MPJPE {row['mpjpe_mm']:5.1f}  "
              f"N-MPJPE {row['n_mpjpe_mm']:5.1f}  angle {row['angle_deg']:4.1f}  slide {row['foot_slide_cm_s']:5.1f} "
              f"(truth {row['truth_slide_cm_s']:4.1f})  {row['fps']:4.1f} fps ({row['cpu_fps']:4.1f} per CPU s)  "
              f"[{row['detected']}/{row['frames']} detected]", flush=True)
    return rows


COLUMNS = (("PA-MPJPE mm", "pa_mpjpe_mm"), ("MPJPE mm", "mpjpe_mm"), ("N-MPJPE mm", "n_mpjpe_mm"),
           ("angle deg", "angle_deg"), ("slide cm/s", "foot_slide_cm_s"), ("truth slide", "truth_slide_cm_s"))


def print_table(rows: list[dict]) -> None:
    """Markdown: one row per clip, then the mean over each set's clips (fps: frames over seconds)."""
    head = ["set", "clip"] + [c for c, _ in COLUMNS] + ["fps"]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [r["set"], r["clip"]] + [f"{r[k]:.1f}" for _, k in COLUMNS] + [f"{r['fps']:.1f}"]
        print("| " + " | ".join(cells) + " |")
    for label in dict.fromkeys(r["set"] for r in rows):
        sub = [r for r in rows if r["set"] == label]
        timed = [r for r in sub if np.isfinite(r["fps"])]
        fps = sum(r["frames"] for r in timed) / sum(r["seconds"] for r in timed) if timed else float("nan")
        cpu_s = sum(r["frames"] / r["cpu_fps"] for r in timed)
        cpu_fps = sum(r["frames"] for r in timed) / cpu_s if timed else float("nan")
        cells = [f"**{label} mean**", f"{len(sub)} clips"] + [f"{np.mean([r[k] for r in sub]):.1f}" for _, k in COLUMNS]
        print("| " + " | ".join(cells + [f"{fps:.1f}"]) + f" | frames per CPU-second (this process) {cpu_fps:.1f}")
        worst = max(sub, key=lambda r: r["pa_mpjpe_mm"])
        print(f"|  {label} worst | {worst['clip']} | {worst['pa_mpjpe_mm']:.1f} |")
    print("\nPA-aligned error per joint (mm), mean over each set's clips:")
    sets = list(dict.fromkeys(r["set"] for r in rows))
    print("| joint | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for j, jn in enumerate(JOINT_NAMES):
        vals = [np.mean([r["per_joint_mm"][j] for r in rows if r["set"] == s]) for s in sets]
        print(f"| {jn} | " + " | ".join(f"{v:.0f}" for v in vals) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["tuning", "heldout"], choices=["tuning", "heldout"])
    ap.add_argument("--clips", nargs="*", help="held-out clip names (default: all)")
    ap.add_argument("--size", default="1280x720", help="rendered video size, WxH")
    ap.add_argument("--out", default=str(OUT_DIR), help="cache folder for videos, truths, landmarks, results")
    ap.add_argument("--complexity", type=int, default=None, help="mediapipe model: 1 full, 2 heavy")
    ap.add_argument("--reuse-landmarks", action="store_true",
                    help="solve on landmarks cached by an earlier run (fps then not measured)")
    ap.add_argument("--fit", nargs="*", default=[], help="setting=value overrides (FitSettings, FitWeights, ...)")
    ap.add_argument("--json", default=None, help="write the rows here (default: OUT/results_<sets>.json)")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    settings = parse_overrides(args.fit, MocapSettings())
    if args.complexity is not None:
        settings = replace(settings, model_complexity=args.complexity)
    body = default_body_model()
    from avatar_studio.core.render.rendering import create_renderer
    renderer = create_renderer("gl")
    clips: dict[str, list] = {}
    try:
        if "tuning" in args.sets:
            clips["tuning"] = tuning_clips(body, folder, width, height, renderer)
        if "heldout" in args.sets:
            if not (shared_dir() / "real-data" / "motion").is_dir():
                print(f"no {shared_dir() / 'real-data' / 'motion'}: the held-out set needs ../shared")
                return 1
            clips["heldout"] = held_out_clips(body, folder, width, height, renderer, args.clips)
    finally:
        renderer.close()
    print(f"{width}x{height} H.264; settings: complexity {settings.model_complexity}, overrides {args.fit or 'none'}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for label, items in clips.items():
        rows += run(items, body, settings, folder, args.reuse_landmarks, label)
    print_table(rows)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    path = Path(args.json) if args.json else folder / f"results_{'_'.join(args.sets)}.json"
    path.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
