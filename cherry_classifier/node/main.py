"""Entry point of `classifier_node` (`ros2 run cherry_classifier classifier_node`)."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args if args is not None else sys.argv)
    from cherry_classifier.node.classifier_node import ClassifierNode

    node = None
    try:
        try:
            node = ClassifierNode()
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
