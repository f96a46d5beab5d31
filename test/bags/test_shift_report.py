"""The label-free shift report on real bags (written by cherry-bag-make's code, evaluated by
cherry-eval): every chart on a bag without labels, a sweep that is not blank, and the drift
score against the bundled model's reference on both sides of its alarm level."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cherry_classifier.bags import evaluate, make_bag
from cherry_classifier.bags.make_bag import BagImage, synthetic_triggers, write_image_bag
from cherry_classifier.core.drift import DEFAULT_WINDOW, DRIFT_ALARM_LEVEL
from test.bags.conftest import DEFAULT_MODEL

# The bundled model's reference is its validation split: 150 clean, 33 maybe, 150 pit crops.
LIKE_VALIDATION = "0.45,0.1,0.45"
PITS_10 = "0.85,0.05,0.10"  # a line-like balance: far fewer pits than the model validated on
EMPTY_FRAMES = 2  # frames with no cherries in the unlabelled bag
# matplotlib's tab colours in BGR, as cv2 reads the PNG: decided clean, maybe, pit
LINE_COLOURS_BGR = {"clean": (44, 160, 44), "maybe": (14, 127, 255), "pit": (40, 39, 214)}


def cherry_eval(bag: Path, out: Path, capsys) -> tuple[dict, dict, str]:
    """(report.json, shift.json, printed) of ``cherry-eval BAG --model models/default``."""
    argv = [str(bag), "--model", str(DEFAULT_MODEL), "--out", str(out), "--threads", "1"]
    assert evaluate.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    return report, json.loads((out / "shift.json").read_text()), printed


def unlabelled(triggers):
    for images in triggers:
        yield [BagImage(i.topic, i.image, i.frame_id, None) for i in images]


@pytest.fixture(scope="module")
def unlabelled_report(tmp_path_factory) -> tuple[Path, dict, dict, str]:
    root = tmp_path_factory.mktemp("unlabelled")
    cherries = (25, 0, 25, 25, 0, 25, 25, 25, 25, 25)
    triggers = synthetic_triggers(len(cherries), "/line1/image", cherries=cherries, seed=11)
    write_image_bag(root / "bag", unlabelled(triggers), "sqlite3", "png")
    out = root / "report"
    argv = [str(root / "bag"), "--model", str(DEFAULT_MODEL), "--out", str(out)]
    assert evaluate.main([*argv, "--threads", "1"]) == 0
    return out, *_read(out)


def _read(out: Path) -> tuple[dict, dict]:
    return (
        json.loads((out / "report.json").read_text()),
        json.loads((out / "shift.json").read_text()),
    )


def test_unlabelled_bag_says_what_is_missing_and_gets_every_label_free_figure(
    unlabelled_report,
):
    (
        out,
        report,
        shift,
    ) = unlabelled_report[:3]
    assert report["labelled"] is False
    message = report["labels_missing"]
    assert message.startswith("no labels in this bag (/cherry_labels missing): label-free report")
    assert "docs/bags.md" in message
    markdown = (out / "report.md").read_text()
    assert message in markdown and "nan" not in markdown.lower()
    assert "## Metrics" not in markdown and "[shift.md](shift.md)" in markdown
    figures = shift["default"]
    assert figures["frames"] == 10 and figures["frames_with_no_cherries"] == EMPTY_FRAMES
    assert figures["cherries"] == sum(figures["decided"].values()) > 100
    assert figures["cherries_per_frame"]["min"] == 0 and figures["cherries_per_frame"]["max"] > 20
    assert sum(figures["p_pit_counts"]) == figures["cherries"]
    assert figures["maybe_rate"] == figures["decided"]["maybe"] / figures["cherries"]
    assert figures["lost_frames"] == 0 and figures["late_frames"] is None  # offline: no latency
    assert figures["reference"]["model_id"] == "6b6790f7e0bad52c"
    drift = figures["drift"]
    assert drift["decisions"] == figures["cherries"] and drift["score"] >= 0
    assert drift["reference_label_shares"]["pit"] == pytest.approx(151 / 333)
    shift_md = (out / "shift.md").read_text()
    for line in ("frames with no cherries: 2", "decided: clean", "reference: ", "drift score"):
        assert line in shift_md, line
    assert (out / figures["plot"]).stat().st_size > 20_000


def test_the_sweep_of_an_unlabelled_bag_shows_decided_counts(unlabelled_report):
    out, report = unlabelled_report[:2]
    rows = report["models"]["default"]["sweep"]
    assert all(
        sum(row["decided"].values()) == report["models"]["default"]["metrics"]["decisions"]
        for row in rows
    )
    image = cv2.imread(str(out / "sweep.png"))
    for label, colour in LINE_COLOURS_BGR.items():
        close = np.all(np.abs(image.astype(int) - colour) <= 30, axis=2)
        assert close.sum() > 200, f"no {label} line in the sweep plot"


def test_the_console_says_no_labels_instead_of_nan(tmp_path, capsys):
    triggers = synthetic_triggers(1, "/line1/image", cherries=5, seed=2)
    write_image_bag(tmp_path / "bag", unlabelled(triggers), "sqlite3", "png")
    _, _, printed = cherry_eval(tmp_path / "bag", tmp_path / "out", capsys)
    assert "no labels in this bag (/cherry_labels missing)" in printed
    assert "nan" not in printed


def make_synthetic_bag(out: Path, shares: str, frames: int, seed: int) -> Path:
    argv = ["--out", str(out), "--synthetic", str(frames), "--seed", str(seed)]
    assert make_bag.main([*argv, "--class-shares", shares]) == 0
    return out


def test_a_class_balance_shift_raises_the_drift_score_past_the_alarm_level(tmp_path, capsys):
    unshifted = make_synthetic_bag(tmp_path / "like_validation", LIKE_VALIDATION, 10, seed=5)
    shifted = make_synthetic_bag(tmp_path / "pits_10", PITS_10, 10, seed=5)
    scores = {}
    for bag in (unshifted, shifted):
        report, shift, printed = cherry_eval(bag, tmp_path / f"report_{bag.name}", capsys)
        assert report["labelled"] and "pit recall" in printed  # labelled: both reports
        drift = shift["default"]["drift"]
        assert drift["decisions"] >= 200
        scores[bag.name] = drift["score"]
    assert scores["like_validation"] < DRIFT_ALARM_LEVEL / 2, scores
    assert scores["pits_10"] > 2 * DRIFT_ALARM_LEVEL, scores


def test_the_sliding_window_crosses_the_alarm_after_the_balance_shifts(tmp_path, capsys):
    first = synthetic_triggers(8, "/line1/image", seed=21, class_shares=(0.45, 0.1, 0.45))
    then = synthetic_triggers(20, "/line1/image", seed=22, class_shares=(0.85, 0.05, 0.1))
    write_image_bag(tmp_path / "bag", itertools.chain(first, then), "sqlite3", "png")
    _, shift, _ = cherry_eval(tmp_path / "bag", tmp_path / "out", capsys)
    over_time = shift["default"]["drift_over_time"]
    assert over_time[0][1] < DRIFT_ALARM_LEVEL < over_time[-1][1], over_time
    assert shift["default"]["cherries"] >= DEFAULT_WINDOW + 8 * 25  # the last window is shifted
