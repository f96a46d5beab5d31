"""Training subpackage: synthetic data, training, calibration, thresholds, export, comparison.

Console commands (``main()`` functions): ``cherry-synth`` (:mod:`.synth`), ``cherry-train``
(:mod:`.train`), ``cherry-compare`` (:mod:`.compare`). Everything about the model's input and
output (architecture, preprocessing, class order, softmax, decisions, bundles) comes from
``cherry_classifier.core``; see docs/training.md.
"""
