"""The one way to find, check and load a model: for the node and every offline tool.

A :class:`ModelStore` turns a requested name into a ready, checked :class:`Classifier`:

1. find it by one of two rule sets:
   - :meth:`ModelStore.confined` (the node): the name resolves inside ``models_dir`` (``..``
     and symbolic links followed), and so does every file of the bundle folder that loading
     reads (manifest, weights, golden set, variants); anything outside is refused (see
     ``model_paths``);
   - :meth:`ModelStore.searching` (``cherry-eval``, ``cherry-compare``): an absolute path as
     given, else the first folder of the search path that holds the name (for example the
     current folder, then the package's models folder); a training run folder stands for the
     bundle its ``report.json`` names;
2. load it without running code (``core.bundle``: the golden set and manifest checked against
   their size limits before they are read) on the named backend;
3. with ``require_golden`` (the default): refuse a bundle folder without a golden set and any
   single model file (which cannot carry one): nothing would check that this backend
   reproduces what training measured;
4. refuse a model id outside the allow-list, if one is set;
5. refuse a bundle whose golden crops this backend does not reproduce;
6. refuse a model whose input contract does not fit the caller's inputs, if given.

Every refusal is a :class:`ModelRefusedError`: the requested name once, then the reason once
(``requested: reason``; an empty request: ``no model path given``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cherry_classifier.core.bundle import GOLDEN_FILE, VARIANTS_DIR, WEIGHTS_FILE
from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.contract import InputContract, contract_mismatch
from cherry_classifier.core.drift import REFERENCE_FILE
from cherry_classifier.core.model_paths import (
    confine_bundle_files,
    default_models_dir,
    resolve_model_path,
)

MANIFEST_FILE = "manifest.yaml"
RUN_REPORT_FILE = "report.json"
# Every file or folder of a bundle folder that loading reads.
BUNDLE_READS = (MANIFEST_FILE, WEIGHTS_FILE, GOLDEN_FILE, VARIANTS_DIR, REFERENCE_FILE)


class ModelRefusedError(ValueError):
    """The requested model cannot run here; the message says why."""


class ModelStore:
    """Finds models by one rule set, loads them on one backend and checks each before use."""

    def __init__(
        self,
        *,
        models_dir: str | Path | None = None,
        search_path: Sequence[str | Path] = (),
        backend: str = "eager",
        num_threads: int | None = None,
        allowed_ids: Sequence[str] = (),
        require_golden: bool = True,
        allow_demo_models: bool = True,
    ) -> None:
        if (models_dir is None) == (not search_path):
            raise ValueError("give either models_dir (confined) or a search_path, not both")
        self.models_dir = None if models_dir is None else Path(models_dir)
        self.search_path = tuple(Path(folder) for folder in search_path)
        self.backend = backend
        self.num_threads = num_threads
        self.allowed_ids = frozenset(i for i in allowed_ids if i)
        self.require_golden = require_golden
        self.allow_demo_models = allow_demo_models  # False: models trained on synthetic only

    @classmethod
    def confined(cls, models_dir: str | Path, **options) -> ModelStore:
        """Every model must resolve inside ``models_dir`` (the node's rule)."""
        return cls(models_dir=models_dir, **options)

    @classmethod
    def searching(cls, search_path: Sequence[str | Path] | None = None, **options) -> ModelStore:
        """Models found along ``search_path`` (default: the current folder, then the package's
        models folder), run folders included (the offline tools' rule)."""
        if search_path is None:
            search_path = (Path.cwd(), default_models_dir())
        return cls(search_path=search_path, **options)

    def resolve(self, requested: str | Path) -> Path:
        """The bundle path ``requested`` names under this store's rules, or ModelRefusedError."""
        requested = str(requested)
        try:
            if self.models_dir is not None:
                path = resolve_model_path(requested, self.models_dir)
                if path.is_dir():
                    confine_bundle_files(path, self.models_dir, BUNDLE_READS)
                return path
            return self._search(requested)
        except (OSError, ValueError) as error:
            raise refusal(requested, str(error)) from error

    def load(self, requested: str | Path, inputs: InputContract | None = None) -> Classifier:
        """A ready classifier (``.path`` set to the resolved bundle), or ModelRefusedError.

        ``inputs``: what the caller will feed it; a model that does not fit them is refused.
        """
        requested = str(requested)
        path = self.resolve(requested)
        try:
            classifier = Classifier.from_path(
                path, backend=self.backend, num_threads=self.num_threads
            )
        except Exception as error:  # any bad file is a refusal, never a crash
            raise refusal(requested, _within(str(error), path)) from error
        if self.require_golden:  # after loading: a broken file's own fault is named first
            self._refuse_without_golden(requested, path)
        if self.allowed_ids and classifier.model_id not in self.allowed_ids:
            raise refusal(requested, f"model id {classifier.model_id} is not in allowed_model_ids")
        if not self.allow_demo_models and classifier.manifest.is_demo_model():
            raise refusal(
                requested,
                f"model {classifier.model_id} is a {classifier.manifest.demo_model_warning()}; "
                "refused as allow_demo_model is false",
            )
        try:
            classifier.check_golden()
        except Exception as error:
            raise refusal(
                requested, f"golden-set check failed: {_within(str(error), path)}"
            ) from error
        if inputs is not None:
            reason = contract_mismatch(classifier.manifest, inputs)
            if reason:
                raise refusal(requested, f"contract does not fit: {reason}")
        classifier.path = path
        return classifier

    @staticmethod
    def _refuse_without_golden(requested: str, path: Path) -> None:
        if not path.is_dir():
            raise refusal(
                requested,
                "a single model file carries no golden set; only a bundle folder with "
                f"{GOLDEN_FILE} loads while require_golden is true",
            )
        if not os.path.lexists(path / GOLDEN_FILE):
            raise refusal(
                requested,
                f"the bundle has no golden set ({GOLDEN_FILE}) to check this backend against; "
                "refused while require_golden is true",
            )

    def _search(self, requested: str) -> Path:
        if not requested.strip():
            raise ValueError("no model path given")
        given = Path(requested).expanduser()
        candidates = [given] if given.is_absolute() else [f / given for f in self.search_path]
        for candidate in candidates:
            if candidate.exists():
                return bundle_of(candidate)
        where = ", ".join(str(folder) for folder in self.search_path)
        raise FileNotFoundError(f"no such model here or in {where}")


def refusal(requested: str, reason: str) -> ModelRefusedError:
    """``requested: reason``, or the reason alone for an empty request."""
    return ModelRefusedError(f"{requested}: {reason}" if requested.strip() else reason)


def _within(message: str, path: Path) -> str:
    """``message`` without the resolved bundle path (the requested name says it once):
    ``/abs/m/weights.pt: ...`` -> ``weights.pt: ...``; ``/abs/m.pt: ...`` -> ``...``."""
    message = message.replace(f"{path}{os.sep}", "")
    return message.removeprefix(f"{path}: ")


def bundle_of(path: Path) -> Path:
    """A bundle folder or file as it is; a training run folder: the bundle its report names."""
    if path.is_file() or (path / MANIFEST_FILE).is_file():
        return path
    report = path / RUN_REPORT_FILE
    if report.is_file():
        recorded = Path(json.loads(report.read_text())["bundle"])
        for candidate in (recorded, path / recorded.name):
            if (candidate / MANIFEST_FILE).is_file():
                return candidate
    raise FileNotFoundError(f"{path}: neither a bundle nor a run folder with {RUN_REPORT_FILE}")
