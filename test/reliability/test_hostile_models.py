"""Hostile or broken model files, through the loader, /swap_model and start-up: each is refused
for a named reason without running anything, and the model in service keeps answering."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from cherry_classifier.node.model_loading import ModelLoader, ModelRefusedError
from cherry_dev.golden_sets import write_golden_set
from test.fixtures.hostile_bundles import GOLDEN_BOMBS
from test.reliability.conftest import HOSTILE, model_id_of, start_live_node

MAX_REFUSAL_GROWTH_MIB = 50  # node memory a refused golden bomb may cost (it once cost 3.6 GiB)

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
            write_golden_set(models_dir / name)
    return MISFITS


@pytest.mark.parametrize(("requested", "reason"), HOSTILE.items())
def test_the_loader_refuses_each_hostile_file_for_its_reason(models_dir, marker, requested, reason):
    loader = ModelLoader(models_dir, "eager", 1)
    with pytest.raises(ModelRefusedError, match=re.escape(reason)):
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


def _reset_peak_rss(pid: int) -> bool:
    """Set the process's peak RSS (VmHWM) to its current RSS; False where Linux refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.ros
@pytest.mark.slow
def test_swap_refusals_name_the_path_once_and_bombs_are_refused_without_inflating(
    crops_node, models_dir
):
    """Exact refusal messages through SwapModel; the golden bombs (1 MiB and 20 MiB of zero
    crops, a few KiB on disk) are refused from their headers: the node's resident memory, and
    its peak during the refusal, grow by under MAX_REFUSAL_GROWTH_MIB."""
    import psutil

    client = crops_node.client
    root = models_dir.resolve()
    exact = {
        "": "refused: no model path given",
        "missing": f"refused: missing: no such file or folder in {root}",
        "../outside": (
            f"refused: ../outside: resolves to {root.parent / 'outside'}, outside models_dir {root}"
        ),
        "no_golden": f"refused: no_golden: {HOSTILE['no_golden']}",
        "linked_weights": (
            f"refused: linked_weights: weights.pt resolves to {root.parent / 'outside'}/"
            f"weights.pt, outside models_dir {root}"
        ),
    }
    for requested, message in exact.items():
        response = client.swap_to(requested)
        assert (response.success, response.message) == (False, message)

    node = psutil.Process(crops_node.process.pid)
    clean_id = model_id_of(models_dir / "clean")
    for name, (_, reason) in GOLDEN_BOMBS.items():
        rss_before = node.memory_info().rss
        peak_measured = _reset_peak_rss(node.pid)
        started = time.perf_counter()
        response = client.swap_to(name)
        took_ms = (time.perf_counter() - started) * 1000
        growth_mib = (node.memory_info().rss - rss_before) / (1 << 20)
        peak_mib = (_peak_rss(node.pid) - rss_before) / (1 << 20) if peak_measured else None
        print(
            f"{name}: refused in {took_ms:.1f} ms (not asserted), RSS growth {growth_mib:+.1f} "
            f"MiB, peak growth {peak_mib if peak_mib is None else f'{peak_mib:+.1f}'} MiB"
        )
        assert not response.success and response.previous_model_id == clean_id
        assert response.message.startswith(f"refused: {name}: golden.npz: crops.npy ")
        assert reason in response.message
        assert growth_mib < MAX_REFUSAL_GROWTH_MIB
        assert peak_mib is None or peak_mib < MAX_REFUSAL_GROWTH_MIB
    assert client.model_infos[-1].model_id == clean_id


@pytest.mark.ros
@pytest.mark.slow
def test_with_require_golden_false_a_bundle_without_golden_set_swaps_in(
    tmp_path, models_dir, ros_domain
):
    """The shipped params refuse ``no_golden`` (see HOSTILE); ``-p require_golden:=false``
    accepts it, and the other checks still hold (a bomb is still refused)."""
    with start_live_node(
        tmp_path,
        models_dir,
        "nogolden",
        domain=ros_domain,
        model_path="clean",
        input_mode="crops",
        require_golden="false",
    ) as live:
        client = live.client
        swapped = client.swap_to("no_golden")
        assert swapped.success, swapped.message
        assert swapped.new_model_id == model_id_of(models_dir / "no_golden")
        refused = client.swap_to("bomb_20mb")
        assert not refused.success and GOLDEN_BOMBS["bomb_20mb"][1] in refused.message
