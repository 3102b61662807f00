#!/usr/bin/env bash
# Set-up on a fresh machine: system libraries (apt, where there is apt), then a project virtual
# environment in .venv/ holding CPU PyTorch, Avatar Studio (editable) with its test tools, and the
# optional offline landmark models. Works with a distribution Python that refuses system-wide pip
# installs (PEP 668): nothing is installed outside .venv/.
#
# Environment:
#   PYTHON=python3.12         the interpreter that makes the venv (default python3)
#   AVATAR_STUDIO_VENV=DIR    where the venv goes (default .venv in the checkout)
#   TORCH_INDEX_URL=URL       a pip index to take torch from (for example PyTorch's CPU-only index,
#                             so that no CUDA wheels are pulled on a machine without a local wheel)
#   AVATAR_STUDIO_NO_NODE=1   skip Node.js and the cross-check tools in tests/tools
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { echo "setup: $*"; }

SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; fi
fi

APT_PACKAGES=(
  python3 python3-venv python3-dev ca-certificates git
  xvfb xauth libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri libglx-mesa0 libglib2.0-0
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-render-util0 libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
  libdbus-1-3 libfontconfig1 libfreetype6 libx11-xcb1
)
if [ "${AVATAR_STUDIO_NO_NODE:-0}" != 1 ] && ! command -v npm >/dev/null; then
  APT_PACKAGES+=(nodejs npm)
fi

if command -v apt-get >/dev/null; then
  say "installing system packages with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
else
  cat >&2 <<'EOF'
setup: no apt-get here, so system packages are up to you. Install the equivalents of:
  Fedora:  sudo dnf install python3 python3-devel xorg-x11-server-Xvfb xorg-x11-xauth mesa-libEGL \
           mesa-libGL mesa-dri-drivers glib2 libxkbcommon-x11 xcb-util-cursor xcb-util-wm \
           xcb-util-keysyms xcb-util-image xcb-util-renderutil dbus-libs fontconfig nodejs npm
  macOS:   brew install python@3.11 node   (Qt and OpenGL come with the system; no Xvfb needed)
EOF
fi

PY=${PYTHON:-python3}
VENV=${AVATAR_STUDIO_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip install -q)

# torch first, pinned: with a local CPU wheel (as on our machines) this takes it; elsewhere an index
# of CPU wheels must be named, or pip picks a CUDA build of several GB.
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" --index-url "$TORCH_INDEX_URL" torch==2.13.0
else
  "${PIP[@]}" torch==2.13.0
fi
say "installing Avatar Studio and its test tools into $VENV"
"${PIP[@]}" -e ".[test]"

# Optional parts: a failure is reported in one line and set-up goes on.
if ! "$VENV/bin/avatar-studio" install-landmarks --quiet; then
  say "optional landmark models not installed (no mediapipe 0.10.21 wheel for this Python/platform?);"
  say "the studio falls back to its classical person mask and keypoints"
fi
if [ "${AVATAR_STUDIO_NO_NODE:-0}" != 1 ]; then
  if [ ! -f tests/tools/package.json ]; then
    :
  elif command -v npm >/dev/null; then
    say "installing the Node.js cross-check tools (tests/tools)"
    if ! (cd tests/tools && npm install --no-audit --no-fund --silent >/dev/null 2>&1); then
      say "optional: npm could not install the cross-check tools (tests/tools); those tests will skip"
    fi
  else
    say "optional: no npm, so the Node.js cross-check tests will skip"
  fi
fi
say "done in $(( $(date +%s) - start )) s; run the studio with $VENV/bin/avatar-studio"
