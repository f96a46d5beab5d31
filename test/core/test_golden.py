"""Golden sets carry meaning: labels by name, so a swapped class order is refused by name."""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cherry_classifier.core.bundle import GOLDEN_FILE, load_bundle, save_bundle
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.golden import GoldenSetError, read_golden, select_golden
from cherry_classifier.core.model_store import ModelRefusedError, ModelStore

from .conftest import THREE, make_manifest, random_crops, separate_head

REPO_ROOT = Path(__file__).resolve().parents[2]
SWAPPED = ["pit", "maybe", "clean"]


@pytest.fixture(scope="module")
def decisive_bundle(tmp_path_factory, resnet18_three) -> Path:
    """A resnet18 bundle (64 px) that decides crops clean and pit, with a named golden set."""
    model = copy.deepcopy(resnet18_three)
    crops = random_crops(24, seed=3)
    separate_head(model, crops, THREE)
    folder = tmp_path_factory.mktemp("golden") / "decisive"
    bundle = save_bundle(folder, model, make_manifest())
    golden = select_golden(crops, Classifier(bundle).predict_proba(crops), bundle.manifest, limit=8)
    save_bundle(folder, model, make_manifest(), golden=golden)
    return folder


def swap_class_order(source: Path, target: Path) -> Path:
    """The finding of issue 14: a copy whose manifest lists the classes in another order, with
    its model id and variant records deleted so that the id check cannot catch it."""
    target.mkdir(parents=True)
    for name in ("manifest.yaml", "weights.pt", GOLDEN_FILE):
        shutil.copy(source / name, target / name)
    document = yaml.safe_load((target / "manifest.yaml").read_text())
    document["class_names"] = SWAPPED
    document.pop("model_id")
    document.pop("variants", None)
    (target / "manifest.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return target


def test_golden_sets_record_names_and_cover_clean_and_pit(decisive_bundle):
    golden = read_golden(decisive_bundle / GOLDEN_FILE)
    assert golden.has_names and golden.class_names == THREE
    assert {"clean", "pit"} <= set(golden.decided) and len(golden) <= 8
    Classifier.from_path(decisive_bundle).check_golden()
    ModelStore.searching([decisive_bundle.parent], num_threads=1).load(decisive_bundle.name)


def test_a_swapped_class_order_is_refused_naming_it(decisive_bundle, tmp_path):
    swapped = swap_class_order(decisive_bundle, tmp_path / "models" / "swapped")
    classifier = Classifier.from_path(swapped)  # loads: nothing but the golden set can tell
    with pytest.raises(GoldenSetError, match=r"expected (clean|pit), decided (pit|clean): is the "):
        classifier.check_golden()
    store = ModelStore.confined(tmp_path / "models", num_threads=1)
    with pytest.raises(ModelRefusedError, match=r"swapped: golden-set check failed: .*class order"):
        store.load("swapped")


def test_a_consistently_reordered_model_still_passes_the_golden_set(decisive_bundle, tmp_path):
    """The check is order-aware: head rows and class names permuted together mean the same."""
    bundle = load_bundle(decisive_bundle)
    order = [THREE.index(name) for name in SWAPPED]
    state = dict(bundle.state_dict)
    state["fc.weight"], state["fc.bias"] = state["fc.weight"][order], state["fc.bias"][order]
    reordered = save_bundle(tmp_path / "r", state, make_manifest(class_names=tuple(SWAPPED)))
    assert reordered.model_id != bundle.model_id
    shutil.copy(decisive_bundle / GOLDEN_FILE, tmp_path / "r" / GOLDEN_FILE)
    Classifier.from_path(tmp_path / "r").check_golden()


def test_an_old_golden_file_without_names_is_checked_and_says_so(decisive_bundle, tmp_path, caplog):
    golden = read_golden(decisive_bundle / GOLDEN_FILE)
    shutil.copytree(decisive_bundle, tmp_path / "old")
    np.savez_compressed(
        tmp_path / "old" / GOLDEN_FILE, crops=golden.crops, probabilities=golden.probabilities
    )
    with caplog.at_level(logging.WARNING):
        Classifier.from_path(tmp_path / "old").check_golden()
    assert "carries no class names" in caplog.text


def test_the_shipped_default_model_refuses_its_swapped_copy(tmp_path):
    default = REPO_ROOT / "models" / "default"
    golden = read_golden(default / GOLDEN_FILE)
    assert golden.has_names and {"clean", "pit"} <= set(golden.decided) and len(golden) <= 32
    torch.manual_seed(0)
    ModelStore.searching([default.parent], num_threads=1).load("default")
    swapped = swap_class_order(default, tmp_path / "swapped")
    with pytest.raises(GoldenSetError, match="golden crop 0: expected clean, decided pit"):
        Classifier.from_path(swapped, num_threads=1).check_golden()
