"""Quality benchmark of the template reconstructor on synthetic ground truth (issue #4).

For each of N synthetic subjects (varied betas, garments, patterns, hair, skirts and poses):
  1. render the ground-truth avatar from the front as the "photo";
  2. reconstruct it with `TemplateReconstructor`;
  3. render ground truth and reconstruction from 8 orbit views in the photo pose, and front and
     back in 3 novel poses (animation through each avatar's own rig);
  4. report PSNR and SSIM (full frame, white background) for front / side / back / all views and
     novel poses, silhouette IoU, and seconds per reconstruction;
  5. report floaters (share of the reconstruction's Gaussians more than 5 cm from every Gaussian of
     the truth, both animated into the novel poses) and background bleed (share of the Gaussians at
     the photo's outline whose colour is nearer the backdrop's than the person's, see
     `background_bleed`).

`--hard` takes the subjects from `synthetic.HARD_CASES` instead (a hand in front of the face or
the torso, crossed arms, a bag or a box in a lowered hand), photographed in a cluttered room.

Intrinsics: the reconstructor is told each photo's field of view (35-50 degrees, varied), as a
photo's EXIF focal length would; everything else it finds itself.

Alignment: a single photo fixes a person's size only up to the unknown distance. For the orbit
views the reconstruction, posed as the reconstructor fitted it, is placed in front of the photo
camera exactly as its own fitted camera saw it, scaled about the camera centre by the least-squares
depth ratio of the two skeletons: its front view is the fitted image. For the novel poses it is
scaled and translated (no rotation) so that its 22 body joints best match the ground truth's.

Also writes a contact sheet of synthetic examples (input / front / side / back / novel pose, and
the ground-truth back for comparison) to resources/docs/template_contact_sheet.png and, when
../shared/photos exists, one of the real photos (input, mask, front, side, back, and two views of a
walking frame) to tests/bench/output/ (never committed).

    python tests/bench/bench_template.py                 # 20 subjects, RGBA input (alpha mask)
    python tests/bench/bench_template.py --input rgb     # photos over a backdrop, classical mask
    python tests/bench/bench_template.py --hard --input rgb --detectors --subjects 5   # occlusions
    python tests/bench/bench_template.py --real-only     # just the real-photo sheet
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from avatar_studio import PACKAGE_DIR
from avatar_studio.core.body.model import default_body_model
from avatar_studio.core.gaussians import GaussianSet
from avatar_studio.testing import synthetic as syn
from avatar_studio.core.reconstruct.template import TemplateReconstructor
from avatar_studio.core.render.base import Camera
from avatar_studio.core.render.rendering import create_renderer

AZIMUTHS = (0, 45, 90, 135, 180, 225, 270, 315)
SIDE = (90, 270)
SHEET_PATH = PACKAGE_DIR / "resources" / "docs" / "template_contact_sheet.png"
OUT_DIR = PACKAGE_DIR / "tests" / "bench" / "output"
REAL_DIR = PACKAGE_DIR.parent / "shared" / "photos"


# ------------------------------------------------------------------------------------ metrics
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two [H,W,3] float images in 0..1."""
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse <= 1e-10 else 10 * np.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Mean SSIM over channels of two [H,W,3] float images (Gaussian window, Wang et al. 2004)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        mx, my = gaussian_filter(x, sigma), gaussian_filter(y, sigma)
        sxx = gaussian_filter(x * x, sigma) - mx * mx
        syy = gaussian_filter(y * y, sigma) - my * my
        sxy = gaussian_filter(x * y, sigma) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(s.mean())
    return float(np.mean(vals))


FLOATER_M = 0.05     # a reconstructed Gaussian this far from every truth Gaussian is a floater
EDGE_PX = 3.0        # photo pixels either side of the outline that count as its edge


def floaters(rec: GaussianSet, truth: GaussianSet, far: float = FLOATER_M) -> float:
    """Share of the reconstruction's Gaussians more than `far` metres from the nearest Gaussian of
    the truth (its animated surface, clothes, hair and held object), both in the same pose."""
    from scipy.spatial import cKDTree
    d, _ = cKDTree(truth.means).query(rec.means, k=1)
    return float((d > far).mean())


def background_bleed(rec_photo_pose: GaussianSet, photo, window: int = 6) -> float:
    """Share of edge Gaussians whose colour is nearer the background than the person: of the
    reconstruction (posed and placed as the photo camera saw it), the Gaussians that project within
    `EDGE_PX` of the person's outline in the photo, each compared with the person's and the
    backdrop's colours within `window` pixels of where it lands (the nearest of each), so that a
    Gaussian a pixel or two off the truth's outline is judged by the colours around it."""
    from scipy.ndimage import binary_erosion, distance_transform_edt
    alpha = photo.rgba[..., 3] > 127
    h, w = alpha.shape
    uvz = photo.camera.project(rec_photo_pose.means)
    iu = np.clip(uvz[:, 0].astype(np.int64), 0, w - 1)
    iv = np.clip(uvz[:, 1].astype(np.int64), 0, h - 1)
    edge = np.maximum(distance_transform_edt(~alpha), distance_transform_edt(alpha))[iv, iu] <= EDGE_PX
    if not edge.any():
        return 0.0
    iu, iv = iu[edge], iv[edge]
    colour = rec_photo_pose.colors[edge]
    person_px = binary_erosion(alpha, iterations=1)          # the truth's own colours, not its soft rim
    backdrop_px = binary_erosion(~alpha, iterations=1)       # pure background
    person_rgb = photo.rgba[..., :3].astype(np.float32) / 255
    back_rgb = photo.backdrop if photo.backdrop is not None else np.ones((h, w, 3), np.float32)
    d_person = np.full(iu.size, np.inf)
    d_back = np.full(iu.size, np.inf)
    for dy in range(-window, window + 1):
        for dx in range(-window, window + 1):
            y, x = np.clip(iv + dy, 0, h - 1), np.clip(iu + dx, 0, w - 1)
            d = np.linalg.norm(colour - person_rgb[y, x], axis=1)
            d_person = np.where(person_px[y, x], np.minimum(d_person, d), d_person)
            d = np.linalg.norm(colour - back_rgb[y, x], axis=1)
            d_back = np.where(backdrop_px[y, x], np.minimum(d_back, d), d_back)
    return float((d_back < d_person).mean())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two [H,W] alpha maps thresholded at 0.5."""
    x, y = a > 0.5, b > 0.5
    return float((x & y).sum() / max((x | y).sum(), 1))


# --------------------------------------------------------------------------------------- poses
def novel_poses() -> dict[str, np.ndarray]:
    """Three [55,3] poses the photos never show: a walking stride, arms up, a kick with a twist."""
    walk = np.zeros((55, 3), np.float32)
    walk[1], walk[2] = (-0.45, 0, 0.05), (0.35, 0, -0.05)
    walk[4], walk[5] = (0.5, 0, 0), (0.2, 0, 0)
    walk[16], walk[17] = (0.35, 0, -1.2), (-0.35, 0, 1.2)
    walk[18], walk[19] = (0, -0.4, 0), (0, 0.4, 0)
    up = np.zeros((55, 3), np.float32)
    up[16], up[17] = (0, 0, 0.9), (0, 0, -0.9)
    up[1], up[2] = (0, 0, 0.25), (0, 0, -0.25)
    kick = np.zeros((55, 3), np.float32)
    kick[0] = (0, 0.35, 0)
    kick[1], kick[4] = (-1.0, 0, 0), (0.3, 0, 0)
    kick[16], kick[17] = (0, -0.6, -0.5), (0, 0.6, 0.5)
    kick[3], kick[6] = (0, -0.15, 0), (0, -0.15, 0)
    return {"walk": walk, "arms_up": up, "kick_twist": kick}


# ----------------------------------------------------------------------------------- geometry
def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares scale s and translation t with s * src + t ~ dst for [J,3] point sets."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    s = float((a * b).sum() / max((a * a).sum(), 1e-12))
    return s, md - s * ms


def align(gs: GaussianSet, body, pose_rec: np.ndarray, betas_rec: np.ndarray, pose_gt: np.ndarray,
          betas_gt: np.ndarray) -> GaussianSet:
    """Scale and translate a posed reconstruction so that its 22 body joints best match the ground
    truth's (least squares, no rotation; see module docstring)."""
    j_rec = body.joint_transforms(pose_rec[None], betas_rec)[0][0, :22].numpy()
    j_gt = body.joint_transforms(pose_gt[None], betas_gt)[0][0, :22].numpy()
    s, t = similarity(j_rec, j_gt)
    return gs.replace(means=gs.means * s + t, scales=gs.scales * s)


def align_to_photo(gs: GaussianSet, body, fitted_pose: np.ndarray, betas_rec: np.ndarray, view_rec: np.ndarray,
                   photo) -> GaussianSet:
    """Move a reconstruction posed in its fitted pose into the ground truth's world so that the photo
    camera sees it as the reconstructor's own fitted camera did, scaled about the camera centre by
    the least-squares ratio of the two bodies' joint positions in camera space (the unknown
    distance). Rendered from the photo camera it reproduces the fitted image exactly."""
    j_rec = body.joint_transforms(fitted_pose[None], betas_rec)[0][0, :22].numpy()
    j_gt = body.joint_transforms(photo.pose[None], photo.avatar.rig.betas)[0][0, :22].numpy()
    v_gt = photo.camera.view.astype(np.float64)
    c_rec = j_rec @ view_rec[:3, :3].T + view_rec[:3, 3]
    c_gt = j_gt @ v_gt[:3, :3].T + v_gt[:3, 3]
    k = float((c_rec * c_gt).sum() / (c_rec * c_rec).sum())
    rot = v_gt[:3, :3].T @ view_rec[:3, :3]
    trans = v_gt[:3, :3].T @ (k * view_rec[:3, 3] - v_gt[:3, 3])
    return gs.transformed(rot, trans, k)


def orbit_cameras(photo_cam: Camera, azimuths=AZIMUTHS, width: int = 384, height: int = 512) -> list[Camera]:
    """The photo camera turned about the vertical axis through its target, at metric resolution."""
    eye = photo_cam.position
    fwd = photo_cam.view[2, :3]
    dist = float(abs(eye[2]) / max(abs(fwd[2]), 1e-6)) if abs(fwd[2]) > 1e-6 else float(np.linalg.norm(eye))
    target = eye + fwd * dist
    return [Camera.orbit(target, dist, az, 0.0, fov_y_deg=photo_cam.fov_y_deg, width=width, height=height)
            for az in azimuths]


def framing_cameras(gs: GaussianSet, azimuths=(0, 180), width: int = 384, height: int = 512) -> list[Camera]:
    lo, hi = np.percentile(gs.means, 0.5, axis=0), np.percentile(gs.means, 99.5, axis=0)
    return [Camera.framing(lo, hi, az, 0.0, fov_y_deg=30.0, width=width, height=height, margin=1.05) for az in azimuths]


def render(renderer, gs: GaussianSet, cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    out = renderer.render(gs, cam, background=(1.0, 1.0, 1.0))
    return np.clip(out.color, 0, 1), out.alpha


# --------------------------------------------------------------------------------------- bench
@dataclass
class SubjectResult:
    seed: int
    seconds: float
    case: str = "random"
    cpu: float = 0.0
    floaters: float = 0.0
    bleed: float = 0.0
    psnr: dict[str, float] = field(default_factory=dict)
    ssim: dict[str, float] = field(default_factory=dict)
    iou: dict[str, float] = field(default_factory=dict)
    tiles: list[np.ndarray] = field(default_factory=list)


def run_subject(seed: int, body, renderer, recon: TemplateReconstructor, use_alpha: bool,
                keep_tiles: bool, case: str | None = None) -> SubjectResult:
    """One subject: `syn.random_spec(seed)` over a studio sweep, or with `case` one of
    `syn.HARD_CASES` over a busy room."""
    spec = syn.random_spec(seed) if case is None else syn.hard_spec(seed, case)
    fov = float(np.random.default_rng(seed).uniform(35, 50))
    photo = syn.make_photo(spec, body, width=600, height=800, backdrop="gradient" if case is None else "busy",
                           renderer=renderer, fov_y_deg=fov)
    recon.fov_y_deg = fov  # intrinsics known, as from a photo's EXIF focal length
    t0, c0 = time.perf_counter(), time.process_time()
    res = recon.run(photo.rgba if use_alpha else photo.rgb)
    seconds = time.perf_counter() - t0
    out = SubjectResult(seed, seconds, case or "random", cpu=time.process_time() - c0)
    betas_gt, betas_rec = photo.avatar.rig.betas, res.avatar.rig.betas
    gt_posed = photo.avatar.posed(body, photo.pose)
    fitted = res.diagnostics.fitted_pose
    rec_posed = align_to_photo(res.avatar.posed(body, fitted), body, fitted, betas_rec,
                               np.asarray(res.diagnostics.camera["view"], np.float64), photo)
    out.bleed = background_bleed(rec_posed, photo)
    views = {}
    for az, cam in zip(AZIMUTHS, orbit_cameras(photo.camera)):
        g, ga = render(renderer, gt_posed, cam)
        r, ra = render(renderer, rec_posed, cam)
        views[az] = (psnr(g, r), ssim(g, r), iou(ga, ra), g, r)
    for key, azs in (("front", (0,)), ("side", SIDE), ("back", (180,)), ("all8", AZIMUTHS)):
        out.psnr[key] = float(np.mean([views[a][0] for a in azs]))
        out.ssim[key] = float(np.mean([views[a][1] for a in azs]))
        out.iou[key] = float(np.mean([views[a][2] for a in azs]))
    novel_p, novel_s, novel_tile, novel_f = [], [], None, []
    for name, pose in novel_poses().items():
        g_gs = photo.avatar.posed(body, pose)
        r_gs = align(res.avatar.posed(body, pose), body, pose, betas_rec, pose, betas_gt)
        novel_f.append(floaters(r_gs, g_gs))
        for cam in framing_cameras(g_gs):
            g, _ = render(renderer, g_gs, cam)
            r, _ = render(renderer, r_gs, cam)
            novel_p.append(psnr(g, r))
            novel_s.append(ssim(g, r))
            if novel_tile is None:
                novel_tile = r
    out.psnr["novel"], out.ssim["novel"] = float(np.mean(novel_p)), float(np.mean(novel_s))
    out.floaters = float(np.mean(novel_f))
    if keep_tiles:
        inp = np.asarray(Image.fromarray(photo.rgb).resize((384, 512), Image.BOX), np.float32) / 255
        out.tiles = [inp, views[0][4], views[90][4], views[180][4], novel_tile, views[180][3]]
    return out


def contact_sheet(rows: list[list[np.ndarray]], labels: list[str], path: Path, tile_w: int = 150) -> None:
    """Write rows of [H,W,3] float tiles as one palette PNG with a header row of labels."""
    from PIL import ImageDraw
    tile_h = int(tile_w * 4 / 3)
    header = 18
    sheet = Image.new("RGB", (tile_w * len(labels), header + tile_h * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, lab in enumerate(labels):
        draw.text((i * tile_w + 4, 3), lab, fill=(0, 0, 0))
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            im = Image.fromarray((np.clip(tile, 0, 1) * 255 + 0.5).astype(np.uint8))
            im = im.resize((tile_w, tile_h), Image.LANCZOS)
            sheet.paste(im, (c * tile_w, header + r * tile_h))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def summarise(results: list[SubjectResult]) -> dict:
    keys = ("front", "side", "back", "all8", "novel")
    return {
        "subjects": len(results),
        "psnr": {k: float(np.mean([r.psnr[k] for r in results])) for k in keys},
        "ssim": {k: float(np.mean([r.ssim[k] for r in results])) for k in keys},
        "iou": {k: float(np.mean([r.iou[k] for r in results])) for k in ("front", "side", "back", "all8")},
        "floaters": float(np.mean([r.floaters for r in results])),
        "bleed": float(np.mean([r.bleed for r in results])),
        "per_case": {c: {"psnr_all8": float(np.mean([r.psnr["all8"] for r in results if r.case == c])),
                         "psnr_novel": float(np.mean([r.psnr["novel"] for r in results if r.case == c])),
                         "floaters": float(np.mean([r.floaters for r in results if r.case == c])),
                         "bleed": float(np.mean([r.bleed for r in results if r.case == c]))}
                     for c in sorted({r.case for r in results})},
        "seconds_per_recon": float(np.mean([r.seconds for r in results])),
        "seconds_max": float(np.max([r.seconds for r in results])),
        "cpu_per_recon": float(np.mean([r.cpu for r in results])),
        "cpu_max": float(np.max([r.cpu for r in results])),
    }


def print_table(summary: dict, label: str) -> None:
    print(f"\nTemplate reconstructor, {summary['subjects']} synthetic subjects, input: {label}")
    print(f"{'view':<12}{'PSNR dB':>9}{'SSIM':>8}{'IoU':>8}")
    for k, name in (("front", "front"), ("side", "side"), ("back", "back"), ("all8", "8 views"), ("novel", "novel pose")):
        iou_s = f"{summary['iou'][k]:8.3f}" if k in summary["iou"] else f"{'':>8}"
        print(f"{name:<12}{summary['psnr'][k]:9.2f}{summary['ssim'][k]:8.3f}{iou_s}")
    print(f"floaters (> {FLOATER_M * 100:.0f} cm from the truth, novel poses): {summary['floaters'] * 100:.2f}%; "
          f"background bleed (edge Gaussians nearer the backdrop's colour): {summary['bleed'] * 100:.2f}%")
    if len(summary["per_case"]) > 1:
        print(f"{'case':<14}{'8 views':>9}{'novel':>8}{'floaters':>10}{'bleed':>8}")
        for c, v in summary["per_case"].items():
            print(f"{c:<14}{v['psnr_all8']:9.2f}{v['psnr_novel']:8.2f}"
                  f"{v['floaters'] * 100:9.2f}%{v['bleed'] * 100:7.2f}%")
    print(f"seconds per reconstruction: {summary['seconds_per_recon']:.2f} (max {summary['seconds_max']:.2f}); "
          f"CPU {summary['cpu_per_recon']:.2f} s (max {summary['cpu_max']:.2f}); load {os.getloadavg()[0]:.1f}")


# ------------------------------------------------------------------------------------ real photos
def real_photo_sheet(body, renderer, recon: TemplateReconstructor, folder: Path, out: Path) -> None:
    """Reconstruct each real photo and write input / front / side / back renders (not committed)."""
    from avatar_studio.core.errors import StudioError
    from avatar_studio.core.reconstruct.base import load_image
    rows, names = [], []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg")):
        img = load_image(path)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            res = recon.run(img)
        except StudioError as err:
            print(f"  {path.name}: {err}")
            continue
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        gs = res.avatar.posed(body, res.diagnostics.fitted_pose)
        lo, hi = np.percentile(gs.means, 0.5, axis=0), np.percentile(gs.means, 99.5, axis=0)
        tiles = [_fit_tile(img)]
        tiles.append(_fit_tile((np.asarray(img[..., :3], np.float32) / 255) * 0.35
                               + 0.65 * res.diagnostics.mask[..., None] * np.array([1.0, 0.2, 0.2])))
        for az in (0, 90, 180):
            cam = Camera.framing(lo, hi, az, 0.0, fov_y_deg=30, width=300, height=400, margin=1.05)
            tiles.append(render(renderer, gs, cam)[0])
        walk = res.avatar.posed(body, novel_poses()["walk"])
        w_lo, w_hi = np.percentile(walk.means, 0.5, axis=0), np.percentile(walk.means, 99.5, axis=0)
        for az in (0, 60):
            cam = Camera.framing(w_lo, w_hi, az, 0.0, fov_y_deg=30, width=300, height=400, margin=1.05)
            tiles.append(render(renderer, walk, cam)[0])
        rows.append(tiles)
        names.append(path.name)
        print(f"  {path.name}: {secs:.2f} s wall, {cpu:.2f} s CPU (load {os.getloadavg()[0]:.1f}); "
              f"{'; '.join(res.diagnostics.notes)}")
    if rows:
        contact_sheet(rows, ["input", "mask", "front", "side", "back", "walk", "walk 60deg"], out, tile_w=180)
        print(f"real-photo contact sheet: {out} ({', '.join(names)})")


def _fit_tile(img: np.ndarray) -> np.ndarray:
    """[H,W,C] uint8 or float -> [400,300,3] float, letterboxed."""
    arr = img[..., :3]
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255
    im = Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8))
    im.thumbnail((300, 400), Image.LANCZOS)
    canvas = Image.new("RGB", (300, 400), "white")
    canvas.paste(im, ((300 - im.width) // 2, (400 - im.height) // 2))
    return np.asarray(canvas, np.float32) / 255


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--input", choices=["alpha", "rgb"], default="alpha",
                    help="alpha: RGBA photo (mask from alpha); rgb: photo over a backdrop (classical mask)")
    ap.add_argument("--detectors", action="store_true", help="let the reconstructor use mediapipe if installed")
    ap.add_argument("--sheet", type=Path, default=SHEET_PATH)
    ap.add_argument("--no-sheet", action="store_true")
    ap.add_argument("--real", type=Path, default=REAL_DIR)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--real-only", action="store_true", help="only the real-photo sheet")
    ap.add_argument("--hard", action="store_true",
                    help="occlusion subjects (hand at the face or torso, crossed arms, bag, box) over busy rooms")
    args = ap.parse_args(argv)
    if args.real_only:
        body, renderer = default_body_model(), create_renderer("gl")
        real_photo_sheet(body, renderer, TemplateReconstructor(body), args.real, OUT_DIR / "real_contact_sheet.png")
        renderer.close()
        return 0

    body = default_body_model()
    renderer = create_renderer("gl")
    method = "auto" if args.detectors else ("alpha" if args.input == "alpha" else "grabcut")
    recon = TemplateReconstructor(body, mask_method=method, keypoint_method="auto" if args.detectors else "none")
    recon.run(syn.make_photo(syn.random_spec(1), body, width=300, height=400, renderer=renderer).rgba)  # warm-up
    results = []
    for i in range(args.subjects):
        seed = args.first_seed + i
        case = syn.HARD_CASES[i % len(syn.HARD_CASES)] if args.hard else None
        r = run_subject(seed, body, renderer, recon, args.input == "alpha", keep_tiles=i < 6, case=case)
        results.append(r)
        print(f"subject {seed} ({r.case}): floaters {r.floaters * 100:.2f}%, bleed {r.bleed * 100:.2f}%, "
              f"front {r.psnr['front']:.2f} dB, 8 views {r.psnr['all8']:.2f} dB, "
              f"back {r.psnr['back']:.2f} dB, novel {r.psnr['novel']:.2f} dB, IoU {r.iou['front']:.3f}, "
              f"{r.seconds:.2f} s", flush=True)
    summary = summarise(results)
    print_table(summary, f"{args.input} ({method} mask)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    if not args.no_sheet:
        rows = [r.tiles for r in results if r.tiles]
        contact_sheet(rows, ["input photo", "recon front", "recon side", "recon back", "recon novel pose",
                             "truth back"], args.sheet)
        print(f"contact sheet: {args.sheet} ({args.sheet.stat().st_size // 1024} KB)")
    if args.real.is_dir():
        real_recon = TemplateReconstructor(body)
        real_photo_sheet(body, renderer, real_recon, args.real, OUT_DIR / "real_contact_sheet.png")
    renderer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
