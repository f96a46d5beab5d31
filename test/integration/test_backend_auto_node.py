"""``backend: auto`` (the shipped default) in the node, in a real process: it runs the fastest
variant the bundle's gate accepted that this CPU runs, says which and why, and on a CPU without
AMX/VNNI (injected: ``CHERRY_CPUINFO``) falls back to fp32 and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
require("onnxruntime", "the int8 and fp32 ONNX variants")

from cherry_classifier.core.architectures import build_model  # noqa: E402
from cherry_classifier.core.bundle import save_bundle  # noqa: E402
from cherry_classifier.core.cpu import CPUINFO_VAR, INT8_DOT_FLAGS, cpu_flags  # noqa: E402
from cherry_classifier.core.manifest import ModelManifest  # noqa: E402
from cherry_classifier.core.variants import export_variants  # noqa: E402
from cherry_dev.golden_sets import write_golden_set  # noqa: E402
from cherry_dev.processes import process_output  # noqa: E402
from cherry_dev.shipped_params import shipped_backend  # noqa: E402
from test.core.conftest import random_crops  # noqa: E402
from test.ros_client import Client, start_classifier  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
PLAIN_CPUINFO = "processor\t: 0\nmodel name\t: no AMX here\nflags\t\t: fpu sse4_2 avx2 avx512f\n"


@pytest.fixture(scope="module")
def gated_models(tmp_path_factory) -> tuple[Path, list[str]]:
    """A small bundle with a golden set and gated fp32 and int8 ONNX variants (ONNX Runtime,
    and OpenVINO's int8 where openvino is installed)."""
    import torch

    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(3)
    manifest = ModelManifest(
        architecture="mobilenet_v3_small", class_names=("clean", "maybe", "pit")
    )
    save_bundle(folder / "gated", build_model("mobilenet_v3_small", 3).eval(), manifest)
    write_golden_set(folder / "gated")
    variants = ["onnxruntime", "int8"]
    try:
        import openvino  # noqa: F401

        variants.append("openvino_int8")
    except ImportError:
        pass
    heldout = random_crops(200, size=128, seed=2)
    labels = [("clean", "maybe", "pit")[i % 3] for i in range(200)]
    records = export_variants(
        folder / "gated", random_crops(32, size=128, seed=1), heldout, labels, variants=variants
    )
    assert all(record["accepted"] for record in records.values()), records
    return folder, variants


def start_and_read_backend(tmp_path, models, namespace, domain, env=None) -> tuple[str, str]:
    """The backend model_info names and the node's log, from the node with shipped params."""
    log = tmp_path / f"classifier_{namespace}.log"
    with start_classifier(tmp_path, models, namespace, "gated", env=env, domain=domain) as node:
        client = Client(namespace, domain)
        try:
            client.wait(lambda: client.model_infos, "model_info")
            client.wait(lambda: "backend auto ->" in process_output(log), "the backend's log line")
            info = client.model_infos[-1]
        finally:
            client.close()
        assert node.poll() is None, process_output(log)
    assert not info.fail_safe, process_output(log)
    return info.backend, process_output(log)


def test_auto_is_shipped_and_picks_the_fastest_accepted_variant(tmp_path, gated_models, ros_domain):
    assert shipped_backend() == "auto"
    models, variants = gated_models
    backend, log = start_and_read_backend(tmp_path, models, "auto1", ros_domain)
    if not cpu_flags() & set(INT8_DOT_FLAGS):  # a CPU without VNNI/AMX: the fallback test below
        assert backend == "onnxruntime"
        return
    assert backend == ("openvino_int8" if "openvino_int8" in variants else "int8")
    assert f"backend auto -> {backend}: fastest accepted variant here (int8" in log


def test_without_amx_or_vnni_auto_falls_back_to_fp32_and_says_so(
    tmp_path, gated_models, ros_domain
):
    models, _ = gated_models
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(PLAIN_CPUINFO)
    env = {CPUINFO_VAR: str(cpuinfo)}
    backend, log = start_and_read_backend(tmp_path, models, "auto2", ros_domain, env)
    assert backend == "onnxruntime"
    line = next(line for line in log.splitlines() if "backend auto ->" in line)
    assert "int8: this CPU has none of avx512_vnni, avx_vnni, amx_int8" in line
