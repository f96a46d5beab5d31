#!/usr/bin/env bash
# The README's main command: set everything up, start the classifier node on the bundled model
# and production params, replay the bundled sample bag into it (synthetic cherries with their
# truth, plus real production frames), and print the verdict and the report's path.
# Extra arguments go to cherry-replay (e.g. --speed 2, --model my_model, --out DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
set +u
# shellcheck disable=SC1091
source "$ROOT/env.sh"
set -u
cd "$ROOT"
exec python -m cherry_classifier.demo "$@"
