"""Training subpackage: fitting (training, calibration, thresholds) and export.

Console commands (``main()`` functions): ``cherry-train`` (:mod:`.train`), ``cherry-compare``
(:mod:`.compare`; its scoring is :mod:`cherry_classifier.evaluation.comparison`). Metrics,
reports, the dataset layout and the synthetic renderer (``cherry-synth``) are
:mod:`cherry_classifier.evaluation`'s. Everything about the model's input and
output (architecture, preprocessing, class order, softmax, decisions, bundles) comes from
``cherry_classifier.core``; see docs/training.md.
"""
