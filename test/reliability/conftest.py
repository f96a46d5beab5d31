"""Models for the reliability tests: two good ones that anyone can tell apart, and hostile files.

``clean`` always answers P(clean) ~ 1 and ``pit`` P(pit) ~ 1 (mobilenet_v3_small with a zeroed
head and a biased head bias), so every decision shows which model made it. Each hostile file
next to them is refused for one named reason.
"""

from __future__ import annotations

import cherry_classifier.core  # noqa: F401  first: sets OMP_WAIT_POLICY before torch loads

# isort: split
import os
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from cherry_classifier.core import safe_io
from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.bundle import save_bundle
from cherry_classifier.core.manifest import ModelManifest
from cherry_dev.golden_sets import write_golden_set
from test.fixtures.hostile_bundles import GOLDEN_BOMBS, add_long_string, write_zero_crops

CLASSES = ("clean", "maybe", "pit")
HEAD = "classifier.3"  # mobilenet_v3_small's last Linear

# file or folder in models_dir -> what its refusal must say
HOSTILE = {
    "truncated": "unreadable or truncated",
    "empty.pt": "empty file",
    "wrong_arch": "weights do not fit resnet18",
    "wrong_classes": "but the manifest lists 2 classes",
    "nan": "NaN or Inf",
    "huge.pt": "-byte limit",
    "evil.pt": "must never run code",
    "escape": "outside models_dir",
    "../outside": "outside models_dir",
    "/etc/passwd": "outside models_dir",
    "missing": "no such file or folder",
    "": "no model path given",
    "linked_weights": "weights.pt resolves to",
    "linked_golden": "golden.npz resolves to",
    "bomb_1mb": GOLDEN_BOMBS["bomb_1mb"][1],
    "bomb_20mb": GOLDEN_BOMBS["bomb_20mb"][1],
    "fifo_golden": "golden.npz: not a regular file",
    "huge_manifest": "-byte limit for a manifest",
    "long_string": "-character limit for a manifest string",
    "swapped_classes": "expected clean, decided pit: is the manifest's class order right?",
    "no_golden": "the bundle has no golden set (golden.npz) to check this backend against; "
    "refused while require_golden is true",
}


class Exploit:
    """Unpickling this would create ``marker``: the proof that a model file ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def biased_bundle(folder: Path, favoured: str) -> str:
    """Save a bundle that gives P(favoured) ~ 1 whatever the crop; return its model id."""
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_small", len(CLASSES))
    state = model.state_dict()
    state[f"{HEAD}.weight"].zero_()
    state[f"{HEAD}.bias"].copy_(torch.tensor([20.0 if c == favoured else 0.0 for c in CLASSES]))
    manifest = ModelManifest(architecture="mobilenet_v3_small", class_names=CLASSES)
    model_id = save_bundle(folder, state, manifest).model_id
    write_golden_set(folder)
    return model_id


def _edit_manifest(folder: Path, **changes) -> None:
    path = folder / "manifest.yaml"
    document = yaml.safe_load(path.read_text())
    document.update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """``clean`` and ``pit`` bundles, every file of HOSTILE, and ``marker`` (must never appear)."""
    root = tmp_path_factory.mktemp("reliability_models")
    folder = root / "models"
    folder.mkdir()
    biased_bundle(folder / "clean", "clean")
    biased_bundle(folder / "pit", "pit")

    shutil.copytree(folder / "clean", folder / "truncated")
    weights = folder / "truncated" / "weights.pt"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])

    (folder / "empty.pt").write_bytes(b"")

    shutil.copytree(folder / "clean", folder / "wrong_arch")
    _edit_manifest(folder / "wrong_arch", architecture="resnet18")

    shutil.copytree(folder / "clean", folder / "wrong_classes")
    _edit_manifest(folder / "wrong_classes", class_names=["clean", "pit"])

    shutil.copytree(folder / "clean", folder / "nan")
    state = torch.load(folder / "nan" / "weights.pt", weights_only=True)
    state[f"{HEAD}.bias"][1] = float("nan")
    torch.save(state, folder / "nan" / "weights.pt")

    with open(folder / "huge.pt", "wb") as stream:  # sparse: costs no disk
        stream.truncate(safe_io.MAX_FILE_BYTES + 1)

    payload = {"state_dict": {f"{HEAD}.bias": Exploit(root / "marker")}}
    torch.save(payload, folder / "evil.pt", pickle_module=pickle)

    shutil.copytree(folder / "clean", root / "outside")
    os.symlink(root / "outside", folder / "escape")
    for name in ("weights.pt", "golden.npz"):  # one file of the folder links out
        linked = folder / f"linked_{name.split('.')[0]}"
        shutil.copytree(folder / "clean", linked)
        (linked / name).unlink()
        os.symlink(root / "outside" / name, linked / name)

    for name, (shape, _) in GOLDEN_BOMBS.items():
        shutil.copytree(folder / "clean", folder / name)
        write_zero_crops(folder / name / "golden.npz", shape)
    shutil.copytree(folder / "clean", folder / "fifo_golden")
    (folder / "fifo_golden" / "golden.npz").unlink()
    os.mkfifo(folder / "fifo_golden" / "golden.npz")  # a reader that opened it would hang

    shutil.copytree(folder / "clean", folder / "huge_manifest")
    add_long_string(folder / "huge_manifest" / "manifest.yaml", 20 << 20)
    shutil.copytree(folder / "clean", folder / "long_string")
    add_long_string(folder / "long_string" / "manifest.yaml", safe_io.MAX_MANIFEST_STRING_CHARS + 1)

    # The attack once found: class order reversed, id and variants deleted, golden set kept.
    shutil.copytree(folder / "clean", folder / "swapped_classes")
    path = folder / "swapped_classes" / "manifest.yaml"
    document = yaml.safe_load(path.read_text())
    document["class_names"] = list(reversed(document["class_names"]))
    document.pop("model_id", None)
    document.pop("variants", None)
    path.write_text(yaml.safe_dump(document, sort_keys=False))

    shutil.copytree(folder / "clean", folder / "no_golden")
    (folder / "no_golden" / "golden.npz").unlink()
    return folder


@pytest.fixture(scope="session")
def marker(models_dir: Path) -> Path:
    """The file the pickle exploit would write; every test that loads evil.pt checks it."""
    return models_dir.parent / "marker"


def model_id_of(folder: Path) -> str:
    return yaml.safe_load((folder / "manifest.yaml").read_text())["model_id"]


@dataclass
class LiveNode:
    """A classifier process and the test's client for it."""

    client: Any
    process: Any
    log: Path
    name: str  # fully qualified node name, as diagnostics name it

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def start_live_node(
    log_dir: Path, models_dir: Path, namespace: str, domain: int | None = None, **options
) -> Iterator[LiveNode]:
    """Start the classifier (see test.ros_client.start_classifier) and a client; yield both,
    then check the process is still alive (it must survive everything the test did)."""
    from cherry_dev.processes import process_output
    from test.ros_client import Client, start_classifier

    with start_classifier(log_dir, models_dir, namespace, domain=domain, **options) as process:
        client = Client(namespace, domain)
        log = log_dir / f"classifier_{namespace}.log"
        try:
            client.wait(lambda: client.swap.service_is_ready() and client.model_infos, "the node")
            yield LiveNode(client, process, log, f"/{namespace}/classifier")
        finally:
            client.close()
            assert process.poll() is None, process_output(log)


@pytest.fixture
def crops_node(tmp_path, models_dir, ros_domain) -> Iterator[LiveNode]:
    """A crops-mode classifier on ``/rel/camera/image`` running the ``clean`` model."""
    pytest.importorskip("rclpy")
    with start_live_node(
        tmp_path,
        models_dir,
        "rel",
        domain=ros_domain,
        model_path="clean",
        input_mode="crops",
        max_batch_delay_ms=5.0,
    ) as live:
        yield live
