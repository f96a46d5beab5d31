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
exec python -m cherry_classifier.demo "$@"
