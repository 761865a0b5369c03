"""Fixed-size state of the telemetry: nothing here grows with the number of requests.

- DriftWindow: the bins of the last `size` input rows, per feature, as a ring buffer plus running
  counts; the drift score is computed from the counts.
- LabelledWindow: the last `size` labelled outcomes (1 = the prediction was right).
- MeanWindow: the last `size` confidences.
- PendingPredictions: predictions waiting for their label, at most `capacity`, oldest evicted
  first, each expiring after `ttl_seconds`.

Not thread-safe on their own: the caller (state.py) holds one lock around every use.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Callable, Sequence

from .schema import Reference

# Proportions below this are taken as this, so that an empty bin on either side stays finite.
PSI_FLOOR = 1e-4


def population_stability_index(actual_counts: Sequence[int], rows: int, expected: Sequence[float]) -> float:
    """PSI = sum over bins of (a - e) * ln(a / e), proportions floored at PSI_FLOOR.

    Bins with an expected proportion at the floor and no live rows contribute nothing. The result is
    corrected for the window's size: a sample of `rows` rows drawn from the reference itself has an
    expected PSI of about (B - 1) / rows (B = bins that can be hit), which is subtracted, so that a
    small window does not read as drift (never below 0).
    """
    if rows <= 0:
        return 0.0
    psi = 0.0
    populated = 0
    for count, e in zip(actual_counts, expected):
        a = max(count / rows, PSI_FLOOR)
        e = max(e, PSI_FLOOR)
        if e > PSI_FLOOR:
            populated += 1
        psi += (a - e) * math.log(a / e)
    return max(0.0, psi - max(populated - 1, 0) / rows)


def drift_score(max_psi: float) -> float:
    """The published score, 0 (no drift) .. 1: 1 - exp(-PSI), PSI being the worst feature's.

    About equal to the PSI for small values (PSI 0.1 -> 0.095, PSI 0.2 -> 0.181, PSI 0.25 -> 0.221)
    and bounded by 1 for any PSI; PSI = -ln(1 - score) reads a score back.
    """
    return 1.0 - math.exp(-max(0.0, max_psi))


class DriftWindow:
    def __init__(self, reference: Reference, size: int):
        self.reference = reference
        self.size = size
        self.features = len(reference.features)
        self._bins = bytearray(size * self.features)  # row-major ring of bin indices (< 256 bins)
        self._counts = [[0] * feature.bins for feature in reference.features]
        self._next = 0
        self.rows = 0

    def add(self, bins: Sequence[int]) -> None:
        """One row's bin per feature, in the reference's feature order."""
        offset = self._next * self.features
        if self.rows == self.size:
            for f in range(self.features):
                self._counts[f][self._bins[offset + f]] -= 1
        else:
            self.rows += 1
        for f, b in enumerate(bins):
            self._bins[offset + f] = b
            self._counts[f][b] += 1
        self._next = (self._next + 1) % self.size

    def psi_by_feature(self) -> list[tuple[str, float]]:
        return [
            (feature.name, population_stability_index(self._counts[f], self.rows, feature.expected))
            for f, feature in enumerate(self.reference.features)
        ]

    def counts(self) -> list[list[int]]:
        return [list(c) for c in self._counts]


class LabelledWindow:
    def __init__(self, size: int):
        self._outcomes: deque[int] = deque(maxlen=size)
        self._correct = 0

    def add(self, correct: bool) -> None:
        if len(self._outcomes) == self._outcomes.maxlen:
            self._correct -= self._outcomes[0]
        value = 1 if correct else 0
        self._outcomes.append(value)
        self._correct += value

    def __len__(self) -> int:
        return len(self._outcomes)

    @property
    def size(self) -> int:
        return self._outcomes.maxlen or 0

    def accuracy(self) -> float:
        return self._correct / len(self._outcomes) if self._outcomes else math.nan


class MeanWindow:
    def __init__(self, size: int):
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._values.append(value)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def size(self) -> int:
        return self._values.maxlen or 0

    def mean(self) -> float:
        # At most `size` additions per scrape; exact, with no running sum to drift.
        return math.fsum(self._values) / len(self._values) if self._values else math.nan


class PendingPredictions:
    """Prediction id -> the predicted label of each row (at most `max_rows` rows kept per id)."""

    def __init__(self, capacity: int, ttl_seconds: float, max_rows: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.ttl_seconds = ttl_seconds
        self.max_rows = max_rows
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self.evicted = 0
        self.expired = 0

    def add(self, prediction_id: str, labels: Sequence[str]) -> None:
        now = self._clock()
        self._expire(now)
        while len(self._entries) >= self.capacity:
            self._entries.popitem(last=False)
            self.evicted += 1
        self._entries[prediction_id] = (now, tuple(labels[: self.max_rows]))

    def take(self, prediction_id: str) -> tuple[str, ...] | None:
        """The predicted labels of an id, removed from the store (a label counts once)."""
        self._expire(self._clock())
        entry = self._entries.pop(prediction_id, None)
        return None if entry is None else entry[1]

    def _expire(self, now: float) -> None:
        while self._entries:
            created, _ = next(iter(self._entries.values()))
            if now - created <= self.ttl_seconds:
                break
            self._entries.popitem(last=False)
            self.expired += 1

    def __len__(self) -> int:
        return len(self._entries)
