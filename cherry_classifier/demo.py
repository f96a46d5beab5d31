"""The README's main job: the classifier node on the bundled defaults, fed the bundled sample bag.

Starts ``classifier_node`` exactly as ``threading_ws.launch.py`` does (bundled model, production
parameters, pointed at the bag's image topics), replays ``data/sample_bag`` (synthetic frames
with their true labels on ``/line1``, the real production frames on ``/line2``) into it over DDS
(localhost only) at the recorded 1.8 frames/s, shows the decisions as they arrive and ends with
the verdict table and the evaluation report's path. It is ``cherry-replay`` with these defaults:

    python -m cherry_classifier.demo [--speed 2] [--model my_model] [--out log/demo]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cherry_classifier.live import replay


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--out" or a.startswith("--out=") for a in arguments):
        arguments += ["--out", "log/demo"]
    return replay.main([str(replay.default_sample_bag()), "--localhost-only", *arguments])


if __name__ == "__main__":
    sys.exit(main())
