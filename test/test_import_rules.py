"""The package's layering, checked from the source (nothing is imported; ``ast`` only).

- no module under ``bags/``, ``live/`` or ``node/`` imports from ``training/``;
- nothing under ``core/``, ``imaging/`` or ``evaluation/`` imports ROS (rclpy, message and
  interface packages, ``rosbags``) or the ROS-side layers (``bags``, ``live``, ``node``) or
  ``training``;
- no import cycles between the package's modules.

Imports inside functions (lazy ones) count as much as top-level ones; imports for type checkers
only (under ``if TYPE_CHECKING:``) count for the layer rules but not as cycles, as they never
run.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "cherry_classifier"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE
ROS_NAMES = frozenset(
    {
        "rclpy",
        "rosbags",
        "rosidl_runtime_py",
        "rosidl_parser",
        "builtin_interfaces",
        "rcl_interfaces",
        "cherry_interfaces",
        "launch",
        "launch_ros",
        "message_filters",
        "cv_bridge",
    }
)
ROS_SUFFIXES = ("_msgs", "_srvs", "_interfaces")
ROS_FREE = ("core", "imaging", "evaluation")
TOOLS = ("bags", "live", "node")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


@cache
def imports_of(module: str, runtime_only: bool = False) -> tuple[tuple[str, int], ...]:
    """(absolute imported name, line) of every import in the module, at any depth."""
    path = modules()[module]
    is_package = path.name == "__init__.py"
    return imports_in(path.read_text(), module, is_package, set(modules()), runtime_only)


def type_checking_nodes(tree: ast.AST) -> set[ast.AST]:
    """Every node under an ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) block."""
    inside: set[ast.AST] = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and ast.unparse(test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            for child in node.body:
                inside.update(ast.walk(child))
    return inside


def imports_in(
    source: str, module: str, is_package: bool, known: set[str], runtime_only: bool = False
) -> tuple[tuple[str, int], ...]:
    """The imports of ``source`` (the text of ``module``), top-level and inside functions.

    ``from a.b import c`` gives ``a.b.c`` when that is one of the ``known`` modules, else
    ``a.b``; relative imports are made absolute. ``runtime_only``: leave out the imports
    under ``if TYPE_CHECKING:``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    tree = ast.parse(source)
    skipped = type_checking_nodes(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in known else base, node.lineno))
    return tuple(found)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def in_package(name: str, subpackage: str | None = None) -> bool:
    prefix = PACKAGE if subpackage is None else f"{PACKAGE}.{subpackage}"
    return name == prefix or name.startswith(prefix + ".")


def is_ros(name: str) -> bool:
    top = name.split(".")[0]
    if top in ROS_NAMES or top.startswith("rosidl") or top.endswith(ROS_SUFFIXES):
        return True
    return in_package(name, "msg") or in_package(name, "srv")


def violations(layers: tuple[str, ...], forbidden) -> list[str]:
    return [
        f"{modules()[module].relative_to(PACKAGE_DIR.parent)}:{line} imports {name}"
        for module in modules()
        if layer_of(module) in layers
        for name, line in imports_of(module)
        if forbidden(name)
    ]


def test_the_package_has_the_layers_the_rules_name():
    layers = {layer_of(module) for module in modules()}
    assert {*ROS_FREE, *TOOLS, "training"} <= layers


def test_bags_live_and_node_do_not_import_training():
    assert violations(TOOLS, lambda name: in_package(name, "training")) == []


def test_core_imaging_and_evaluation_import_no_ros():
    assert violations(ROS_FREE, is_ros) == []


def test_core_imaging_and_evaluation_import_no_tool_layer():
    def tool(name: str) -> bool:
        return any(in_package(name, layer) for layer in (*TOOLS, "training"))

    assert violations(ROS_FREE, tool) == []


def import_graph() -> dict[str, set[str]]:
    return {
        module: {
            name
            for name, _ in imports_of(module, runtime_only=True)
            if name in modules() and name != module
        }
        for module in modules()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                return [*path[path.index(following) :], following]
            elif following not in state:
                state[following] = 1
                path.append(following)
                stack.append(iter(sorted(graph[following])))
    return []


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_the_checks_see_lazy_and_relative_imports_and_find_cycles():
    source = (
        "import os\n"
        "from . import sibling\n"
        "from ..training.data import Split\n"
        "def later():\n"
        "    from cherry_classifier.training import train\n"
        "if TYPE_CHECKING:\n"
        "    import typed_only\n"
    )
    known = {"p.bags.sibling", "cherry_classifier.training.train"}
    assert [name for name, _ in imports_in(source, "p.bags.tool", False, known)] == [
        "os",
        "p.bags.sibling",
        "p.training.data",
        "cherry_classifier.training.train",
        "typed_only",
    ]
    assert "typed_only" not in dict(imports_in(source, "p.bags.tool", False, known, True))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
