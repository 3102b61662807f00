#!/usr/bin/env bash
# Prepare the GPU check for a machine that reaches no package registry (run here, where one is reachable):
#   .whl/  wheels of the packages the GPU image lacks (CPython 3.12, manylinux x86-64, no dependencies)
#   .gl/   Debian's EGL/GL loader packages (amd64), unpacked there by check.py when libEGL is missing
# Both folders are git-ignored; name them in the device run's carry list.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-python3}"
PY_VERSION="${GPU_PY_VERSION:-3.12}"
mkdir -p .whl .gl
"$PY" -m pip download --no-deps --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl \
    gsplat==1.5.3 moderngl==5.13.0 glcontext==3.1.0 smplx==0.1.28 plyfile==1.1.5 zstandard==0.25.0
if command -v apt-get >/dev/null; then
    lists=$(mktemp -d)
    mkdir -p "$lists/partial"
    o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
    apt-get "${o[@]}" -qq update
    (cd .gl && apt-get "${o[@]}" -qq download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    rm -rf "$lists"
fi
du -sh .whl .gl
