#!/usr/bin/env bash
# Set up, or bring up to date, everything this repository needs, from its own files:
#   1. .venv with Python 3.11 (ROS 2 Kilted's PyPI wheels are cp311),
#   2. the pinned dependencies (requirements/*.txt, constrained by requirements/lock.txt),
#   3. the fix of the ROS wheels' CMake exports (they name their build host's include dirs),
#   4. a colcon build of cherry_classifier_msgs and cherry_classifier into install/, plus the
#      test copy of the line's cherry_interfaces (test/line_interfaces; this checkout only),
#   5. env.sh, the one file to source: venv + workspace + localhost-only DDS.
# Idempotent: each step is skipped while its inputs are unchanged (a few seconds in all).
#
# Environment knobs:
#   PYTHON=python3.11            interpreter that creates the venv
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu   CPU-only torch build (inference boxes)
#   CHERRY_FORCE=1               redo every step
#   ./scripts/bootstrap.sh --lock   rewrite requirements/lock.txt from the current venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3.11}"
STAMPS="$VENV/.stamps"
cd "$ROOT"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }
fingerprint() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
up_to_date() { [ -z "${CHERRY_FORCE:-}" ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
mark_done() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

check_system() {
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found. Install Python 3.11 (Ubuntu 24.04: \
sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt install python3.11 python3.11-venv python3.11-dev), \
or set PYTHON=/path/to/python3.11. With a real ROS 2 install, use a colcon workspace instead (README)."
    "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
        || die "$PYTHON is not Python 3.11: the ROS 2 Kilted wheels need CPython 3.11."
    local missing=()
    for tool in cmake make g++ git; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    [ ${#missing[@]} -eq 0 ] || die "missing build tools: ${missing[*]} (sudo apt install cmake build-essential git)"
}

create_venv() {
    [ -x "$VENV/bin/python" ] && return
    step "Creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV" || die "venv creation failed (sudo apt install python3.11-venv)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
}

install_requirements() {
    local key
    key="$(fingerprint requirements/*.txt)-${TORCH_INDEX_URL:-default}"
    up_to_date requirements "$key" && return
    step "Installing pinned dependencies (first time: a few minutes)"
    local pip=("$VENV/bin/python" -m pip install --progress-bar off -c requirements/lock.txt)
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "${pip[@]}" --index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple \
            -r requirements/torch.txt
    fi
    "${pip[@]}" -r requirements/torch.txt -r requirements/ros.txt -r requirements/build.txt \
        -r requirements/runtime.txt -r requirements/dev.txt
    mark_done requirements "$key"
}

fix_cmake_exports() {
    # The rosidl wheels were built in a manylinux container: their CMake exports name its
    # Python and NumPy include dirs. Point them at this venv's, or CMake refuses the targets.
    local py_include np_include files
    py_include="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    np_include="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
    mapfile -t files < <(grep -rlE '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true)
    [ ${#files[@]} -eq 0 ] && return
    step "Fixing ${#files[@]} CMake export(s) of the ROS wheels"
    sed -i \
        -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" \
        -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
        "${files[@]}"
}

colcon_build() {
    local key
    # Contents of what colcon copies, plus the names of the Python files it symlinks.
    key="$({ git ls-files -co --exclude-standard -- package.xml setup.py setup.cfg resource launch \
        config models training interfaces test/line_interfaces | sort | xargs -d '\n' cat 2>/dev/null
        git ls-files -co --exclude-standard -- cherry_classifier | sort; } | sha256sum | cut -c1-16)"
    up_to_date colcon "$key" && [ -f install/setup.bash ] && return
    step "Building the workspace with colcon"
    (
        # shellcheck disable=SC1091
        source "$VENV/bin/activate"
        export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
        # The venv is the underlay: give it the (empty) setup files colcon looks for.
        touch "$VENV/local_setup.sh" "$VENV/local_setup.bash"
        eval "$(python "$ROOT/cherry_dev/dds_env.py")"
        # Base paths named here, not in colcon_defaults.yaml: test/line_interfaces holds a test
        # copy of the line's own cherry_interfaces, built in this checkout only. A real
        # workspace (colcon_defaults.yaml, README) never builds it: the line has the real one.
        colcon build --base-paths . interfaces test/line_interfaces \
            --symlink-install --event-handlers console_cohesion- summary+ \
            --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$VENV/bin/python"
    ) || die "colcon build failed (see log/latest_build)"
    mark_done colcon "$key"
}

write_env_file() {
    cat >"$ROOT/env.sh" <<ENV
# Generated by scripts/bootstrap.sh: source it to use the workspace (venv + ROS 2 + this package).
source "$VENV/bin/activate"
export AMENT_PREFIX_PATH="$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VENV\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
source "$ROOT/install/setup.bash"
# The package's tools (cherry-train, cherry-eval, ...; \`ros2 run cherry_classifier <tool>\` in a
# full ROS install) live in lib/cherry_classifier, which setup.bash does not put on PATH.
export PATH="$ROOT/install/cherry_classifier/lib/cherry_classifier:\$PATH"
# DDS discovery stays on this host; one domain id per shell (see cherry_dev/dds_env.py).
eval "\$(python "$ROOT/cherry_dev/dds_env.py")"
ENV
}

lock() {
    step "Writing requirements/lock.txt"
    {
        echo "# Exact versions the bootstrap installs (constraints file). Rewrite with:"
        echo "#   ./scripts/bootstrap.sh --lock"
        "$VENV/bin/python" -m pip freeze --exclude-editable | grep -vE '^(cherry[-_]classifier|-e )'
    } >requirements/lock.txt
}

main() {
    check_system
    create_venv
    if [ "${1:-}" = "--lock" ]; then lock; exit 0; fi
    install_requirements
    fix_cmake_exports
    colcon_build
    write_env_file
    step "Ready: source env.sh"
}

main "$@"
