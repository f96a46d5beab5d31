"""ROS-free imaging: image conversion (no cv_bridge), cherry localizer, layer joining."""
