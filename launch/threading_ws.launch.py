"""Start the cherry classifier with the threading workstation's parameters.

    ros2 launch cherry_classifier threading_ws.launch.py
    ros2 launch cherry_classifier threading_ws.launch.py namespace:=line2 \
        params_file:=/etc/cherry/line2.yaml model_path:=resnet50_v3 log_level:=debug

The node is named ``classifier`` (``ros2 param set /classifier pit_threshold 0.7``) and its swap
service is relative, so it resolves to ``/swap_model`` (``/<namespace>/swap_model`` with a
namespace).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _classifier(context):
    model_path = LaunchConfiguration("model_path").perform(context)
    parameters = [LaunchConfiguration("params_file")]
    if model_path:  # empty: keep the params file's model
        parameters.append({"model_path": model_path})
    return [
        Node(
            package="cherry_classifier",
            executable="classifier_node",
            name="classifier",
            namespace=LaunchConfiguration("namespace"),
            parameters=parameters,
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution(
                    [FindPackageShare("cherry_classifier"), "config", "threading_ws.yaml"]
                ),
                description="parameters file",
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="model to start with (default: the params file's)",
            ),
            DeclareLaunchArgument("log_level", default_value="info", description="log level"),
            OpaqueFunction(function=_classifier),
        ]
    )
