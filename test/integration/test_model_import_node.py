"""From the line's .pt file to the node: ``cherry-model import`` and ``variants`` on a ResNet50,
then the node started as the launch file starts it with that bundle on the int8 backend.

Its decisions must carry the imported model's id and its probabilities must match the bundle's
fp32 model within the int8 gate's golden tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from test.conftest import require

rclpy = require("rclpy", "ROS 2 tests (rclpy: the venv's ROS wheels, scripts/bootstrap.sh)")
msgs = require("cherry_classifier_msgs.msg", "the package's own interfaces (colcon build)")

import torch  # noqa: E402

from cherry_classifier.core.architectures import build_model  # noqa: E402
from cherry_classifier.core.bundle import load_bundle  # noqa: E402
from cherry_classifier.core.classifier import GOLDEN_TOLERANCE, Classifier  # noqa: E402
from cherry_classifier.core.decision import LABEL_NAMES  # noqa: E402
from cherry_classifier.core.preprocess import stack_crops  # noqa: E402
from cherry_classifier.evaluation.dataset import read_class_samples  # noqa: E402
from cherry_classifier.evaluation.synthetic import write_dataset  # noqa: E402
from cherry_classifier.model_cli import main as cherry_model  # noqa: E402
from cherry_dev.processes import process_output  # noqa: E402
from test.ros_client import Client, image_msg, start_classifier  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
CLASSES = ("clean", "maybe", "pit")
CROPS_PER_CLASS = 8


def steady_head(model: torch.nn.Module, crops: np.ndarray) -> None:
    """A head whose CLEAN decisions lie far from every threshold, for an int8 gate to accept.

    A random ResNet50's pooled features do not tell synthetic pits from clean cherries (their
    class gap is about half their spread), so any head that splits the crops puts some next to
    a threshold, and int8 rounding flips 4-6% of them: the gate (at most 0.5%) rightly refuses
    it. This head adds one feature's deviation (+-1.5 logits over the crops) to a clean logit of
    4: every crop is CLEAN with P(clean) 0.86-0.99 and P(pit) below 0.07, so probabilities still
    differ crop by crop (what the test compares) while decisions cannot flip.
    """
    trunk = torch.nn.Sequential(*list(model.children())[:-1])
    with torch.inference_mode():
        features = trunk(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255).flatten(1)
    feature = int(features.std(0).argmax())
    values = features[:, feature]
    scale = 0.5 / float(values.std() + 1e-6)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.weight[CLASSES.index("clean"), feature] = scale
        model.fc.bias[CLASSES.index("clean")] = 4.0 - scale * float(values.median())


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path, np.ndarray]:
    """(models_dir, crops_dir, crops): a production-style ResNet50 .pt imported and gated by
    cherry-model into models_dir/line3."""
    root = tmp_path_factory.mktemp("import")
    crops_dir = root / "crops"
    write_dataset(crops_dir, CROPS_PER_CLASS, CLASSES, seed=5)
    samples, _, _ = read_class_samples(crops_dir, CLASSES, ("bot1", "bot2", "top2"))
    torch.manual_seed(0)
    model = build_model("resnet50", len(CLASSES)).eval()
    crops = np.stack(samples)
    steady_head(model, crops)
    torch.save(model.state_dict(), root / "classification-line3.pt")
    bundle = root / "models" / "line3"
    command = ["import", str(root / "classification-line3.pt"), "--architecture", "resnet50"]
    command += ["--classes", ",".join(CLASSES), "--input-scale", "1/255", "--out", str(bundle)]
    assert cherry_model([*command, "--crops", str(crops_dir), "--threads", "2"]) == 0
    gate = ["variants", str(bundle), "--calibration", str(crops_dir), "--heldout", str(crops_dir)]
    assert cherry_model([*gate, "--variants", "int8", "--threads", "2"]) == 0
    assert load_bundle(bundle).manifest.variants["int8"]["accepted"]
    return bundle.parent, crops_dir, crops


def test_the_node_runs_the_imported_model_on_int8(tmp_path, imported, ros_domain):
    models_dir, _, crops = imported
    bundle = load_bundle(models_dir / "line3")
    fp32 = Classifier(bundle, "eager", num_threads=1)
    expected = fp32.predict_proba(stack_crops(crops, bundle.manifest))
    expected_labels = fp32.classify(crops).labels
    with start_classifier(
        tmp_path,
        models_dir,
        "imported",
        domain=ros_domain,
        model_path="line3",
        input_mode="crops",
        backend="int8",
    ) as process:
        client = Client("imported", ros_domain)
        try:
            client.wait(lambda: bool(client.model_infos), "the int8 node", timeout=120)
            client.settle()
            info = client.model_infos[-1]
            assert (info.model_id, info.backend, info.fail_safe) == (bundle.model_id, "int8", False)
            # bgr8: the B, G, R planes are the crop's bot1, bot2, top2 layers
            images = [image_msg(crop, "bgr8", index, "crop") for index, crop in enumerate(crops)]
            arrays = client.send_and_collect(images)
        finally:
            client.close()
            assert process.poll() is None, process_output(tmp_path / "classifier_imported.log")
    assert [len(array.decisions) for array in arrays] == [1] * len(crops)
    assert {array.model_id for array in arrays} == {bundle.model_id}
    got = np.array([array.decisions[0].probabilities for array in arrays])
    assert np.abs(got - expected).max() <= GOLDEN_TOLERANCE["int8"]
    decided = [LABEL_NAMES[array.decisions[0].label] for array in arrays]
    assert decided == [LABEL_NAMES[label] for label in expected_labels]
