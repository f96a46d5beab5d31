"""Load, check and warm up a model for the node, refusing anything unsafe with a reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.model_paths import resolve_model_path

LOGGER = logging.getLogger(__name__)


class ModelRefusedError(Exception):
    """The requested model cannot run here; the message says why."""


class ModelLoader:
    """Resolves paths inside ``models_dir``, enforces the allow-list, loads and warms up."""

    def __init__(
        self,
        models_dir: Path,
        backend: str,
        num_threads: int | None,
        allowed_ids: Sequence[str] = (),
    ) -> None:
        self.models_dir = models_dir
        self.backend = backend
        self.num_threads = num_threads
        self.allowed_ids = frozenset(allowed_ids)

    def load(self, requested: str) -> Any:
        """Return a ready classifier (with ``.path`` set) or raise :class:`ModelRefusedError`."""
        try:
            path = resolve_model_path(requested, self.models_dir)
            classifier = Classifier.from_path(
                path, backend=self.backend, num_threads=self.num_threads
            )
        except Exception as error:  # any bad file or path is a refusal, never a crash
            raise ModelRefusedError(f"{requested}: {error}") from error
        if self.allowed_ids and classifier.model_id not in self.allowed_ids:
            raise ModelRefusedError(
                f"{requested}: model id {classifier.model_id} is not in allowed_model_ids"
            )
        check = getattr(classifier, "check_golden", None)
        if check is not None:
            try:
                check()
            except Exception as error:
                raise ModelRefusedError(f"{requested}: golden-set check failed: {error}") from error
        classifier.path = path
        return classifier
