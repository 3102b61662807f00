#!/usr/bin/env bash
# Optional: the offline person-mask and body-landmark models. Same as `avatar-studio install-landmarks`,
# for the project virtual environment that packaging/setup.sh makes.
set -euo pipefail
cd "$(dirname "$0")/.."
"${AVATAR_STUDIO_VENV:-.venv}/bin/avatar-studio" install-landmarks "$@"
