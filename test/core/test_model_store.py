"""The model store: the node's confined rules and the offline tools' search path, both checked
(allow-list, golden crops, input contract) and returning a typed Classifier."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from cherry_classifier.core.bundle import save_bundle
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.contract import InputContract
from cherry_classifier.core.model_store import ModelRefusedError, ModelStore
from cherry_dev.golden_sets import write_golden_set

from .conftest import make_manifest, random_crops


@pytest.fixture(scope="module")
def store_root(tmp_path_factory, resnet18_three):
    """models/{good,bad_golden,wide,no_golden,single.pt}, a run folder outside models/ and a
    symlink out of it."""
    root = tmp_path_factory.mktemp("store")
    models = root / "models"
    crops = random_crops(4)
    good = save_bundle(models / "good", resnet18_three, make_manifest())
    write_golden_set(models / "good")
    probabilities = Classifier(good).predict_proba(crops)
    save_bundle(
        models / "bad_golden",
        resnet18_three,
        make_manifest(),
        golden={"crops": crops, "probabilities": probabilities[:, ::-1].copy()},
    )
    save_bundle(models / "wide", resnet18_three, make_manifest(crop_size=160))
    write_golden_set(models / "wide")
    save_bundle(models / "no_golden", resnet18_three, make_manifest())
    save_bundle(models / "single.pt", resnet18_three, make_manifest())
    run = root / "runs" / "r1"
    save_bundle(run / "bundle", resnet18_three, make_manifest())
    write_golden_set(run / "bundle")
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


def test_each_refusal_names_the_requested_path_once_and_the_reason_once(store_root):
    models = (store_root / "models").resolve()
    store = ModelStore.confined(models, num_threads=1)
    expected = {
        "": "no model path given",
        "does_not_exist": f"does_not_exist: no such file or folder in {models}",
        "../outside": (
            f"../outside: resolves to {models.parent / 'outside'}, outside models_dir {models}"
        ),
        "bad_golden": "bad_golden: golden-set check failed: golden crops differ by up to",
    }
    for requested, message in expected.items():
        with pytest.raises(ModelRefusedError) as refused:
            store.load(requested)
        assert str(refused.value).startswith(message), str(refused.value)
    (models / "broken").mkdir(exist_ok=True)
    with pytest.raises(ModelRefusedError) as refused:
        store.load("broken")
    assert str(refused.value) == "broken: manifest.yaml: no such manifest"


def test_bundle_files_linked_out_of_models_dir_are_refused(tmp_path, store_root):
    models = tmp_path / "models"
    elsewhere = tmp_path / "elsewhere"
    for name in ("weights.pt", "golden.npz"):
        shutil.copytree(store_root / "models" / "good", models / f"linked_{name}")
        shutil.copytree(store_root / "models" / "good", elsewhere / name, dirs_exist_ok=True)
        (models / f"linked_{name}" / name).unlink()
        os.symlink(elsewhere / name / name, models / f"linked_{name}" / name)
    store = ModelStore.confined(models, num_threads=1)
    root = models.resolve()
    for name in ("weights.pt", "golden.npz"):
        with pytest.raises(ModelRefusedError) as refused:
            store.load(f"linked_{name}")
        target = (elsewhere / name / name).resolve()
        assert str(refused.value) == (
            f"linked_{name}: {name} resolves to {target}, outside models_dir {root}"
        )
    os.symlink(elsewhere / "weights.pt" / "weights.pt", models / "inner_link.pt")
    with pytest.raises(ModelRefusedError, match="outside models_dir"):
        store.load("inner_link.pt")
    shutil.copytree(store_root / "models" / "good", models / "linked_inside", symlinks=True)
    (models / "linked_inside" / "weights.pt").unlink()
    os.symlink(store_root / "models" / "good" / "weights.pt", models / "linked_inside" / "w")
    os.symlink(models / "linked_inside" / "w", models / "linked_inside" / "weights.pt")
    with pytest.raises(ModelRefusedError, match=r"weights\.pt resolves to .*outside models_dir"):
        store.load("linked_inside")


def test_a_model_without_a_golden_set_is_refused_unless_require_golden_is_false(store_root):
    models = store_root / "models"
    for store in (
        ModelStore.confined(models, num_threads=1),
        ModelStore.searching([models], num_threads=1),
    ):
        with pytest.raises(ModelRefusedError) as refused:
            store.load("no_golden")
        assert str(refused.value) == (
            "no_golden: the bundle has no golden set (golden.npz) to check this backend "
            "against; refused while require_golden is true"
        )
        with pytest.raises(ModelRefusedError, match=r"single\.pt: a single model file carries no"):
            store.load("single.pt")
    relaxed = ModelStore.confined(models, num_threads=1, require_golden=False)
    assert relaxed.load("no_golden").model_id == relaxed.load("single.pt").model_id


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
    for name in ("demo", "real"):
        write_golden_set(models / name)
    refusing = ModelStore.confined(models, num_threads=1, allow_demo_models=False)
    with pytest.raises(ModelRefusedError, match=r"demo model.*allow_demo_model is false"):
        refusing.load("demo")
    assert not refusing.load("real").manifest.is_demo_model()
    assert ModelStore.confined(models, num_threads=1).load("demo").manifest.is_demo_model()


def test_the_packages_own_models_installed_as_links_load_and_other_links_do_not(
    tmp_path, store_root, monkeypatch
):
    """``colcon build --symlink-install`` installs each shipped file as a link into the sources:
    the package's own models folder trusts where its files link to; any other folder does not."""
    from cherry_classifier.core import model_paths

    sources = store_root / "models"  # stands for the package's source models folder
    installed = tmp_path / "share" / "models"
    for bundle in ("default", "good"):
        (installed / bundle).mkdir(parents=True)
        for file in (sources / "good").iterdir():
            (installed / bundle / file.name).symlink_to(file)
    monkeypatch.setattr(model_paths, "default_models_dir", lambda: installed)
    assert model_paths.trusted_roots(installed) == (installed, sources)
    good_id = ModelStore.confined(installed, num_threads=1).load("good").model_id
    assert good_id == Classifier.from_path(sources / "good").model_id

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(installed, elsewhere, symlinks=True)
    assert model_paths.trusted_roots(elsewhere) == (elsewhere,)
    with pytest.raises(ModelRefusedError, match=r"good: manifest\.yaml resolves to"):
        ModelStore.confined(elsewhere, num_threads=1).load("good")
