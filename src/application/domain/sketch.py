"""A mergeable quantile sketch with a relative error bound (the DDSketch construction).

Values fall into logarithmic buckets: bucket i holds (gamma^(i-1), gamma^i], with
gamma = (1 + accuracy) / (1 - accuracy). A quantile read from the sketch is within the relative
accuracy (1%) of the sample at that rank, and
sketches of different runs merge exactly by adding their counts, so percentiles over any window
come from the runs' summaries without reading one raw sample.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


def bucket_of(value: float) -> int:
    """The index of the bucket that holds `value`."""
    return math.ceil(math.log(value) / _LOG_GAMMA)


@dataclass(frozen=True, eq=False)
class QuantileSketch:
    offset: int  # the index of counts[0]
    counts: np.ndarray  # int64 counts of consecutive buckets

    @classmethod
    def of(cls, values: np.ndarray) -> QuantileSketch:
        """The sketch of positive values (every metric here is positive by its bounds)."""
        indices = np.ceil(np.log(values) / _LOG_GAMMA).astype(np.int64)  # bucket_of, for many values
        offset = int(indices.min())
        return cls(offset, np.bincount(indices - offset).astype(np.int64))

    @classmethod
    def merge(cls, sketches: Iterable[QuantileSketch]) -> QuantileSketch:
        parts = list(sketches)
        offset = min(s.offset for s in parts)
        counts = np.zeros(max(s.offset + s.counts.size for s in parts) - offset, dtype=np.int64)
        for sketch in parts:
            start = sketch.offset - offset
            counts[start : start + sketch.counts.size] += sketch.counts
        return cls(offset, counts)

    @cached_property
    def at_most(self) -> np.ndarray:
        """The cumulative counts: how many values fall in each bucket or below it."""
        return np.cumsum(self.counts)

    @cached_property
    def count(self) -> int:
        return int(self.at_most[-1])

    def value_at_rank(self, rank: float) -> float:
        """The value of the sample at 0-based rank `rank`, within the relative accuracy."""
        return self.values_at_ranks([rank])[0]

    def values_at_ranks(self, ranks: Sequence[float]) -> list[float]:
        """value_at_rank of each rank, in one pass."""
        positions = np.searchsorted(self.at_most, np.floor(ranks) + 1)
        indices = self.offset + np.minimum(positions, self.counts.size - 1)
        values: list[float] = (2 * _GAMMA**indices / (_GAMMA + 1)).tolist()
        return values

    def interpolated_at_levels(self, levels: Sequence[float]) -> list[float]:
        """The value at each level's rank with the bucket's values taken as spread evenly (in log
        space) across it: nearer the samples' own quantile than the bucket's middle."""
        ranks = np.asarray([q * (self.count - 1) for q in levels]) + 0.5
        positions = np.minimum(np.searchsorted(self.at_most, ranks), self.counts.size - 1)
        below = np.where(positions > 0, self.at_most[positions - 1], 0)
        within = np.clip((ranks - below) / self.counts[positions], 0.0, 1.0)
        values: list[float] = (_GAMMA ** (self.offset + positions - 1 + within)).tolist()
        return values

    def quantile(self, q: float) -> float:
        return self.quantiles([q])[0]

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        return self.values_at_ranks([q * (self.count - 1) for q in qs])

    def to_bytes(self) -> bytes:
        return struct.pack("<i", self.offset) + zlib.compress(self.counts.astype("<u4").tobytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantileSketch:
        (offset,) = struct.unpack_from("<i", data)
        counts = np.frombuffer(zlib.decompress(data[4:]), dtype="<u4").astype(np.int64)
        return cls(offset, counts)
