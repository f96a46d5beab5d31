"""How ``cherry-replay`` starts its node and which discovery range it runs with (no DDS here):
``ros2 launch``, else ``ros2 run``, else the checkout's stand-in; the environment's range unless
``--localhost-only``; and no shipped module imports the development package."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
import yaml

from cherry_classifier.live import node_start as startup
from cherry_classifier.live.node_start import (
    DISCOVERY_RANGE_VAR,
    NodeStartError,
    merged_params_file,
    node_start,
    package_params_file,
)
from cherry_dev.launch_stub import launch_command
from test.conftest import REPO_ROOT, require

PARAMETERS = {"image_topics": ["/line1/image/compressed", "/b"], "image_transport": "compressed"}
P_ARGS = ["-p", "image_topics:=[/line1/image/compressed,/b]", "-p", "image_transport:=compressed"]


def test_with_ros2_launch_it_launches_the_launch_file_with_the_bag_parameters(tmp_path):
    start = node_start(PARAMETERS, tmp_path, model_path="m1", verbs=frozenset({"launch"}))
    assert start.how == "ros2 launch"
    merged = tmp_path / "classifier_params.yaml"
    assert start.command == [
        "ros2",
        "launch",
        "cherry_classifier",
        "threading_ws.launch.py",
        f"params_file:={merged}",
        "model_path:=m1",
    ]
    shipped = yaml.safe_load(package_params_file().read_text())
    written = yaml.safe_load(merged.read_text())
    assert written.keys() == shipped.keys() == {"/**/classifier"}
    expected = {**shipped["/**/classifier"]["ros__parameters"], **PARAMETERS}
    assert written["/**/classifier"]["ros__parameters"] == expected


def test_with_ros2_run_only_it_runs_the_node_as_the_launch_file_names_it(tmp_path):
    params = tmp_path / "mine.yaml"
    start = node_start(PARAMETERS, tmp_path, params_file=str(params), verbs=frozenset({"run"}))
    assert start.how == "ros2 run"
    assert start.command == [
        "ros2",
        "run",
        "cherry_classifier",
        "classifier_node",
        "--ros-args",
        "-r",
        "__node:=classifier",
        "--params-file",
        str(params),
        *P_ARGS,
    ]


def test_without_ros2_the_checkout_falls_back_to_the_launch_stand_in(tmp_path):
    start = node_start(PARAMETERS, tmp_path, model_path="m1", verbs=frozenset())
    assert start.how == "the source checkout's launch stand-in"
    assert start.command == launch_command(model_path="m1")[1] + P_ARGS


def test_outside_the_checkout_without_ros2_it_says_how_to_start_the_node(tmp_path, monkeypatch):
    monkeypatch.setattr(startup, "STAND_IN", tmp_path / "no_checkout" / "launch_stub.py")
    with pytest.raises(NodeStartError, match="--attach"):
        node_start(PARAMETERS, tmp_path, verbs=frozenset())


def test_the_installed_package_finds_the_stand_in_only_beside_its_checkout(tmp_path):
    """Run from elsewhere (``cherry_dev`` not importable), the installed, linked package still
    finds the stand-in of the checkout it is linked from."""
    code = (
        "import importlib.util, sys\n"
        "from cherry_classifier.live import node_start\n"
        "assert importlib.util.find_spec('cherry_dev') is None, sys.path\n"
        "print(node_start.CHECKOUT_ROOT, node_start.checkout_launch_command() is not None)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown == [str(REPO_ROOT), "True"]


def test_a_params_file_keyed_by_node_name_gets_the_parameters_in_each_entry(tmp_path):
    base = tmp_path / "line2.yaml"
    base.write_text(
        "/line2/classifier:\n  ros__parameters:\n    pit_threshold: 0.7\n"
        "/**:\n  ros__parameters:\n    use_sim_time: false\n"
    )
    written = yaml.safe_load(merged_params_file(base, PARAMETERS, tmp_path / "m.yaml").read_text())
    assert written == {
        "/line2/classifier": {"ros__parameters": {"pit_threshold": 0.7, **PARAMETERS}},
        "/**": {"ros__parameters": {"use_sim_time": False, **PARAMETERS}},
    }


@pytest.mark.parametrize(("flag", "expected"), [([], "OFF"), (["--localhost-only"], "LOCALHOST")])
def test_replay_leaves_the_discovery_range_to_the_environment_unless_told(
    tmp_path, monkeypatch, flag, expected
):
    """``OFF`` stands for any range the user set (no DDS starts here: the bag is missing, so
    cherry-replay stops before rclpy.init)."""
    require("rclpy", "cherry-replay's module (rclpy: the venv's ROS wheels)")
    from cherry_classifier.live import replay

    monkeypatch.setenv(DISCOVERY_RANGE_VAR, "OFF")
    monkeypatch.setenv("ROS_DOMAIN_ID", "77")
    with pytest.raises(SystemExit, match="not a rosbag2 bag folder"):
        replay.main([str(tmp_path / "no_bag"), *flag, "--out", str(tmp_path / "out")])
    assert os.environ[DISCOVERY_RANGE_VAR] == expected
    assert os.environ["ROS_DOMAIN_ID"] == "77"


def test_no_shipped_module_imports_the_development_package():
    importers = []
    for path in sorted((REPO_ROOT / "cherry_classifier").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "cherry_dev" for name in names):
                importers.append(path.relative_to(REPO_ROOT))
    assert importers == []


def test_setup_py_does_not_install_the_development_package():
    setup = ast.parse((REPO_ROOT / "setup.py").read_text())
    (call,) = [
        node
        for node in ast.walk(setup)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "find_packages"
    ]
    from setuptools import find_packages

    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    packages = find_packages(str(REPO_ROOT), **kwargs)
    assert "cherry_classifier" in packages
    assert not [p for p in packages if p.split(".")[0] in ("cherry_dev", "test")]
