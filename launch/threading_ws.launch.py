"""Start the cherry classifier with the threading workstation's parameters.

    ros2 launch cherry_classifier threading_ws.launch.py
    ros2 launch cherry_classifier threading_ws.launch.py line:=true    # drop-in detection_server
    ros2 launch cherry_classifier threading_ws.launch.py namespace:=line2 \
        params_file:=/etc/cherry/line2.yaml model_path:=resnet50_v3 log_level:=debug
    ros2 launch cherry_classifier threading_ws.launch.py model_path:=line3 backend:=int8

Parameters come from ``params_file`` (default ``config/threading_ws.yaml``; with ``line:=true``
``config/threading_ws_line.yaml``: the line camera's image sets in, the line buffer's
CherryArray out). Key your own files ``/**/classifier:`` so that they apply under any namespace.

The node is named ``classifier`` (``ros2 param set /classifier pit_threshold 0.7``) and its swap
service is relative, so it resolves to ``/swap_model`` (``/<namespace>/swap_model`` with a
namespace).

``managed:=true`` starts the managed (lifecycle) node instead, ``managed_classifier_node``: it
waits unconfigured until a lifecycle manager (or ``ros2 lifecycle set /classifier configure``,
then ``activate``) brings it up; configure loads and checks the model, activate subscribes.

``record:=true`` also starts ``recorder_node``, which writes the classifier's inputs and outputs
to a rosbag2 (``record_output:=shift_0712``; default a dated folder) for later evaluation with
``cherry-eval``, and with ``capture_dir:=to_label`` saves MAYBE crops and a sample of the rest
for labelling.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def _is_true(name, context):
    return LaunchConfiguration(name).perform(context).lower() in ("true", "1", "yes")


def _params_file(context):
    chosen = LaunchConfiguration("params_file").perform(context)
    if chosen:
        return chosen
    line = _is_true("line", context)
    profile = "threading_ws_line.yaml" if line else "threading_ws.yaml"
    share = FindPackageShare("cherry_classifier")
    return PathJoinSubstitution([share, "config", profile]).perform(context)


def _nodes(context):
    managed = _is_true("managed", context)
    model_path = LaunchConfiguration("model_path").perform(context)
    parameters = [_params_file(context)]
    if model_path:  # empty: keep the params file's model
        parameters.append({"model_path": model_path})
    backend = LaunchConfiguration("backend").perform(context)
    if backend:  # empty: keep the params file's backend
        parameters.append({"backend": backend})
    log_level = ["--ros-args", "--log-level", LaunchConfiguration("log_level")]
    action = LifecycleNode if managed else Node
    nodes = [
        action(
            package="cherry_classifier",
            executable="managed_classifier_node" if managed else "classifier_node",
            name="classifier",
            namespace=LaunchConfiguration("namespace"),
            parameters=parameters,
            arguments=log_level,
            output="screen",
            emulate_tty=True,
        )
    ]
    if _is_true("record", context):
        namespace = LaunchConfiguration("namespace").perform(context).strip("/")
        recorder = {
            "classifier_node": f"/{namespace}/classifier" if namespace else "/classifier",
        }
        for name, argument in (("output", "record_output"), ("capture_dir", "capture_dir")):
            value = LaunchConfiguration(argument).perform(context)
            if value:  # empty: the recorder's default
                recorder[name] = value
        nodes.append(
            Node(
                package="cherry_classifier",
                executable="recorder_node",
                name="cherry_recorder",
                namespace=LaunchConfiguration("namespace"),
                parameters=[recorder],
                arguments=log_level,
                output="screen",
                emulate_tty=True,
            )
        )
    return nodes


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
            DeclareLaunchArgument(
                "params_file",
                default_value="",
                description="parameters file, keyed /**/classifier (default: the package's "
                "config/threading_ws.yaml, or config/threading_ws_line.yaml with line:=true)",
            ),
            DeclareLaunchArgument(
                "line",
                default_value="false",
                description="true: drop-in for the line's detection_server (image sets in, "
                "CherryArray and Detectionhdr out; needs the line's cherry_interfaces)",
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="model to start with (default: the params file's)",
            ),
            DeclareLaunchArgument(
                "backend",
                default_value="",
                description="inference backend, e.g. int8 for a bundle with an accepted int8 "
                "variant (default: the params file's)",
            ),
            DeclareLaunchArgument(
                "managed",
                default_value="false",
                description="true: the managed (lifecycle) node, configured and activated "
                "through its lifecycle services",
            ),
            DeclareLaunchArgument("log_level", default_value="info", description="log level"),
            DeclareLaunchArgument(
                "record", default_value="false", description="also record inputs and outputs"
            ),
            DeclareLaunchArgument(
                "record_output", default_value="", description="bag folder (default: dated)"
            ),
            DeclareLaunchArgument(
                "capture_dir", default_value="", description="save crops to label here"
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
