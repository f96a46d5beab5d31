"""Small, fast training set-ups: mobilenet_v3_small on synthetic crops, one CPU thread.

One thread, not two: on a CPU shared with other jobs, two OpenMP threads per process were
measured 20x slower (spinning threads fighting for cores); one thread is never slowed so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cherry_classifier.training.config import TrainConfig, from_dict

THREADS = 1


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


def tiny_config(out_dir: Path, **dotted) -> TrainConfig:
    """A seconds-long run: 64 px, a few dozen crops per class, 2 epochs, nothing optional."""
    values = {
        "run.out_dir": str(out_dir),
        "run.num_threads": THREADS,
        "model.input_size": 64,
        "data.synthetic.per_class": 24,
        "train.epochs": 2,
        "train.batch_size": 16,
        "train.progress": False,
        "export.variants": [],
        "export.onnx": False,
        "export.report": False,
        **dotted,
    }
    return from_dict({}).replace(**values)
