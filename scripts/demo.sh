#!/usr/bin/env bash
# The README's main command: set everything up, then run the classifier on the bundled defaults.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
set +u
# shellcheck disable=SC1091
source "$ROOT/env.sh"
set -u
cd "$ROOT"
# Real line frames, where this checkout has them beside it (they are not shipped to users).
frames=()
[ -d ../shared/data/production_frames ] && frames=(--frames-dir ../shared/data/production_frames)
exec python -m cherry_classifier.demo "${frames[@]}" "$@"
