"""Bags: write, read and evaluate rosbag2 recordings without rclpy (the ``rosbags`` library).

- :mod:`.typestore`, :mod:`.io`, :mod:`.messages`: message types, reading/writing bags;
- :mod:`.line_types`: the line's own ``cherry_interfaces`` message types, embedded as text;
- :mod:`.labels`: ``CherryLabelArray`` labels recorded beside the images, and their matching;
- :mod:`.make_bag` (``cherry-bag-make``): bags from crops, layered frames, synthetic frames;
- :mod:`.records`, :mod:`.offline`, :mod:`.metrics`, :mod:`.report`, :mod:`.evaluate`
  (``cherry-eval``): per-cherry records, offline evaluation, metrics, sweep and report.

See docs/bags.md.
"""
