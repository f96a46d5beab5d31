"""Evaluation: how good a model is, without ROS or torch training code.

Between the core/imaging and the tools (``bags``, ``live``, ``training``):

- :mod:`.metrics`: :class:`~.metrics.ModelMetrics`, the one typed metrics result, and the
  metric maths on probabilities and decisions;
- :mod:`.labels`, :mod:`.records`, :mod:`.record_metrics`: labelled cherries, per-cherry
  decision records (offline and live), their metrics and threshold sweeps;
- :mod:`.plots`, :mod:`.tables`, :mod:`.training_report`, :mod:`.record_report`: the plots and
  Markdown of the training run report and of the bag/live evaluation report;
- :mod:`.comparison`: models side by side on the same crops (``cherry-compare``'s scoring);
- :mod:`.dataset`, :mod:`.capture`, :mod:`.synthetic`: the crop dataset layout that capture
  writes and training reads, and the SYNTHETIC renderer (``cherry-synth``).
"""
