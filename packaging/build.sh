#!/usr/bin/env bash
# Build the wheel and sdist, install the wheel into a fresh venv, and run `avatar-studio demo` there.
# With --bundle, also build the PyInstaller one-folder app from that venv and run its demo.
# Usage: bash packaging/build.sh [--bundle] [--workdir DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=0
WORK=${TMPDIR:-/tmp}/avatar-studio-build
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) BUNDLE=1 ;;
    --workdir) WORK="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-python3}
start=$(date +%s)
rm -rf "$WORK" && mkdir -p "$WORK"
echo "== building wheel and sdist"
$PY -m pip install -q build
$PY -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log"; exit 1; }
ls -la "$WORK/dist"
echo "== installing the wheel into a fresh venv"
$PY -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q torch==2.13.0
"$VPY" -m pip install -q "$WORK"/dist/*.whl
echo "== running the demo from the installed wheel (outside the source tree)"
(cd "$WORK" && "$WORK/venv/bin/avatar-studio" demo --out "$WORK/demo_wheel")
ls -la "$WORK/demo_wheel"
if [ "$BUNDLE" = 1 ]; then
  echo "== building the PyInstaller bundle"
  "$VPY" -m pip install -q pyinstaller
  (cd "$WORK" && "$VPY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$WORK/bundle" \
      --workpath "$WORK/pyi" "$OLDPWD/packaging/avatar_studio.spec")
  echo "== running the bundle's demo"
  (cd / && "$WORK/bundle/avatar-studio/avatar-studio" demo --out "$WORK/demo_bundle")
  ls -la "$WORK/demo_bundle"
  echo "bundle size: $(du -sh "$WORK/bundle/avatar-studio" | cut -f1)"
  # Our tests, test data and the workshop (testing/) must stay out (third-party packages may carry their own).
  if find "$WORK/bundle" -path '*avatar_studio*' \( -path '*/tests/*' -o -path '*/testing/*' -o -name 'test_*.py' \) | grep -q .; then
    echo "Avatar Studio test files leaked into the bundle" >&2; exit 1
  fi
fi
echo "== done in $(( $(date +%s) - start )) s"
