"""Temperature scaling (Guo et al., 2017) fitted on the validation split.

One scalar T divides the logits; it changes no arg-max, only how confident the probabilities
are. T is found by minimising the validation negative log-likelihood, which is convex in 1/T,
so a golden-section search over [1/max_T, 1/min_T] finds the optimum. The lower bound matters
on separable validation sets (synthetic ones are): there the likelihood keeps improving as
T -> 0 and only the bound stops it; the fit reports when it sits on a bound.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from cherry_classifier.core.decision import softmax
from cherry_classifier.evaluation.metrics import negative_log_likelihood

LOGGER = logging.getLogger(__name__)
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    nll_before: float  # at T = 1
    nll_after: float
    at_bound: bool


def fit_temperature(
    logits: np.ndarray,
    labels: np.ndarray,
    min_temperature: float = 0.5,
    max_temperature: float = 10.0,
    iterations: int = 60,
) -> TemperatureFit:
    """The temperature minimising the NLL of ``labels`` under softmax(logits / T)."""
    if not 0 < min_temperature <= 1 <= max_temperature:
        raise ValueError(
            f"need 0 < min_temperature <= 1 <= max_temperature, got "
            f"{min_temperature}, {max_temperature}"
        )

    def nll(inverse: float) -> float:
        return negative_log_likelihood(softmax(logits, 1.0 / inverse), labels)

    low, high = 1.0 / max_temperature, 1.0 / min_temperature
    a, b = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
    fa, fb = nll(a), nll(b)
    for _ in range(iterations):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - GOLDEN * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + GOLDEN * (high - low)
            fb = nll(b)
    inverse = (low + high) / 2
    candidates = [(nll(x), x) for x in (inverse, 1.0 / max_temperature, 1.0 / min_temperature)]
    best_nll, best = min(candidates)
    temperature = float(1.0 / best)
    at_bound = math.isclose(temperature, min_temperature, rel_tol=1e-3) or math.isclose(
        temperature, max_temperature, rel_tol=1e-3
    )
    if at_bound:
        why = (
            "validation is (nearly) separable"
            if temperature < 1
            else "the model is barely better than chance on validation"
        )
        LOGGER.warning(
            "temperature %.3g sits on its bound [%g, %g]: %s",
            temperature,
            min_temperature,
            max_temperature,
            why,
        )
    return TemperatureFit(temperature, nll(1.0), best_nll, at_bound)
