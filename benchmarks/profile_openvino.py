"""Where an OpenVINO variant's time goes: per-layer-type share of one batch, from OpenVINO's own
performance counters, with the kernels (primitive types, e.g. AMX or AVX-512 ones) they ran.

    source env.sh && python benchmarks/profile_openvino.py --model DIR/resnet50 \
        --backend openvino_int8 [--batch 32] [--runs 10] [--threads 2]

The model is compiled as ``core.backends.OpenVinoBackend`` compiles it (latency hint, the
variant's inference precision, the given threads) plus ``PERF_COUNT``; the counters of the
last ``--runs`` inferences (after a warm-up) are summed per layer type. Also printed: the batch's
median wall time and crops/s, and the share of wall time the counted layers cover.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from cherry_classifier import cli  # noqa: E402

PRECISION_HINT = {"openvino_int8": "f32", "openvino_bf16": "bf16"}


def build_parser():
    parser = cli.tool_parser("profile_openvino.py", __doc__.split("\n\n")[0])
    cli.add_model(parser, "bundle folder with the accepted OpenVINO variant", default=None)
    parser.add_argument(
        "--backend", choices=tuple(PRECISION_HINT), default="openvino_int8", help="variant"
    )
    parser.add_argument("--batch", type=int, default=32, help="crops per inference")
    parser.add_argument("--runs", type=int, default=10, help="timed inferences")
    cli.add_threads(parser)
    parser.add_argument("--top", type=int, default=12, help="layer types shown")
    return parser


def model_bytes(folder: Path, backend: str) -> bytes:
    from cherry_classifier.core.bundle import load_bundle
    from cherry_classifier.core.onnx_export import export_onnx
    from cherry_classifier.core.variants import accepted_variant

    bundle = load_bundle(folder)
    _, path = accepted_variant(bundle, backend)
    if path is not None:
        return path.read_bytes()
    manifest = bundle.manifest
    return export_onnx(bundle.build(), manifest.input_size, manifest.num_channels)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.model:
        build_parser().error("--model is required")
    import openvino as ov

    core = ov.Core()
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": PRECISION_HINT[args.backend],
        "INFERENCE_NUM_THREADS": int(args.threads or 0),
        "PERF_COUNT": True,
    }
    compiled = core.compile_model(
        core.read_model(model_bytes(Path(args.model), args.backend)), "CPU", config
    )
    request = compiled.create_infer_request()
    size = compiled.input(0).get_partial_shape()[2].get_length()
    batch = np.random.default_rng(0).random((args.batch, 3, size, size), np.float32)
    for _ in range(3):
        request.infer({0: batch})
    by_type: dict[str, float] = defaultdict(float)
    kernels: dict[str, set[str]] = defaultdict(set)
    walls = []
    for _ in range(args.runs):
        started = time.perf_counter()
        request.infer({0: batch})
        walls.append(time.perf_counter() - started)
        for info in request.profiling_info:
            seconds = info.real_time.total_seconds()
            by_type[info.node_type] += seconds
            if seconds > 0:
                kernels[info.node_type].add(info.exec_type)
    wall = statistics.median(walls)
    counted = sum(by_type.values()) / args.runs
    print(
        f"{args.model} {args.backend}, batch {args.batch}, {args.threads or 'all'} threads: "
        f"median {wall * 1e3:.1f} ms a batch = {args.batch / wall:.0f} crops/s; the layers' "
        f"counters cover {counted / wall:.0%} of it"
    )
    print(f"{'layer type':<24}{'ms/batch':>10}{'share':>8}   kernels")
    for node_type, seconds in sorted(by_type.items(), key=lambda kv: -kv[1])[: args.top]:
        per_batch = seconds / args.runs
        names = ", ".join(sorted(kernels[node_type]))[:80]
        print(f"{node_type:<24}{per_batch * 1e3:>10.2f}{per_batch / counted:>8.1%}   {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
