#!/usr/bin/env bash
# Developer/CI set-up on a fresh Debian/Ubuntu machine: system libraries for Qt, OpenGL (Mesa
# llvmpipe via EGL) and Xvfb, then CPU PyTorch, then Avatar Studio itself in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends \
    xvfb xauth libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri libglx-mesa0 \
    libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
    libxcb-render-util0 libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 \
    libdbus-1-3 libfontconfig1 libfreetype6 >/dev/null
fi
PY=${PYTHON:-python3}
# Pin torch first: an unpinned torch would pull several GB of CUDA wheels.
$PY -m pip install -q torch==2.13.0
$PY -m pip install -q -e ".[test]"
# Optional: the Khronos glTF validator the GLB tests run (they skip without node).
if command -v npm >/dev/null; then (cd tests/tools && npm install --no-audit --no-fund -s) || true; fi
# Optional offline landmark/segmentation models (used by the template reconstructor and motion capture).
bash packaging/install_landmarks.sh
