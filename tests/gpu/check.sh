#!/usr/bin/env bash
# The GPU check (issue 26): install what is missing, then run every CUDA path once within a time budget,
# writing one results file, gpu_check.json, to $GPU_CHECK_OUT (else $OUT, else ./gpu-check-out).
#
#   bash tests/gpu/check.sh               # on the GPU machine (budget: GPU_CHECK_BUDGET_S, default 500 s)
#   bash tests/gpu/check.sh --dry-run     # on any machine: everything but the GPU steps
#
# Where the GPU machine reaches no package registry, run tests/gpu/prepare.sh beforehand where one is
# reachable: it saves the missing wheels to .whl/ and the EGL loader packages to .gl/ (both git-ignored),
# which the machine then needs beside the working tree. See README, "GPU check".
set -u
cd "$(dirname "$0")/../.."
PY="${GPU_CHECK_PYTHON:-$(command -v python3 || command -v python)}"
if [ -z "$PY" ]; then
    echo "error: no python3 on PATH (set GPU_CHECK_PYTHON)" >&2
    exit 2
fi
export GPU_CHECK_PYTHON="$PY"
exec "$PY" tests/gpu/check.py "$@"
