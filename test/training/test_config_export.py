"""The config (YAML, dotted overrides, refusals) and the export of old-detector weights."""

from __future__ import annotations

import pytest
import torch
import yaml

from cherry_classifier.core.architectures import build_model
from cherry_classifier.core.bundle import load_bundle
from cherry_classifier.training.config import from_dict, load_config, save_config
from cherry_classifier.training.export import write_production_state_dict

REPO_CONFIGS = (
    "training/configs/demo_synthetic.yaml",
    "training/configs/default_model.yaml",
    "training/configs/production_resnet50.yaml",
)


@pytest.mark.parametrize("path", REPO_CONFIGS)
def test_repository_configs_load(path):
    from test.conftest import REPO_ROOT

    config = load_config(REPO_ROOT / path)
    assert config.model.input_scale == pytest.approx(1 / 255) and config.model.mean is None


def test_overrides_are_typed_and_unknown_keys_refused(tmp_path):
    config = load_config(
        None, ["optim.lr=1e-3", "model.class_names=[clean, pit]", "train.epochs=3"]
    )
    assert config.optim.lr == 1e-3 and config.model.class_names == ("clean", "pit")
    assert config.train.epochs == 3
    with pytest.raises(ValueError, match=r"unknown config key.*optim\.learning_rate"):
        load_config(None, ["optim.learning_rate=1"])
    with pytest.raises(ValueError, match=r"train\.epochs: expected an integer"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(ValueError, match=r"optim\.name must be one of"):
        load_config(None, ["optim.name=adam"])
    save_config(config, tmp_path / "c.yaml")
    assert from_dict(yaml.safe_load((tmp_path / "c.yaml").read_text())) == config


def test_manifest_from_config_is_the_unnormalised_production_contract():
    manifest = from_dict({}).manifest()
    assert manifest.channel_names == ("bot1", "bot2", "top2")
    assert manifest.input_scale == pytest.approx(1 / 255) and manifest.std is None


def test_production_state_dict_only_for_resnet50_clean_maybe_pit(tmp_path):
    config = from_dict({"model": {"architecture": "resnet50"}})
    torch.manual_seed(0)
    model = build_model("resnet50", 3)
    path = write_production_state_dict(tmp_path / "prod.pt", model, config.manifest())
    assert path is not None
    state = torch.load(path, weights_only=True)
    assert state["fc.weight"].shape == (3, 2048) and not any(k.startswith("module.") for k in state)
    bundle = load_bundle(
        path,
        manifest_overrides={
            "architecture": "resnet50",
            "class_names": ["clean", "maybe", "pit"],
            "input_scale": 1 / 255,
        },
    )
    assert bundle.manifest.class_names == ("clean", "maybe", "pit")
    two = from_dict({"model": {"architecture": "resnet50", "class_names": ["clean", "pit"]}})
    assert (
        write_production_state_dict(tmp_path / "no.pt", build_model("resnet50", 2), two.manifest())
        is None
    )
    small = from_dict({})
    assert (
        write_production_state_dict(
            tmp_path / "no.pt", build_model("mobilenet_v3_small", 3), small.manifest()
        )
        is None
    )


def test_learning_rate_schedules_warm_up_then_decay():
    from cherry_classifier.training.config import ScheduleConfig
    from cherry_classifier.training.schedule import lr_factor

    cosine = ScheduleConfig(warmup_epochs=1.0, warmup_start_factor=0.1)
    assert lr_factor(0, 100, 10, cosine) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10, cosine) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, cosine) == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, cosine) == pytest.approx(0.0)
    step = ScheduleConfig(name="step", warmup_epochs=0, step_epochs=2, gamma=0.1)
    assert [lr_factor(s, 100, 10, step) for s in (0, 19, 20, 45)] == pytest.approx(
        [1.0, 1.0, 0.1, 0.01]
    )
