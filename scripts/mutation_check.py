"""Would the suite catch the next defect? Plant each known-bad change, run the tests meant to
catch it, and report whether at least one of them fails (it must).

Each mutation is an exact text replacement in one source file, applied to the working tree for
the length of its test run and then reverted (the bootstrap's symlink install makes the node
processes run the mutated source). Nothing here ships enabled: the mutations exist only in
this script. Run from the repository root, after ``source env.sh``:

    python scripts/mutation_check.py [--only NAME]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "drop_every_third_set",
        "the node drops every third joined layer set and image set",
        "cherry_classifier/node/classifier_node.py",
        "    def _submit(self, source: str, header: Any, image: np.ndarray, trigger: Any = None) "
        "-> None:\n",
        "    def _submit(self, source: str, header: Any, image: np.ndarray, trigger: Any = None) "
        "-> None:\n"
        "        self._mutant = getattr(self, '_mutant', 0) + 1\n"
        "        if (trigger is not None or ',' in source) and self._mutant % 3 == 0:\n"
        "            return\n",
        (
            "test/integration/test_classifier_node.py::"
            "test_layers_mode_joins_compressed_mono_layers_by_stamp",
            "test/reliability/test_load_and_faults.py::"
            "test_layers_survive_a_missing_topic_corrupt_layers_and_clock_jumps",
            "test/line/test_line_node.py::"
            "test_a_namespaced_launch_with_its_own_params_file_runs_on_its_values",
        ),
    ),
    Mutation(
        "ignore_pit_threshold",
        "the node accepts pit_threshold changes but keeps deciding with the old value",
        "cherry_classifier/node/classifier_node.py",
        "            version = self._engine.set_thresholds(thresholds)\n",
        "            if 'pit_threshold' in changes:\n"
        "                thresholds = type(thresholds)(self._engine.thresholds[0].pit_threshold,"
        " thresholds.maybe_threshold, thresholds.clean_threshold)\n"
        "            version = self._engine.set_thresholds(thresholds)\n",
        (
            "test/integration/test_classifier_node.py::"
            "test_thresholds_change_live_and_invalid_sets_change_nothing",
        ),
    ),
    Mutation(
        "swap_inside_a_frame",
        "the engine installs a pending model between two batches of one frame",
        "cherry_classifier/core/engine.py",
        "                if self._current is None and self._pending_model is not None:\n",
        "                if self._pending_model is not None:\n",
        ("test/engine/test_engine.py",),
    ),
    Mutation(
        "leak_over_the_flood",
        "the node keeps 170 kB per frame (51 MiB over the 300-frame flood)",
        "cherry_classifier/node/classifier_node.py",
        "        self._engine.submit(self._job(source, header, image, trigger))\n",
        "        self.__dict__.setdefault('_leak', []).append(bytearray(170_000))\n"
        "        self._engine.submit(self._job(source, header, image, trigger))\n",
        ("test/integration/test_classifier_node.py::test_crops_mode_and_overload_accounting",),
    ),
)


def run_mutation(mutation: Mutation) -> tuple[bool, float, str]:
    """(caught, seconds, the failing tests' names) with the mutation applied, then reverted."""
    path = ROOT / mutation.path
    original = path.read_text()
    if original.count(mutation.old) != 1:
        raise SystemExit(f"{mutation.name}: the text to replace is not found once in {path}")
    path.write_text(original.replace(mutation.old, mutation.new))
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=ROOT,
            env=dict(os.environ, CI="true"),
            capture_output=True,
            text=True,
        )
    finally:
        path.write_text(original)
    failed = [
        line.split(" ")[1] for line in completed.stdout.splitlines() if line.startswith("FAILED")
    ]
    return completed.returncode != 0, time.monotonic() - started, ", ".join(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=[m.name for m in MUTATIONS], help="one mutation")
    args = parser.parse_args(argv)
    missed = 0
    for mutation in MUTATIONS:
        if args.only and mutation.name != args.only:
            continue
        caught, seconds, failed = run_mutation(mutation)
        missed += not caught
        verdict = "caught" if caught else "MISSED"
        print(f"{mutation.name:<22} {verdict:<7} {seconds:5.0f} s  {mutation.what}", flush=True)
        if failed:
            print(f"{'':<22} failed: {failed}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
