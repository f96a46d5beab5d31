"""cherry_classifier: decide, cherry by cherry, whether a pitted cherry still holds its pit.

Layout: ``core`` (ROS-free model bundles, preprocessing contract, decisions, backends),
``imaging`` (ROS-free image conversion, cherry localizer, layer joining), ``node`` (the thin
rclpy layer), ``training`` (synthetic data, training, calibration, export).
"""

__version__ = "0.1.0"
