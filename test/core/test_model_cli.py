"""``cherry-model``: import production-style .pt files into bundles, gate variants, info, verify.

ResNet50 (the production architecture) only where the import itself is under test; the rest
runs on a 64 px resnet18. Heads are set with ``separate_head`` so the models decide crops clean
and pit clearly (a random head decides every crop MAYBE, and a golden set could not tell).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.bundle import GOLDEN_FILE, load_bundle
from cherry_classifier.core.golden import read_golden
from cherry_classifier.core.model_store import ModelStore
from cherry_classifier.core.preprocess import stack_crops
from cherry_classifier.evaluation.dataset import read_class_samples
from cherry_classifier.evaluation.synthetic import write_dataset
from cherry_classifier.model_cli import build_parser, input_scale, main
from test.fixtures.hostile_bundles import GOLDEN_BOMBS, add_long_string, write_zero_crops

from .conftest import THREE, TWO, make_manifest, separate_head

PER_CLASS = 8
THREADS = "2"


def labelled_folder(root: Path, classes: tuple[str, ...], size: int = 128) -> Path:
    write_dataset(root, PER_CLASS, classes, seed=1, size=size)
    return root


def folder_crops(root: Path, classes: tuple[str, ...], size: int) -> np.ndarray:
    crops, _, _ = read_class_samples(root, classes, ("bot1", "bot2", "top2"))
    return stack_crops(crops, make_manifest(class_names=classes, input_size=size))


def decisive_state_dict(
    architecture: str, classes: tuple[str, ...], crops: np.ndarray, scale: float
) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_model(architecture, len(classes)).eval()
    separate_head(model, crops, classes, scale)
    return model.state_dict()


def import_args(weights: Path, classes, scale: str, out: Path, *extra: str) -> list[str]:
    return [
        "import",
        str(weights),
        "--architecture",
        "resnet50",
        "--classes",
        ",".join(classes),
        "--input-scale",
        scale,
        "--out",
        str(out),
        "--threads",
        THREADS,
        "--golden-crops",
        "8",
        *extra,
    ]


@pytest.fixture(scope="module")
def resnet50_three(tmp_path_factory) -> Path:
    """A production-style bare ResNet50 state_dict (clean, maybe, pit; 1/255) imported with
    labelled crops; the bundle folder."""
    root = tmp_path_factory.mktemp("r50")
    crops_dir = labelled_folder(root / "crops", THREE)
    state = decisive_state_dict("resnet50", THREE, folder_crops(crops_dir, THREE, 128), 1 / 255)
    torch.save(state, root / "classification-2023-05.pt")
    out = root / "models" / "line3"
    args = import_args(root / "classification-2023-05.pt", THREE, "1/255", out)
    assert main([*args, "--crops", str(crops_dir)]) == 0
    return out


def test_every_sub_command_has_help(capsys):
    for command in ("import", "variants", "info", "verify"):
        with pytest.raises(SystemExit) as stop:
            main([command, "--help"])
        assert stop.value.code == 0
        assert f"usage: cherry-model {command}" in capsys.readouterr().out
    assert build_parser().prog == "cherry-model"


def test_import_never_guesses_the_contract(tmp_path, capsys):
    for missing in ("--architecture", "--classes", "--input-scale"):
        args = import_args(tmp_path / "w.pt", THREE, "1/255", tmp_path / "out")
        at = args.index(missing)
        with pytest.raises(SystemExit):
            main(args[:at] + args[at + 2 :])
        assert f"the following arguments are required: {missing}" in capsys.readouterr().err
    assert input_scale("1/255") == pytest.approx(1 / 255) and input_scale("1") == 1.0
    with pytest.raises(SystemExit):
        main(import_args(tmp_path / "w.pt", THREE, "1/0", tmp_path / "out"))


def test_import_of_a_production_resnet50_state_dict(resnet50_three, capsys):
    bundle = load_bundle(resnet50_three)
    assert bundle.manifest.architecture == "resnet50"
    assert bundle.manifest.class_names == THREE
    assert bundle.manifest.input_scale == pytest.approx(1 / 255)
    imported = bundle.manifest.provenance["imported"]
    assert imported["format"] == "bare state_dict"
    assert imported["checked_on"]["count"] == 3 * PER_CLASS
    golden = read_golden(resnet50_three / GOLDEN_FILE)
    assert golden.has_names and {"clean", "pit"} <= set(golden.decided) and len(golden) <= 8
    assert set(golden.true_labels) <= set(THREE) and all(golden.true_labels)
    store = ModelStore.searching([resnet50_three.parent], num_threads=int(THREADS))
    assert store.load("line3").model_id == bundle.model_id
    assert main(["verify", str(resnet50_three)]) == 0
    assert main(["info", str(resnet50_three)]) == 0
    shown = capsys.readouterr().out
    assert f"model id: {bundle.model_id}" in shown
    assert "classes (output order): clean, maybe, pit" in shown
    assert "scale 0.00392156863 (1/255)" in shown and "golden set: " in shown


def test_import_of_a_two_class_dataparallel_checkpoint_at_scale_1(tmp_path, capsys):
    crops_dir = labelled_folder(tmp_path / "crops", TWO)
    state = decisive_state_dict("resnet50", TWO, folder_crops(crops_dir, TWO, 128), 1.0)
    checkpoint = {"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 7}
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    out = tmp_path / "models" / "two"
    args = import_args(tmp_path / "checkpoint.pt", TWO, "1", out, "--crops", str(crops_dir))
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "pit recall" in printed and "clean yield" in printed and "accuracy" in printed
    bundle = load_bundle(out)
    assert bundle.manifest.class_names == TWO and bundle.manifest.input_scale == 1.0
    assert "DataParallel" in bundle.manifest.provenance["imported"]["format"]
    assert {"clean", "pit"} <= set(read_golden(out / GOLDEN_FILE).decided)
    ModelStore.searching([out.parent], num_threads=int(THREADS)).load("two")
    assert main(["verify", str(out)]) == 0


def tampered_copy(bundle: Path, target: Path) -> Path:
    shutil.copytree(bundle, target)
    return target


def test_verify_refuses_a_swapped_class_order(resnet50_three, tmp_path, capsys):
    swapped = tampered_copy(resnet50_three, tmp_path / "swapped")
    document = yaml.safe_load((swapped / "manifest.yaml").read_text())
    document["class_names"] = ["pit", "maybe", "clean"]
    (swapped / "manifest.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["verify", str(swapped)]) == 1
    assert "the manifest records model_id" in capsys.readouterr().err
    document.pop("model_id")  # the id check gone, the golden set must see it
    (swapped / "manifest.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    assert main(["verify", str(swapped)]) == 1
    refusal = capsys.readouterr().err
    assert "records no model_id" in refusal and "is the manifest's class order right?" in refusal


def test_verify_refuses_modified_weights_and_missing_files(resnet50_three, tmp_path, capsys):
    modified = tampered_copy(resnet50_three, tmp_path / "modified")
    state = torch.load(modified / "weights.pt", weights_only=True)
    state["fc.bias"] = state["fc.bias"] + 1e-3
    torch.save(state, modified / "weights.pt")
    assert main(["verify", str(modified)]) == 1
    assert "weights and contract hash to" in capsys.readouterr().err
    bare = tampered_copy(resnet50_three, tmp_path / "no_golden")
    (bare / GOLDEN_FILE).unlink()
    assert main(["verify", str(bare)]) == 1
    assert "no golden set" in capsys.readouterr().err


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> tuple[Path, Path]:
    """(bundle, crops): a decisive 64 px resnet18 imported with synthetic golden crops."""
    root = tmp_path_factory.mktemp("small")
    crops_dir = labelled_folder(root / "crops", THREE, size=64)
    state = decisive_state_dict("resnet18", THREE, folder_crops(crops_dir, THREE, 64), 1 / 255)
    torch.save(state, root / "r18.pt")
    out = root / "models" / "small"
    args = import_args(root / "r18.pt", THREE, "0.00392156862745098", out, "--input-size", "64")
    args[args.index("resnet50")] = "resnet18"
    assert main(args) == 0
    return out, crops_dir


def test_import_without_crops_labels_synthetic_crops_by_the_model(small_bundle):
    bundle, _ = small_bundle
    golden = read_golden(bundle / GOLDEN_FILE)
    assert golden.has_names and not any(golden.true_labels) and golden.crops.shape[1] == 64
    provenance = load_bundle(bundle).manifest.provenance["imported"]
    assert "labelled by the model's own decisions" in provenance["checked_on"]


def test_variants_are_gated_on_the_users_crops_and_shown(small_bundle, capsys):
    bundle, crops = small_bundle
    command = ["variants", str(bundle), "--calibration", str(crops), "--heldout", str(crops)]
    assert main([*command, "--variants", "onnxruntime,int8", "--threads", THREADS]) == 0
    printed = capsys.readouterr().out
    lines = {line.split()[0]: line for line in printed.splitlines() if line.strip()}
    assert "crops/s" in printed and "fp32" in lines
    for name in ("onnxruntime", "int8"):
        assert "accepted" in lines[name] or "REFUSED" in lines[name], printed
    variants = load_bundle(bundle).manifest.variants
    assert set(variants) == {"onnxruntime", "int8"}
    assert "accepted" in lines["onnxruntime"] and variants["onnxruntime"]["accepted"]
    assert main(["info", str(bundle)]) == 0
    assert "onnxruntime: accepted, agreement 100.0%" in capsys.readouterr().out
    assert main(["verify", str(bundle)]) == 0


def test_info_names_the_demo_model_and_measures_it_on_the_real_annotated_frame(
    production_frames_dir, capsys
):
    from cherry_classifier.core.model_paths import default_models_dir

    bundle, frames = default_models_dir() / "default", production_frames_dir
    assert main(["info", str(bundle), "--yardstick", str(frames), "--threads", THREADS]) == 0
    out = capsys.readouterr().out
    assert "DEMO MODEL: TRAINED ON SYNTHETIC CROPS ONLY" in out
    assert "localizer found 20 of 20 old boxes" in out
    assert "caveat: the old model is not ground truth" in out


def _bomb(folder: Path) -> None:
    write_zero_crops(folder / GOLDEN_FILE, GOLDEN_BOMBS["bomb_20mb"][0])


def _long_string(folder: Path) -> None:
    add_long_string(folder / "manifest.yaml", 20 << 20)


def _linked_weights(folder: Path) -> None:
    outside = folder.parent.parent / "outside.pt"
    shutil.move(folder / "weights.pt", outside)
    (folder / "weights.pt").symlink_to(outside)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_bomb, "over the 12 MiB limit for one array"),
        (_long_string, "-byte limit for a manifest"),
        (_linked_weights, "symbolic link"),
    ],
)
def test_verify_refuses_hostile_bundle_files(small_bundle, tmp_path, capsys, spoil, reason):
    bundle, _ = small_bundle
    copy = tmp_path / "models" / "spoilt"
    shutil.copytree(bundle, copy)
    spoil(copy)
    assert main(["verify", str(copy), "--threads", THREADS]) == 1
    assert reason in capsys.readouterr().err


def test_import_with_crops_writes_the_reference_and_without_says_drift_is_off(
    resnet50_three, small_bundle, capsys
):
    from cherry_classifier.core.drift import NO_REFERENCE, read_reference

    bundle = load_bundle(resnet50_three)
    reference = read_reference(resnet50_three, bundle.model_id)
    assert reference.crops == 3 * PER_CLASS
    assert reference.true_label_counts == {name: PER_CLASS for name in THREE}
    assert "labelled crops" in reference.source
    small, _ = small_bundle
    assert read_reference(small) is None
    assert main(["verify", str(small)]) == 0
    assert f"note: {NO_REFERENCE}" in capsys.readouterr().out


def test_reference_command_writes_the_reference_from_labelled_crops(small_bundle, tmp_path):
    from cherry_classifier.core.drift import read_reference

    bundle, crops = small_bundle
    copy = tampered_copy(bundle, tmp_path / "copy")
    assert main(["reference", str(copy), "--crops", str(crops), "--threads", THREADS]) == 0
    reference = read_reference(copy, load_bundle(copy).model_id)
    assert reference.crops == 3 * PER_CLASS
    assert main(["reference", str(copy), "--training-validation"]) == 1  # imported: no config
