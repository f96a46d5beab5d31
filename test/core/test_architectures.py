"""One factory for every architecture: any class count, never a download."""

import pytest
import torch

from cherry_classifier.core.architectures import ARCHITECTURES, build_model
from cherry_classifier.core.safe_io import ModelLoadError
from test.conftest import require


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("build_model tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_builds_with_any_class_count(architecture):
    if architecture == "convnextv2_tiny":
        require("timm", "the convnextv2_tiny architecture (a pinned dependency)")
    torch.manual_seed(0)
    for classes in (2, 3):
        model = build_model(architecture, classes).eval()
        with torch.inference_mode():
            assert tuple(model(torch.rand(1, 3, 64, 64)).shape) == (1, classes)


def test_unknown_or_impossible_requests_are_refused():
    with pytest.raises(ValueError, match="unknown architecture 'vgg16'"):
        build_model("vgg16", 3)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        build_model("resnet18", 1)
    with pytest.raises(ValueError, match="only 3 input channels"):
        build_model("resnet18", 3, in_channels=1)


def test_init_weights_load_the_backbone_and_skip_the_head(tmp_path):
    torch.manual_seed(1)
    imagenet = build_model("resnet18", 1000).state_dict()
    torch.save(imagenet, tmp_path / "resnet18-imagenet.pth")
    model = build_model("resnet18", 3, init_weights=tmp_path / "resnet18-imagenet.pth")
    assert torch.equal(
        model.state_dict()["layer4.1.conv2.weight"], imagenet["layer4.1.conv2.weight"]
    )
    assert model.fc.out_features == 3
    torch.save(build_model("mobilenet_v3_small", 1000).state_dict(), tmp_path / "other.pth")
    with pytest.raises(ModelLoadError, match="init weights are for another architecture"):
        build_model("resnet18", 3, init_weights=tmp_path / "other.pth")
