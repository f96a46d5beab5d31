"""Live-versus-shadow agreement of a recorded shift: from a bag's two decision topics, no model.

The recorder (``cherry-record``) writes a classifier's ``<node>/decisions`` and, while it runs a
shadow model, ``<node>/shadow_decisions``. Each shadow array carries the live array's header and
source topic, so the two pair up frame by frame; their labels, crop by crop, give the figures
the node's ``<node>: shadow`` status gives (``core.shadow``): agreement, per live label, the
3x3 confusion and the pit disagreements, here for the whole recording, per (live model, shadow
model) pair. Live frames the shadow never answered (shed under load, or no shadow then) are
counted as ``live_frames_without_shadow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cherry_classifier.bags.io import bag_summary, decode, iter_messages
from cherry_classifier.core.shadow import AgreementFigures, empty_confusion

SHADOW_SUFFIX = "/shadow_decisions"
LIVE_SUFFIX = "/decisions"


@dataclass
class ShadowComparison:
    """One node's live and shadow model pair over a recording."""

    node: str
    live_model_id: str
    shadow_model_id: str
    confusion: np.ndarray = field(default_factory=empty_confusion)
    frames: int = 0

    @property
    def figures(self) -> AgreementFigures:
        return AgreementFigures(self.confusion)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "live_model_id": self.live_model_id,
            "shadow_model_id": self.shadow_model_id,
            "frames": self.frames,
            **self.figures.to_dict(),
        }

    def describe(self) -> str:
        figures = self.figures
        agreement = "n/a" if figures.agreement is None else f"{figures.agreement:.1%}"
        per_label = ", ".join(
            f"{label} {'n/a' if share is None else f'{share:.1%}'}"
            for label, share in figures.agreement_per_live_label().items()
        )
        return (
            f"{self.node}: shadow {self.shadow_model_id} vs live {self.live_model_id}: "
            f"{agreement} agree over {figures.crops} crops of {self.frames} frames (per live "
            f"label: {per_label}); {figures.pit_disagreements} pit disagreements"
        )


@dataclass
class ShadowAgreement:
    """Every node's comparisons in a bag, and what could not be paired."""

    comparisons: list[ShadowComparison]
    live_frames_without_shadow: int = 0
    shadow_frames_without_live: int = 0

    def lines(self) -> list[str]:
        """For people: one line per model pair, one for the live frames without an answer."""
        return [c.describe() for c in self.comparisons] + [
            f"shadow: {self.live_frames_without_shadow} live frames without a shadow answer "
            "(shed, or no shadow then)"
        ]

    def write(self, folder: str | Path) -> Path:
        """``folder/shadow_agreement.json``."""
        import json

        path = Path(folder) / "shadow_agreement.json"
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def to_dict(self) -> dict[str, Any]:
        return {
            "comparisons": [c.to_dict() for c in self.comparisons],
            "live_frames_without_shadow": self.live_frames_without_shadow,
            "shadow_frames_without_live": self.shadow_frames_without_live,
        }


def _key(array: Any) -> tuple[str, int, int]:
    stamp = array.header.stamp
    return array.source_topic, int(stamp.sec), int(stamp.nanosec)


def _labels(array: Any) -> np.ndarray:
    return np.array([int(d.label) for d in array.decisions], np.int64)


def shadow_topics(bag: str | Path) -> list[str]:
    """The bag's ``*/shadow_decisions`` topics."""
    return sorted(t for t in bag_summary(bag).topics if t.endswith(SHADOW_SUFFIX))


def shadow_agreement(bag: str | Path, topics: Iterable[str] | None = None) -> ShadowAgreement:
    """Pair each shadow array with the live array of the same frame and count (module doc)."""
    result = ShadowAgreement([])
    for shadow_topic in topics if topics is not None else shadow_topics(bag):
        node = shadow_topic.removesuffix(SHADOW_SUFFIX)
        live = list(map(decode, iter_messages(bag, [node + LIVE_SUFFIX])))
        shadow = list(map(decode, iter_messages(bag, [shadow_topic])))
        add_comparisons(result, node, live, shadow)
    return result


def compare_arrays(node: str, live: Iterable[Any], shadow: Iterable[Any]) -> ShadowAgreement:
    """The same from decision arrays in hand (e.g. those a live replay received)."""
    result = ShadowAgreement([])
    add_comparisons(result, node, live, shadow)
    return result


def add_comparisons(
    result: ShadowAgreement, node: str, live_arrays: Iterable[Any], shadow_arrays: Iterable[Any]
) -> None:
    """Pair ``node``'s shadow arrays with its live ones by frame; add the counts to ``result``."""
    live = {_key(a): a for a in live_arrays}
    pairs: dict[tuple[str, str], ShadowComparison] = {}
    answered = set()
    for shadow in shadow_arrays:
        key = _key(shadow)
        array = live.get(key)
        if array is None or len(array.decisions) != len(shadow.decisions):
            result.shadow_frames_without_live += 1
            continue
        answered.add(key)
        pair = (array.model_id, shadow.model_id)
        comparison = pairs.setdefault(pair, ShadowComparison(node, *pair))
        np.add.at(comparison.confusion, (_labels(array), _labels(shadow)), 1)
        comparison.frames += 1
    result.live_frames_without_shadow += len(set(live) - answered)
    result.comparisons.extend(pairs.values())
