"""Which decision thresholds the bag tools judge with, and where they came from.

One rule for ``cherry-eval`` and ``cherry-replay``: the node's parameters file when one is given
(what the line runs), else the model's own (its bundle's tuned thresholds). ``--thresholds``
overrides it: ``model``, ``params`` or three numbers ``pit,maybe,clean``. Every report says
which thresholds it used and where they came from.

The backend follows the same rule (:func:`choose_backend_name`): ``--backend`` if given, else
the parameters file's ``backend``, else ``auto``, as the shipped parameters files set it; so
``cherry-eval`` scores the variant a node with those settings runs on this machine.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cherry_classifier.core.decision import Thresholds

SHIPPED_BACKEND = "auto"  # config/threading_ws*.yaml's backend
THRESHOLD_NAMES = ("pit_threshold", "maybe_threshold", "clean_threshold")
MODEL, PARAMS = "model", "params"
ThresholdsChoice = str | Thresholds  # MODEL, PARAMS or explicit values


def parse_thresholds(text: str) -> ThresholdsChoice:
    """``--thresholds``' value: "model", "params" or "pit,maybe,clean" (argparse type)."""
    if text in (MODEL, PARAMS):
        return text
    parts = text.split(",")
    try:
        if len(parts) != 3:
            raise ValueError(f"expected 3 numbers, got {len(parts)}")
        return Thresholds(*(float(part) for part in parts)).validated()
    except ValueError as error:  # ThresholdError is one
        raise argparse.ArgumentTypeError(
            f"{text!r}: give model, params or pit,maybe,clean (e.g. 0.5,0.2,0.5): {error}"
        ) from None


@dataclass(frozen=True)
class ChosenThresholds:
    """The thresholds to judge with and, in words, where they came from."""

    thresholds: Thresholds
    source: str

    def describe(self) -> str:
        t = self.thresholds
        return (
            f"thresholds pit {t.pit_threshold:.4g} / maybe {t.maybe_threshold:.4g} / clean "
            f"{t.clean_threshold:.4g} (from {self.source})"
        )


def choose_thresholds(
    choice: ThresholdsChoice | None,
    params_file: str | Path | None,
    params: Mapping[str, object],
    model_thresholds: Callable[[], Thresholds],
    model_name: str,
) -> ChosenThresholds:
    """The thresholds for ``choice`` (None: ``params`` with a parameters file, else ``model``).

    ``model_thresholds`` is called only when the model's are wanted.
    """
    if choice is None:
        choice = PARAMS if params_file else MODEL
    if isinstance(choice, Thresholds):
        return ChosenThresholds(choice.validated(), "--thresholds")
    if choice == MODEL:
        return ChosenThresholds(
            model_thresholds().validated(), f"model {model_name}: its tuned thresholds"
        )
    if not params_file:
        raise ValueError("--thresholds params needs a --params-file")
    # What the node runs: the file's values, its parameter defaults (Thresholds()'s) for the rest.
    values = {n: float(params[n]) for n in THRESHOLD_NAMES if n in params}  # type: ignore[arg-type]
    return ChosenThresholds(Thresholds(**values).validated(), f"params file {params_file}")


def with_overrides(
    chosen: ChosenThresholds, overrides: Mapping[str, float | None]
) -> ChosenThresholds:
    """``chosen`` with single values replaced (``--pit-threshold`` ...), said in the source."""
    given = {name: value for name, value in overrides.items() if value is not None}
    if not given:
        return chosen
    values = chosen.thresholds.to_dict() | given
    flags = ", ".join(f"--{name.replace('_', '-')} {value:g}" for name, value in given.items())
    return ChosenThresholds(Thresholds(**values).validated(), f"{chosen.source}; {flags}")


def choose_backend_name(
    given: str | None, params_file: str | Path | None, params: Mapping[str, object]
) -> tuple[str, str]:
    """The backend to evaluate on and, in words, where it came from."""
    if given:
        return given, "--backend"
    if params_file and params.get("backend"):
        return str(params["backend"]), f"params file {params_file}"
    return SHIPPED_BACKEND, "the shipped parameters files' default"
