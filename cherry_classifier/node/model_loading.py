"""The node's model loading: the core's model store, confined to ``models_dir``.

Kept as the node's name for it; the rules (confinement, required golden set, allow-list,
golden check, contract fit) live in :mod:`cherry_classifier.core.model_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cherry_classifier.core.model_store import ModelRefusedError, ModelStore

__all__ = ["ModelLoader", "ModelRefusedError"]


class ModelLoader(ModelStore):
    """A :class:`ModelStore` confined to ``models_dir``: what ``model_path`` and
    ``/swap_model`` load through (``load`` returns a checked classifier or raises
    :class:`ModelRefusedError`)."""

    def __init__(
        self,
        models_dir: str | Path,
        backend: str,
        num_threads: int | None,
        allowed_ids: Sequence[str] = (),
        require_golden: bool = True,
        allow_demo_models: bool = True,
    ) -> None:
        super().__init__(
            models_dir=models_dir,
            backend=backend,
            num_threads=num_threads,
            allowed_ids=allowed_ids,
            require_golden=require_golden,
            allow_demo_models=allow_demo_models,
        )
