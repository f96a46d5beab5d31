"""The model store: the node's confined rules and the offline tools' search path, both checked
(allow-list, golden crops, input contract) and returning a typed Classifier."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cherry_classifier.core.bundle import save_bundle
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.contract import InputContract
from cherry_classifier.core.model_store import ModelRefusedError, ModelStore

from .conftest import make_manifest, random_crops


@pytest.fixture(scope="module")
def store_root(tmp_path_factory, resnet18_three):
    """models/{good,bad_golden,wide}, a run folder outside models/ and a symlink out of it."""
    root = tmp_path_factory.mktemp("store")
    models = root / "models"
    crops = random_crops(4)
    good = save_bundle(models / "good", resnet18_three, make_manifest())
    probabilities = Classifier(good).predict_proba(crops)
    save_bundle(
        models / "bad_golden",
        resnet18_three,
        make_manifest(),
        golden={"crops": crops, "probabilities": probabilities[:, ::-1].copy()},
    )
    save_bundle(models / "wide", resnet18_three, make_manifest(crop_size=160))
    run = root / "runs" / "r1"
    save_bundle(run / "bundle", resnet18_three, make_manifest())
    (run / "report.json").write_text(json.dumps({"bundle": str(run / "bundle")}))
    os.symlink(run / "bundle", models / "escape")
    return root


def test_the_confined_store_refuses_paths_out_of_models_dir(store_root):
    store = ModelStore.confined(store_root / "models", num_threads=1)
    classifier = store.load("good")
    assert isinstance(classifier, Classifier)
    assert classifier.path == (store_root / "models" / "good").resolve()
    for requested in ("escape", "../runs/r1/bundle", str(store_root / "runs" / "r1" / "bundle")):
        with pytest.raises(ModelRefusedError, match="outside models_dir"):
            store.load(requested)
    with pytest.raises(ModelRefusedError, match="no model path given"):
        store.load("")


def test_the_search_path_finds_bundles_and_run_folders_in_order(store_root):
    store = ModelStore.searching([store_root, store_root / "models"], num_threads=1)
    assert store.resolve("good") == store_root / "models" / "good"
    assert store.resolve("runs/r1") == store_root / "runs" / "r1" / "bundle"
    assert store.resolve(str(store_root / "runs" / "r1")) == store_root / "runs" / "r1" / "bundle"
    with pytest.raises(ModelRefusedError, match="no such model here or in"):
        store.resolve("missing")
    with pytest.raises(ModelRefusedError, match="neither a bundle nor a run folder"):
        store.resolve("runs")


def test_every_store_checks_golden_crops_and_the_allow_list(store_root):
    models = store_root / "models"
    for store in (
        ModelStore.confined(models, num_threads=1),
        ModelStore.searching([models], num_threads=1),
    ):
        with pytest.raises(ModelRefusedError, match="bad_golden: golden-set check failed"):
            store.load("bad_golden")
    good_id = ModelStore.searching([models]).load("good").model_id
    listed = ModelStore.searching([models], allowed_ids=[good_id], num_threads=1)
    assert listed.load("good").model_id == good_id
    assert listed.load(store_root / "runs" / "r1").model_id == good_id  # same weights, contract
    with pytest.raises(ModelRefusedError, match=r"wide: model id .* is not in allowed_model_ids"):
        listed.load("wide")  # same weights, another crop contract: another id


def test_a_model_that_does_not_fit_the_inputs_is_refused_with_the_reason(store_root):
    store = ModelStore.confined(store_root / "models", num_threads=1)
    line = InputContract.of(("bot1", "bot2", "top2"), 128)
    assert store.load("good", line).manifest.crop_size == 128
    with pytest.raises(ModelRefusedError, match="wide: contract does not fit: the model takes 160"):
        store.load("wide", line)
    with pytest.raises(ModelRefusedError, match=r"give \(top2, bot2, bot1\)"):
        store.load("good", InputContract.of(("top2", "bot2", "bot1")))
    any_crop = InputContract.of(("bot1", "bot2", "top2"))  # crops mode: no crop is cut
    assert np.isfinite(store.load("wide", any_crop).predict_proba(random_crops(1))).all()


def test_a_store_that_refuses_demo_models_says_which_setting(tmp_path, resnet18_three):
    models = tmp_path / "models"
    synthetic = {"training_data": {"kind": "synthetic", "crops": 10}}
    save_bundle(models / "demo", resnet18_three, make_manifest(provenance=synthetic))
    real = {"training_data": {"kind": "real", "crops": 10}}
    save_bundle(models / "real", resnet18_three, make_manifest(provenance=real))
    refusing = ModelStore.confined(models, num_threads=1, allow_demo_models=False)
    with pytest.raises(ModelRefusedError, match=r"demo model.*allow_demo_model is false"):
        refusing.load("demo")
    assert not refusing.load("real").manifest.is_demo_model()
    assert ModelStore.confined(models, num_threads=1).load("demo").manifest.is_demo_model()
