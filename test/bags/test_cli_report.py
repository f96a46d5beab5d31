"""cherry-bag-make on a crop folder, cherry-eval with two models, the report files, sample bag."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cherry_classifier.bags import evaluate, make_bag
from cherry_classifier.bags.io import bag_summary, decode, iter_messages
from cherry_classifier.bags.labels import read_labels
from cherry_classifier.core.decision import LABEL_NAMES
from cherry_classifier.evaluation.record_report import write_report
from cherry_classifier.evaluation.records import RecordSet
from cherry_classifier.evaluation.synthetic import render_crop
from test.bags.conftest import DEFAULT_MODEL, REPO_ROOT
from test.conftest import require

SAMPLE_BAG = REPO_ROOT / "data" / "sample_bag"


@pytest.fixture(scope="module")
def crop_folder(tmp_path_factory) -> Path:
    """ROOT/<class>/ with 2 stacked crops each (one of them as mono layer files)."""
    root = tmp_path_factory.mktemp("crops")
    for index, name in enumerate(LABEL_NAMES):
        (root / name).mkdir()
        crops = [render_crop(name, np.random.default_rng([index, k])) for k in range(2)]
        cv2.imwrite(str(root / name / "a.png"), crops[0])
        for channel, layer in enumerate(("bot1", "bot2", "top2")):
            cv2.imwrite(str(root / name / f"b_{layer}.png"), crops[1][..., channel])
    return root


def test_bag_make_cli_writes_one_labelled_image_per_crop(tmp_path, crop_folder, capsys):
    bag = tmp_path / "crops_bag"
    args = ["--out", str(bag), "--crops", str(crop_folder), "--storage", "mcap"]
    assert make_bag.main([*args, "--compressed", "none", "--rate", "10"]) == 0
    assert "/camera/crops: 6 x sensor_msgs/msg/Image" in capsys.readouterr().out
    summary = bag_summary(bag)
    assert summary.storage == "mcap" and summary.topics["/cherry_labels"][1] == 6
    assert summary.duration_s == pytest.approx(0.5)
    images = [decode(m) for m in iter_messages(bag, ["/camera/crops"])]
    assert [i.header.frame_id for i in images][:2] == ["clean/a", "clean/b"]
    stamps = [i.header.stamp.sec * 10**9 + i.header.stamp.nanosec for i in images]
    assert len(set(stamps)) == 6
    labels = read_labels(bag)
    assert [labels[("/camera/crops", s)][0].name for s in stamps] == [
        n for n in LABEL_NAMES for _ in range(2)
    ]
    assert labels[("/camera/crops", stamps[0])][0].region == (0, 0, 128, 128)


def test_eval_cli_compares_models_and_writes_the_report(tmp_path, crop_folder, capsys):
    bag = tmp_path / "bag"
    make_bag.main(["--out", str(bag), "--crops", str(crop_folder)])
    params = tmp_path / "params.yaml"
    params.write_text(
        "classifier:\n  ros__parameters:\n    input_mode: crops\n"
        "    image_topics: [camera/crops/compressed]\n    pit_threshold: 0.6\n"
    )
    out = tmp_path / "report"
    common = ["--params-file", str(params), "--out", str(out), "--threads", "1"]
    argv = [str(bag), "--model", str(DEFAULT_MODEL), "--model", str(DEFAULT_MODEL), *common]
    assert evaluate.main([*argv, "--thresholds", "params"]) == 0
    assert "default#2: 6 decisions (6 labelled)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"default", "default#2"}
    model = report["models"]["default"]
    assert model["meta"]["input_mode"] == "crops"
    assert model["meta"]["thresholds"]["pit_threshold"] == 0.6
    assert model["metrics"]["labelled"] == 6 and len(model["metrics"]["confusion"]) == 3
    assert list(model["per_camera"]) == ["/camera/crops/compressed"]
    for name in ("report.md", "sweep.png", "reliability.png", "confusion_default.png"):
        assert (out / name).stat().st_size > 0
    assert "![threshold sweep](sweep.png)" in (out / "report.md").read_text()

    rescored = tmp_path / "rescored"
    assert (
        evaluate.main(["--records", str(out / "records_default.jsonl"), "--out", str(rescored)])
        == 0
    )
    again = json.loads((rescored / "report.json").read_text())["models"]["records_default"]
    assert again["metrics"] == model["metrics"]


def test_report_with_latencies_and_drops(tmp_path, synthetic_bag, classifier):
    from cherry_classifier.bags.offline import evaluate_bag

    records = evaluate_bag(synthetic_bag, classifier)
    for k, record in enumerate(records.records):
        record.latency_s = 0.01 + 0.001 * k
    md_path, json_path = write_report({"live": records}, tmp_path, drops={"/line1": 2})
    report = json.loads(json_path.read_text())  # strict JSON: NaN written as null
    assert report["latency"]["live"]["count"] == len(records)
    assert report["drops"] == {"/line1": 2}
    assert (tmp_path / "latency.png").is_file()
    assert "latency.png" in md_path.read_text()
    assert "NaN" not in json_path.read_text()
    saved = RecordSet.load(records.save(tmp_path / "r.npz"))
    assert saved.records == records.records


def test_params_file_and_topic_resolution():
    params = evaluate.node_params(REPO_ROOT / "config" / "threading_ws.yaml")
    assert params["input_mode"] == "frames" and params["layer_offsets_px"] == [0, 13, 25]
    available = ["/line1/camera/image", "/line2/image/compressed"]
    assert evaluate.resolve_topics(["camera/image"], available) == ["/line1/camera/image"]
    assert evaluate.resolve_topics(["nothing"], available) is None
    with pytest.raises(ValueError, match="not in the bag"):
        evaluate.resolve_topics(["camera/image", "other"], available)
    assert evaluate.model_labels(["a/default", "b/default", "c/x.pt"]) == [
        "default",
        "default#2",
        "x.pt",
    ]


def test_bundled_sample_bag_layout():
    require(SAMPLE_BAG, "the bundled sample bag (data/sample_bag, part of the repository)")
    summary = bag_summary(SAMPLE_BAG)
    assert summary.storage == "mcap"
    assert summary.topics["/line1/image/compressed"] == ("sensor_msgs/msg/CompressedImage", 12)
    assert summary.topics["/line2/image/compressed"][1] >= 1
    assert summary.topics["/cherry_labels"][1] == 12
    # Measured: 2,574,309 bytes (2,571,102 mcap + 3,207 metadata; README says 2.6 MB). The bound
    # is about 2.3x that: a regenerated bag may grow a little, not carry full-size frames.
    assert sum(p.stat().st_size for p in SAMPLE_BAG.iterdir()) < 6_000_000
    labels = read_labels(SAMPLE_BAG)
    assert all(20 <= len(v) <= 30 for v in labels.values())
    assert {k[0] for k in labels} == {"/line1/image/compressed"}


def test_eval_reports_the_yardstick_beside_the_bag(tmp_path, crop_folder, production_frames_dir):
    """--yardstick: each model on the old detector's annotated real frame, in report.md and
    report.json, kept through --records (figures: test/evaluation/test_yardstick.py)."""
    bag = tmp_path / "bag"
    make_bag.main(["--out", str(bag), "--crops", str(crop_folder)])
    out = tmp_path / "report"
    argv = [str(bag), "--model", str(DEFAULT_MODEL), "--input-mode", "crops", "--out", str(out)]
    assert evaluate.main([*argv, "--threads", "1", "--yardstick", str(production_frames_dir)]) == 0
    yardstick = json.loads((out / "report.json").read_text())["models"]["default"]["meta"][
        "yardstick"
    ]
    assert yardstick["old_boxes"] == 20 and yardstick["localizer_found"] >= 18
    assert yardstick["compared"] == yardstick["agreeing"] + sum(
        n
        for pair, n in yardstick["old_to_new"].items()
        if pair.split("->")[0] != pair.split("->")[1]
    )
    markdown = (out / "report.md").read_text()
    assert "## Yardstick: the old production detector's annotated real frame" in markdown
    assert "the old model is not ground truth" in markdown
    rescored = tmp_path / "rescored"
    assert (
        evaluate.main(["--records", str(out / "records_default.jsonl"), "--out", str(rescored)])
        == 0
    )
    assert "## Yardstick" in (rescored / "report.md").read_text()
    with pytest.raises(SystemExit, match="--yardstick needs the models"):
        evaluate.main(
            [
                "--records",
                str(out / "records_default.jsonl"),
                "--out",
                str(rescored),
                "--yardstick",
                str(production_frames_dir),
            ]
        )
