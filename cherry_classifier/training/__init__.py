"""Training subpackage: synthetic data, training, calibration, thresholds, export."""
