"""The bag tools' shared rules: which thresholds (and where from), which topics in each input mode
(and what a user is told when the bag has none), decision keys, and image sets offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from cherry_classifier.bags import evaluate
from cherry_classifier.bags.inputs import (
    InputSettings,
    choose_topics,
    decision_keys,
    frames_over_mono_warning,
)
from cherry_classifier.bags.make_bag import (
    BagImage,
    production_triggers,
    synthetic_triggers,
    write_image_bag,
)
from cherry_classifier.bags.offline import evaluate_bag
from cherry_classifier.bags.thresholds import (
    choose_backend_name,
    choose_thresholds,
    parse_thresholds,
    with_overrides,
)
from cherry_classifier.core.decision import Thresholds
from test.bags.conftest import DEFAULT_MODEL
from test.conftest import REPO_ROOT

LAYERS = ["/cam/image/bot1", "/cam/image/bot2", "/cam/image/top2"]
MODEL_THRESHOLDS = Thresholds(0.3, 0.1, 0.6)


@pytest.fixture(scope="module")
def layers_bag(tmp_path_factory) -> Path:
    """Two synthetic triggers as mono layer topics (raw), labelled on bot1."""
    path = tmp_path_factory.mktemp("layers") / "bag"
    triggers = synthetic_triggers(2, "/cam/image", cherries=(9, 11), seed=4, mode="layers")
    write_image_bag(path, triggers, "sqlite3", "none")
    return path


def test_thresholds_flag_takes_model_params_or_three_numbers():
    assert parse_thresholds("model") == "model" and parse_thresholds("params") == "params"
    assert parse_thresholds("0.6,0.1,0.4") == Thresholds(0.6, 0.1, 0.4)
    for bad in ("0.2,0.5,0.5", "0.5,0.2", "high"):  # maybe above pit, two numbers, a word
        with pytest.raises(argparse.ArgumentTypeError, match="pit,maybe,clean"):
            parse_thresholds(bad)


def test_thresholds_default_to_the_params_file_when_given_else_the_model():
    params = {"pit_threshold": 0.7}

    def model() -> Thresholds:
        return MODEL_THRESHOLDS

    given = choose_thresholds(None, "line.yaml", params, model, "m1")
    # the file's values, the node's defaults (Thresholds()) for those it does not set
    assert given.thresholds == Thresholds(0.7, 0.2, 0.5)
    assert given.source == "params file line.yaml"
    assert "pit 0.7 / maybe 0.2 / clean 0.5 (from params file line.yaml)" in given.describe()
    none = choose_thresholds(None, None, {}, model, "m1")
    assert none.thresholds == MODEL_THRESHOLDS and none.source == "model m1: its tuned thresholds"
    assert choose_thresholds("model", "line.yaml", params, model, "m1").thresholds == (
        MODEL_THRESHOLDS
    )
    explicit = choose_thresholds(Thresholds(0.4, 0.3, 0.5), "line.yaml", params, model, "m1")
    assert explicit.source == "--thresholds"
    with pytest.raises(ValueError, match="needs a --params-file"):
        choose_thresholds("params", None, {}, model, "m1")
    with pytest.raises(SystemExit, match="--records keeps the decisions as recorded"):
        evaluate.main(["--records", "r.jsonl", "--thresholds", "model", "--out", "x"])
    changed = with_overrides(none, {"pit_threshold": 0.5, "maybe_threshold": None})
    assert changed.thresholds == Thresholds(0.5, 0.1, 0.6)
    assert changed.source.endswith("; --pit-threshold 0.5")


def test_the_backend_is_the_flags_else_the_params_files_else_the_shipped_auto():
    """cherry-eval scores the variant a node with the same settings runs here (the shipped
    files set auto), so live and offline decisions agree by default."""
    assert choose_backend_name("eager", "line.yaml", {"backend": "int8"}) == ("eager", "--backend")
    assert choose_backend_name(None, "line.yaml", {"backend": "int8"}) == (
        "int8",
        "params file line.yaml",
    )
    assert choose_backend_name(None, "line.yaml", {})[0] == "auto"
    assert choose_backend_name(None, None, {}) == ("auto", "the shipped parameters files' default")
    shipped = yaml.safe_load((REPO_ROOT / "config" / "threading_ws.yaml").read_text())
    assert shipped["/**/classifier"]["ros__parameters"]["backend"] == "auto"


def test_the_node_defaults_are_the_ones_a_params_file_leaves_unset():
    from test.conftest import require

    require("rcl_interfaces", "the node's parameter table (ROS wheels)")
    from cherry_classifier.node.parameters import PARAMETERS

    defaults = {name: PARAMETERS[name].default for name in Thresholds().to_dict()}
    assert defaults == Thresholds().to_dict()


def test_layers_mode_without_topics_names_the_bags_topics_and_the_flag(layers_bag, tmp_path):
    argv = [str(layers_bag), "--model", str(DEFAULT_MODEL), "--input-mode", "layers"]
    with pytest.raises(SystemExit) as raised:
        evaluate.main([*argv, "--out", str(tmp_path / "out")])
    message = str(raised.value)
    assert "None" not in message
    assert f"Its image topics: {LAYERS}" in message
    assert f"--topics {' '.join(LAYERS)}" in message
    with pytest.raises(ValueError, match=r"has none; its readable topics: .*--input-mode frames"):
        choose_topics(layers_bag, "image_set")


def test_frames_mode_over_mono_topics_warns_in_the_log_and_the_report(layers_bag, tmp_path, caplog):
    out = tmp_path / "frames"
    argv = [str(layers_bag), "--model", str(DEFAULT_MODEL), "--out", str(out), "--threads", "1"]
    assert evaluate.main(argv) == 0
    assert "frames mode over mono topic(s)" in caplog.text
    assert f"--input-mode layers --topics {' '.join(LAYERS)}" in caplog.text
    assert "**warning**: frames mode over mono topic(s)" in (out / "report.md").read_text()
    layered = InputSettings("layers", tuple(LAYERS))
    assert frames_over_mono_warning(layers_bag, layered) == ""


def test_eval_prints_the_thresholds_and_their_source(layers_bag, tmp_path, capsys):
    out = tmp_path / "layers"
    argv = [str(layers_bag), "--model", str(DEFAULT_MODEL), "--input-mode", "layers"]
    argv += ["--topics", *LAYERS, "--out", str(out), "--threads", "1"]
    assert evaluate.main(argv) == 0
    printed = capsys.readouterr().out
    assert "default: thresholds pit 0.2796 / maybe 0.2091 / clean 0.5 (from model " in printed
    assert "default: 20 decisions (20 labelled)" in printed
    report = json.loads((out / "report.json").read_text())["models"]["default"]
    assert report["meta"]["thresholds_source"].endswith("its tuned thresholds")
    # auto, as the shipped files: the variant this CPU runs, named in the report
    assert report["meta"]["backend_source"].startswith(f"backend {report['meta']['backend']} (")
    assert f"backend {report['meta']['backend']}" in (out / "report.md").read_text()
    assert "(from model " in (out / "report.md").read_text()


def test_decision_keys_join_layer_sets_and_leave_incomplete_ones_out(tmp_path, layers_bag):
    keys = decision_keys(layers_bag, InputSettings("layers", tuple(LAYERS)))
    joined = ",".join(LAYERS)
    assert len(keys) == 6 and {key[0] for key in keys} == {joined}
    assert len(set(keys)) == 2  # three layers each, one key per set
    # a trigger whose top2 never came: its two layers get no key
    lonely = tmp_path / "lonely"
    layers = next(synthetic_triggers(1, "/cam/image", cherries=3, seed=1, mode="layers"))
    write_image_bag(lonely, [layers[:2]], "sqlite3", "none")
    assert decision_keys(lonely, InputSettings("layers", tuple(LAYERS))) == [None, None]


def test_an_image_set_offline_decides_as_its_aligned_frame(
    tmp_path, production_frames_dir, classifier
):
    """A real trigger as the line camera sends it (image_set) and as the stacked frame aligned
    by the same encoder counts (frames): the same cherries, the same probabilities."""
    folder = production_frames_dir / "20240426T121926876364"
    path = tmp_path / "both"
    frames = production_triggers([folder], "/cam/image", "frames")
    sets = production_triggers([folder], "/cam/image", "image_set")
    triggers: list[list[BagImage]] = [a + b for a, b in zip(frames, sets, strict=True)]
    write_image_bag(path, triggers, "mcap", "none")
    assert choose_topics(path, "image_set") == ["/cam/image_set"]
    from_set = evaluate_bag(path, classifier, input_mode="image_set")
    from_frame = evaluate_bag(path, classifier, input_mode="frames", image_topics=["/cam/image"])
    assert len(from_set) == len(from_frame) > 0
    assert from_set.meta["frames"] == {"/cam/image_set": 1}
    assert [r.region for r in from_set.records] == [r.region for r in from_frame.records]
    assert [r.stamp_ns for r in from_set.records] == [r.stamp_ns for r in from_frame.records]
    np.testing.assert_array_equal(from_set.probabilities, from_frame.probabilities)
