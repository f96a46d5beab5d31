"""ROS-free core: model bundles and their preprocessing contract, decisions, batching, backends.

The single source of truth for input size, channel order, input scale and class order, shared
by the node, the bag tools and training.
"""
