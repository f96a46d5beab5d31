"""ROS tools around a running classifier node: live bag replay and the line recorder."""
