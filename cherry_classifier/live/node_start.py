"""How ``cherry-replay`` starts a classifier node of its own, as the launch file would.

In order: ``ros2 launch cherry_classifier threading_ws.launch.py`` where the ``ros2`` command
has ``launch``; else ``ros2 run cherry_classifier classifier_node`` with the package's params
file; else, only inside this source checkout, the development stand-in (``cherry_dev``) that
reads the launch file without ROS 2's ``launch``. The node inherits this process's environment:
its discovery range and domain id are what the caller set; :func:`limit_discovery_to_localhost`
(``cherry-replay --localhost-only``) sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` for both.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DISCOVERY_RANGE_VAR = "ROS_AUTOMATIC_DISCOVERY_RANGE"
LOCALHOST = "LOCALHOST"
PACKAGE = "cherry_classifier"
LAUNCH_FILE = "threading_ws.launch.py"
NODE_NAME = "classifier"
# The source checkout's root when this module runs from it (colcon --symlink-install links the
# package folder there); in any other install this folder holds no cherry_dev.
CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
STAND_IN = CHECKOUT_ROOT / "cherry_dev" / "launch_stub.py"

ParameterValue = str | float | Sequence[str]


class NodeStartError(RuntimeError):
    """No way to start a classifier node here (no ``ros2``, not the source checkout)."""


@dataclass(frozen=True)
class NodeStart:
    """The command that starts the node and how it was chosen (for the user's log)."""

    how: str
    command: list[str]


def limit_discovery_to_localhost(environ: MutableMapping[str, str] | None = None) -> None:
    """Keep DDS discovery of this process and the processes it starts on this host."""
    (os.environ if environ is None else environ)[DISCOVERY_RANGE_VAR] = LOCALHOST


def ros2_verbs(ros2: str | None = None, timeout_s: float = 60.0) -> frozenset[str]:
    """Which of ``ros2 launch`` / ``ros2 run`` work here (none without a ``ros2`` on PATH)."""
    ros2 = ros2 or shutil.which("ros2")
    if ros2 is None:
        return frozenset()
    for verb in ("launch", "run"):  # launch first: with it there is no need for run
        try:
            completed = subprocess.run(
                [ros2, verb, "--help"], capture_output=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if completed.returncode == 0:
            return frozenset({verb})
    return frozenset()


def node_start(
    parameters: Mapping[str, ParameterValue],
    work_dir: Path,
    model_path: str = "",
    params_file: str = "",
    verbs: frozenset[str] | None = None,
    ros2: str = "ros2",
) -> NodeStart:
    """The command that starts the classifier as the launch file does, with ``parameters``
    re-set on top of ``params_file`` (default: the package's) and ``model_path`` (default: the
    params file's). ``verbs``: the working ``ros2`` verbs (default: :func:`ros2_verbs`)."""
    verbs = ros2_verbs() if verbs is None else verbs
    if "launch" in verbs:
        merged = merged_params_file(
            Path(params_file) if params_file else package_params_file(),
            parameters,
            work_dir / "classifier_params.yaml",
        )
        command = [ros2, "launch", PACKAGE, LAUNCH_FILE, f"params_file:={merged}"]
        command += [f"model_path:={model_path}"] if model_path else []
        return NodeStart("ros2 launch", command)
    if "run" in verbs:
        command = [ros2, "run", PACKAGE, "classifier_node", "--ros-args"]
        command += ["-r", f"__node:={NODE_NAME}"]
        command += ["--params-file", params_file or str(package_params_file())]
        command += ["-p", f"model_path:={model_path}"] if model_path else []
        return NodeStart("ros2 run", command + parameter_arguments(parameters))
    launch_command = checkout_launch_command()
    if launch_command is None:
        raise NodeStartError(
            "cannot start a classifier node: no working `ros2 launch` or `ros2 run` here "
            "(source your ROS 2 workspace's setup file first); or start the node yourself "
            f"(ros2 launch {PACKAGE} {LAUNCH_FILE}) and pass --attach"
        )
    arguments = {"model_path": model_path, "params_file": params_file}
    _, command = launch_command(**{k: v for k, v in arguments.items() if v})
    return NodeStart(
        "the source checkout's launch stand-in", command + parameter_arguments(parameters)
    )


def parameter_arguments(parameters: Mapping[str, ParameterValue]) -> list[str]:
    """``-p name:=value`` arguments (lists as ``[a,b]``)."""
    return [
        argument
        for name, value in parameters.items()
        for argument in ("-p", f"{name}:={_ros_argument(value)}")
    ]


def _ros_argument(value: ParameterValue) -> str:
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else f"[{','.join(value)}]"


def package_params_file() -> Path:
    """The package's own ``config/threading_ws.yaml`` (installed, or the source tree's)."""
    from cherry_classifier.core.model_paths import package_share_dir

    return package_share_dir() / "config" / "threading_ws.yaml"


def merged_params_file(base: Path, parameters: Mapping[str, ParameterValue], out: Path) -> Path:
    """Write ``base`` with ``parameters`` set in each node entry to ``out`` (``ros2 launch``
    takes one params file); a file without node entries gets a ``/**/classifier`` one."""
    import yaml

    content: dict[str, Any] = yaml.safe_load(base.read_text()) or {}
    entries = [
        entry["ros__parameters"]
        for entry in content.values()
        if isinstance(entry, dict) and isinstance(entry.get("ros__parameters"), dict)
    ]
    if not entries:
        content[f"/**/{NODE_NAME}"] = {"ros__parameters": {}}
        entries = [content[f"/**/{NODE_NAME}"]["ros__parameters"]]
    for entry in entries:
        entry.update(
            {k: v if isinstance(v, str | float) else list(v) for k, v in parameters.items()}
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(content, sort_keys=False))
    return out


def checkout_launch_command() -> Callable[..., tuple[Any, list[str]]] | None:
    """The development stand-in's ``launch_command`` when this module runs from the source
    checkout (``cherry_dev/launch_stub.py`` beside the package); else None. Loaded from its
    file: the shipped package never imports ``cherry_dev``, which is never installed."""
    if not STAND_IN.is_file():
        return None
    spec = importlib.util.spec_from_file_location("cherry_dev_launch_stand_in", STAND_IN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.launch_command


@contextmanager
def running_node(
    command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Run ``command`` in ``env`` (default: this process's), output to ``log_path``; on exit
    interrupt it (SIGINT, as Ctrl-C) and reap it."""
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(list(command), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """Interrupt a process like Ctrl-C, then kill it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return process.returncode
