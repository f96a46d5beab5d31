"""ROS-free core: model bundles and their preprocessing contract, decisions, batching, backends.

The single source of truth for input size, channel order, input scale and class order, shared
by the node, the bag tools and training.

Importing the core before torch makes libgomp (torch's OpenMP) wait passively: its spinning
threads otherwise collapse CPU throughput whenever another thread or process wants a core
(eager ResNet50 fell from ~40 to 0.6 crops/s on a shared 2-core machine). An OMP_WAIT_POLICY
already in the environment wins; once torch is imported the setting has no effect.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
