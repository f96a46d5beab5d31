"""cherry_classifier: decide, cherry by cherry, whether a pitted cherry still holds its pit.

Layout: ``core`` (ROS-free model bundles, preprocessing contract, decisions, backends),
``imaging`` (ROS-free image conversion, cherry localizer, layer joining), ``evaluation``
(ROS-free metrics, records, reports, dataset layout, synthetic data), ``node`` (the thin rclpy
layer), ``bags`` (rosbag2 reading and writing), ``live`` (rclpy replay and recording),
``training`` (fitting and export).
"""

__version__ = "0.1.0"
