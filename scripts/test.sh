#!/usr/bin/env bash
# The README's test command: set everything up, lint, then run the whole test suite.
# Extra arguments go to pytest (e.g. ./scripts/test.sh test/core -x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/bootstrap.sh"
set +u
# shellcheck disable=SC1091
source "$ROOT/env.sh"
set -u
cd "$ROOT"
echo "==> ruff check"
ruff check .
echo "==> pytest (ROS_DOMAIN_ID=$ROS_DOMAIN_ID, discovery $ROS_AUTOMATIC_DISCOVERY_RANGE)"
python -m pytest "$@"
