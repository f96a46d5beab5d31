"""Bags: write, read and evaluate rosbag2 recordings without rclpy (the ``rosbags`` library).

- :mod:`.typestore`, :mod:`.io`, :mod:`.messages`: message types, reading/writing bags;
- :mod:`.line_types`: the line's own ``cherry_interfaces`` message types, embedded as text;
- :mod:`.labels`: ``CherryLabelArray`` labels recorded beside the images;
- :mod:`.make_bag` (``cherry-bag-make``): bags from crops, layered frames, synthetic frames;
- :mod:`.offline`, :mod:`.evaluate` (``cherry-eval``): a model over a bag, offline. Records,
  metrics, sweep and report are :mod:`cherry_classifier.evaluation`'s.

See docs/bags.md.
"""
