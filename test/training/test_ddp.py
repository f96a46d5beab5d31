"""DDP: torchrun with 2 gloo processes on the CPU runs one tiny epoch and exports once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cherry_classifier.core.classifier import Classifier

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_two_gloo_processes_train_one_epoch(tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "cherry_classifier.training.train", "--out", str(out), "--quiet",
        "--set", "run.device=cpu", "--set", "run.num_threads=1",
        "--set", "model.input_size=64", "--set", "data.synthetic.per_class=16",
        "--set", "train.epochs=1", "--set", "train.batch_size=8",
        "--set", "export.variants=[]", "--set", "export.onnx=false", "--set", "export.report=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    history = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert len(history) == 1
    # 36 training crops: 18 per rank, 2 full batches of 8 each (drop_last), 32 in all.
    assert history[0]["train_images"] == 32
    report = json.loads((out / "report.json").read_text())
    assert Classifier.from_path(report["bundle"]).model_id == report["model_id"]
