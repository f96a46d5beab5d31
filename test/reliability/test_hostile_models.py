"""Hostile or broken model files, through the loader, /swap_model and start-up: each is refused
for a named reason without running anything, and the model in service keeps answering."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cherry_classifier.node.model_loading import ModelLoader, ModelRefusedError
from test.reliability.conftest import HOSTILE, model_id_of, start_live_node

# models_dir entries whose contract does not fit the shipped parameters (layer_names bot1, bot2,
# top2; crop_size 128) -> what the refusal must say
MISFITS = {
    "rgb_channels": "the model takes channels (r, g, b) but the inputs give (bot1, bot2, top2)",
    "crop_96": "the model takes 96 px crops cut from the frame but the inputs cut 128 px",
}


def misfit_models(models_dir: Path) -> dict[str, str]:
    """The ``clean`` model re-exported with each MISFITS contract (once per session)."""
    from cherry_classifier.core.bundle import load_bundle, save_bundle

    clean = load_bundle(models_dir / "clean")
    changes = {"rgb_channels": {"channel_names": ("r", "g", "b")}, "crop_96": {"crop_size": 96}}
    for name, change in changes.items():
        if not (models_dir / name).exists():
            manifest = dataclasses.replace(clean.manifest, **change)
            save_bundle(models_dir / name, clean.state_dict, manifest)
    return MISFITS


@pytest.mark.parametrize(("requested", "reason"), HOSTILE.items())
def test_the_loader_refuses_each_hostile_file_for_its_reason(models_dir, marker, requested, reason):
    loader = ModelLoader(models_dir, "eager", 1)
    with pytest.raises(ModelRefusedError, match=reason.replace("(", r"\(")):
        loader.load(requested)
    assert not marker.exists(), "a model file ran code"


def test_with_an_allow_list_nothing_else_loads(models_dir):
    clean_id = model_id_of(models_dir / "clean")
    loader = ModelLoader(models_dir, "eager", 1, allowed_ids=[clean_id])
    assert loader.load("clean").model_id == clean_id
    with pytest.raises(ModelRefusedError, match="is not in allowed_model_ids"):
        loader.load("pit")


@pytest.mark.ros
@pytest.mark.slow
def test_swap_refuses_every_hostile_file_and_the_old_model_keeps_answering(
    crops_node, models_dir, marker
):
    from test.ros_client import image_msg

    client = crops_node.client
    client.settle()
    clean_id = model_id_of(models_dir / "clean")
    crop = image_msg(pytest.importorskip("numpy").zeros((64, 64, 3), "uint8"), "bgr8", 1, "c")
    for requested, reason in HOSTILE.items():
        for validate_only in (True, False):
            response = client.swap_to(requested, validate_only=validate_only)
            assert not response.success, requested
            assert response.message.startswith("refused") and reason in response.message
            assert response.previous_model_id == clean_id
        (array,) = client.send_and_collect([crop])
        assert array.model_id == clean_id and not array.decisions[0].fail_safe
        assert array.decisions[0].label == 0  # the clean model's answer
    assert client.model_infos[-1].model_id == clean_id
    assert not marker.exists(), "a model file ran code"


@pytest.mark.ros
@pytest.mark.slow
def test_a_bad_start_up_model_leaves_the_node_up_in_flagged_fail_safe_until_a_good_swap(
    tmp_path, models_dir, marker, ros_domain
):
    """Start-up with a pickle exploit as the model and an allow-list: the node comes up, says
    ERROR with the reason, decides every crop fail-safe (flagged), refuses a model the list does
    not name and recovers on one it does."""
    import numpy as np

    from test.ros_client import image_msg

    clean_id = model_id_of(models_dir / "clean")
    with start_live_node(
        tmp_path,
        models_dir,
        "badstart",
        domain=ros_domain,
        model_path="evil.pt",
        input_mode="crops",
        fail_safe_label="pit",
        allowed_model_ids=f"['{clean_id}']",
    ) as live:
        client = live.client
        assert client.model_infos[-1].fail_safe and not client.model_infos[-1].model_id
        client.settle()
        crop = image_msg(np.zeros((64, 64, 3), np.uint8), "bgr8", 3, "c")
        (array,) = client.send_and_collect([crop])
        assert array.model_id == "" and all(d.fail_safe and d.label == 2 for d in array.decisions)
        status = client.fresh_status(f"{live.name}: inference")
        assert status["_level"] == b"\x02" and "must never run code" in status["_message"]
        assert not marker.exists(), "a model file ran code"

        refused = client.swap_to("pit")
        assert not refused.success and "not in allowed_model_ids" in refused.message
        assert client.swap_to("clean").success
        (array,) = client.send_and_collect([crop])
        assert array.model_id == clean_id and not array.decisions[0].fail_safe
        status = client.fresh_status(f"{live.name}: inference", lambda v: v["_level"] != b"\x02")
        assert status["model_id"] == clean_id
        assert "no usable model at start-up" in live.log_text()


@pytest.mark.ros
@pytest.mark.slow
def test_swap_refuses_a_model_whose_channels_do_not_fit_and_the_old_one_keeps_answering(
    crops_node, models_dir
):
    from test.ros_client import image_msg

    misfit_models(models_dir)
    client = crops_node.client
    client.settle()
    clean_id = model_id_of(models_dir / "clean")
    for validate_only in (True, False):
        response = client.swap_to("rgb_channels", validate_only=validate_only)
        assert not response.success and response.previous_model_id == clean_id
        assert response.message.startswith("refused: rgb_channels: contract does not fit")
        assert MISFITS["rgb_channels"] in response.message
    crop = image_msg(pytest.importorskip("numpy").zeros((64, 64, 3), "uint8"), "bgr8", 1, "c")
    (array,) = client.send_and_collect([crop])
    assert array.model_id == clean_id and array.decisions[0].label == 0
    assert client.model_infos[-1].model_id == clean_id


@pytest.mark.ros
@pytest.mark.slow
def test_a_frames_node_refuses_a_model_cut_for_another_crop_size(tmp_path, models_dir, ros_domain):
    """The shipped parameters fix crop_size 128: a 96 px model is refused with the reason, one
    that fits (``pit``) swaps in."""
    misfit_models(models_dir)
    clean_id = model_id_of(models_dir / "clean")
    with start_live_node(
        tmp_path, models_dir, "misfit", domain=ros_domain, model_path="clean", input_mode="frames"
    ) as live:
        client = live.client
        for name, reason in MISFITS.items():
            response = client.swap_to(name)
            assert not response.success and reason in response.message, response.message
            assert response.previous_model_id == clean_id
        assert client.model_infos[-1].model_id == clean_id
        swapped = client.swap_to("pit")
        assert swapped.success and swapped.previous_model_id == clean_id
