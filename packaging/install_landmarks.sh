#!/usr/bin/env bash
# Optional: the offline person-mask and body-landmark models (mediapipe 0.10.21 bundles
# pose_landmark_full.tflite and selfie_segmentation.tflite in its wheel; newer releases download
# models at run time and do not work offline).
# mediapipe 0.10.21 declares numpy<2 and jax, but its pose/segmentation runtime works with numpy 2
# and needs no jax; installing it with --no-deps plus its real runtime needs keeps numpy 2 and
# saves about 1 GB. Without it, Avatar Studio falls back to classical segmentation/keypoints.
set -euo pipefail
PY=${PYTHON:-python3}
$PY -m pip install -q "absl-py>=2" "flatbuffers>=2" "protobuf>=4.25,<5" "sentencepiece>=0.2" \
    "opencv-python-headless>=4.8" "matplotlib>=3.7"
$PY -m pip install -q --no-deps "mediapipe==0.10.21"
$PY - <<'PY'
import mediapipe as mp
mp.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True).close()
print("mediapipe", mp.__version__, "pose + segmentation models load offline")
PY
