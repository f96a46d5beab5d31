"""Entry points of `classifier_node` and `managed_classifier_node` (`ros2 run cherry_classifier
classifier_node`; the managed one waits for lifecycle transitions, see ``managed_node``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor


def main(args: list[str] | None = None) -> int:
    def plain() -> Any:
        from cherry_classifier.node.classifier_node import ClassifierNode

        return ClassifierNode()

    return spin(plain, args)


def managed_main(args: list[str] | None = None) -> int:
    def managed() -> Any:
        from cherry_classifier.node.managed_node import ManagedClassifierNode

        return ManagedClassifierNode()

    return spin(managed, args)


def spin(make_node: Callable[[], Any], args: list[str] | None) -> int:
    """Create the node after ``rclpy.init`` and spin it until interrupted."""
    rclpy.init(args=args if args is not None else sys.argv)
    node = None
    try:
        try:
            node = make_node()
        except ValueError as error:  # a configuration that cannot work: say why, exit cleanly
            print(f"[classifier] invalid configuration: {error}", file=sys.stderr)
            return 2
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
