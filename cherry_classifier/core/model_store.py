"""The one way to find, check and load a model: for the node and every offline tool.

A :class:`ModelStore` turns a requested name into a ready, checked :class:`Classifier`:

1. find it by one of two rule sets:
   - :meth:`ModelStore.confined` (the node): the name resolves inside ``models_dir`` (``..``
     and symbolic links followed), anything outside is refused (see ``model_paths``);
   - :meth:`ModelStore.searching` (``cherry-eval``, ``cherry-compare``): an absolute path as
     given, else the first folder of the search path that holds the name (for example the
     current folder, then the package's models folder); a training run folder stands for the
     bundle its ``report.json`` names;
2. load it without running code (``core.bundle``) on the named backend;
3. refuse a model id outside the allow-list, if one is set;
4. refuse a bundle whose golden crops this backend does not reproduce;
5. refuse a model whose input contract does not fit the caller's inputs, if given.

Every refusal is a :class:`ModelRefusedError` that starts with the requested name and says why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from cherry_classifier.core.classifier import Classifier
from cherry_classifier.core.contract import InputContract, contract_mismatch
from cherry_classifier.core.model_paths import default_models_dir, resolve_model_path

MANIFEST_FILE = "manifest.yaml"
RUN_REPORT_FILE = "report.json"


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
        allow_demo_models: bool = True,
    ) -> None:
        if (models_dir is None) == (not search_path):
            raise ValueError("give either models_dir (confined) or a search_path, not both")
        self.models_dir = None if models_dir is None else Path(models_dir)
        self.search_path = tuple(Path(folder) for folder in search_path)
        self.backend = backend
        self.num_threads = num_threads
        self.allowed_ids = frozenset(i for i in allowed_ids if i)
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
                return resolve_model_path(requested, self.models_dir)
            return self._search(requested)
        except (OSError, ValueError) as error:
            raise ModelRefusedError(f"{requested}: {error}") from error

    def load(self, requested: str | Path, inputs: InputContract | None = None) -> Classifier:
        """A ready classifier (``.path`` set to the resolved bundle), or ModelRefusedError.

        ``inputs``: what the caller will feed it; a model that does not fit them is refused.
        """
        path = self.resolve(requested)
        try:
            classifier = Classifier.from_path(
                path, backend=self.backend, num_threads=self.num_threads
            )
        except Exception as error:  # any bad file is a refusal, never a crash
            raise ModelRefusedError(f"{requested}: {error}") from error
        if self.allowed_ids and classifier.model_id not in self.allowed_ids:
            raise ModelRefusedError(
                f"{requested}: model id {classifier.model_id} is not in allowed_model_ids"
            )
        if not self.allow_demo_models and classifier.manifest.is_demo_model():
            raise ModelRefusedError(
                f"{requested}: model {classifier.model_id} is a "
                f"{classifier.manifest.demo_model_warning()}; refused as allow_demo_model is false"
            )
        try:
            classifier.check_golden()
        except Exception as error:
            raise ModelRefusedError(f"{requested}: golden-set check failed: {error}") from error
        if inputs is not None:
            reason = contract_mismatch(classifier.manifest, inputs)
            if reason:
                raise ModelRefusedError(f"{requested}: contract does not fit: {reason}")
        classifier.path = path
        return classifier

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
