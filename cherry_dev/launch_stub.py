"""Read launch/threading_ws.launch.py without ROS 2's `launch` (not on PyPI here) and return
the node command line it describes, so tests and the demo start exactly what `ros2 launch` would.

Stand-in `launch` / `launch_ros` modules record the declared arguments and the Node action;
`launch_command` resolves them like launch does (defaults, overrides, package share paths).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / "launch" / "threading_ws.launch.py"


@dataclass
class _Context:
    arguments: dict[str, str]


@dataclass
class LaunchConfiguration:
    name: str

    def perform(self, context: _Context) -> str:
        return context.arguments[self.name]


@dataclass
class FindPackageShare:
    package: str

    def perform(self, context: _Context) -> str:
        return str(REPO_ROOT / "install" / self.package / "share" / self.package)


@dataclass
class PathJoinSubstitution:
    parts: list

    def perform(self, context: _Context) -> str:
        return str(Path(*[_perform(part, context) for part in self.parts]))


@dataclass
class DeclareLaunchArgument:
    name: str
    default_value: Any = None
    description: str = ""


@dataclass
class OpaqueFunction:
    function: Any


@dataclass
class Node:
    package: str
    executable: str
    name: str = ""
    namespace: Any = ""
    parameters: list = field(default_factory=list)
    arguments: list = field(default_factory=list)
    remappings: list = field(default_factory=list)
    output: str = "screen"
    emulate_tty: bool = False


@dataclass
class LifecycleNode(Node):
    """A managed node: the same command line; its transitions are left to the caller."""


@dataclass
class LaunchDescription:
    entities: list


def _perform(value: Any, context: _Context) -> Any:
    return value.perform(context) if hasattr(value, "perform") else value


def _stub_modules() -> dict[str, types.ModuleType]:
    modules = {}
    for name, members in {
        "launch": {"LaunchDescription": LaunchDescription},
        "launch.actions": {
            "DeclareLaunchArgument": DeclareLaunchArgument,
            "OpaqueFunction": OpaqueFunction,
        },
        "launch.substitutions": {
            "LaunchConfiguration": LaunchConfiguration,
            "PathJoinSubstitution": PathJoinSubstitution,
        },
        "launch_ros": {},
        "launch_ros.actions": {"Node": Node, "LifecycleNode": LifecycleNode},
        "launch_ros.substitutions": {"FindPackageShare": FindPackageShare},
    }.items():
        module = types.ModuleType(name)
        module.__dict__.update(members)
        modules[name] = module
    return modules


def load_launch_description() -> LaunchDescription:
    saved = {name: sys.modules.get(name) for name in _stub_modules()}
    sys.modules.update(_stub_modules())
    try:
        spec = importlib.util.spec_from_file_location("threading_ws_launch", LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.generate_launch_description()
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def launch_commands(**overrides: str) -> list[tuple[Node, list[str]]]:
    """Each Node action and the command line `ros2 launch` would run, for these arguments."""
    description = load_launch_description()
    declared = [e for e in description.entities if isinstance(e, DeclareLaunchArgument)]
    unknown = set(overrides) - {d.name for d in declared}
    if unknown:
        raise KeyError(f"the launch file declares no argument(s) {sorted(unknown)}")
    context = _Context({})
    for argument in declared:
        value = overrides.get(argument.name, argument.default_value)
        context.arguments[argument.name] = str(_perform(value, context))
    nodes = [
        node
        for entity in description.entities
        if isinstance(entity, OpaqueFunction)
        for node in entity.function(context)
    ]
    return [(node, _command(node, context)) for node in nodes]


def launch_command(**overrides: str) -> tuple[Node, list[str]]:
    """The classifier's Node action and command line (see :func:`launch_commands`)."""
    return next(item for item in launch_commands(**overrides) if item[0].name == "classifier")


def _command(node: Node, context: _Context) -> list[str]:
    executable = REPO_ROOT / "install" / node.package / "lib" / node.package / node.executable
    command = [sys.executable, str(executable)]
    command += [str(_perform(a, context)) for a in node.arguments if a != "--ros-args"]
    command.insert(2, "--ros-args")
    command += ["-r", f"__node:={node.name}"]
    namespace = _perform(node.namespace, context)
    if namespace:
        command += ["-r", f"__ns:=/{namespace.strip('/')}"]
    for parameters in node.parameters:
        if isinstance(parameters, dict):
            command += [arg for k, v in parameters.items() for arg in ("-p", f"{k}:={v}")]
        else:
            command += ["--params-file", str(_perform(parameters, context))]
    return command
