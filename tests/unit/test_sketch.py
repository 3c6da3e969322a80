import numpy as np
import pytest

from src.application.domain.sketch import RELATIVE_ACCURACY, QuantileSketch


@pytest.fixture
def values():
    return np.random.default_rng(1).lognormal(np.log(0.5), 0.6, 50_000)


@pytest.mark.parametrize("q", [0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999])
def test_quantiles_are_within_the_relative_accuracy_of_the_sample_at_that_rank(values, q):
    exact = np.sort(values)[int(q * (values.size - 1))]
    assert QuantileSketch.of(values).quantile(q) == pytest.approx(exact, rel=RELATIVE_ACCURACY)


@pytest.mark.parametrize("q, rank", [(0.0, 0), (0.5, 4), (0.9, 8), (1.0, 9)])
def test_a_quantile_is_the_sample_at_rank_q_times_n_minus_1_rounded_down(q, rank):
    values = 2.0 ** np.arange(10)  # a bucket each: every rank has its own value
    assert QuantileSketch.of(values).quantile(q) == pytest.approx(values[rank], rel=RELATIVE_ACCURACY)


def test_merged_sketches_equal_the_sketch_of_all_values(values):
    parts = np.array_split(values, 7)
    merged = QuantileSketch.merge(QuantileSketch.of(part) for part in parts)
    whole = QuantileSketch.of(values)
    assert merged.offset == whole.offset
    assert np.array_equal(merged.counts, whole.counts)
    assert merged.count == values.size


def test_a_sketch_survives_its_byte_form_and_stays_small(values):
    sketch = QuantileSketch.of(values)
    data = sketch.to_bytes()
    again = QuantileSketch.from_bytes(data)
    assert again.offset == sketch.offset and np.array_equal(again.counts, sketch.counts)
    assert len(data) < 2000
