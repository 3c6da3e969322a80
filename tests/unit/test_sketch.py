import numpy as np
import pytest

from src.application.domain.sketch import RELATIVE_ACCURACY, QuantileSketch

GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)  # bucket i holds (GAMMA^(i-1), GAMMA^i]


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
    sketch = QuantileSketch.of(values)
    assert sketch.quantile(q) == pytest.approx(values[rank], rel=RELATIVE_ACCURACY)
    assert sketch.quantiles([q, 0.0]) == pytest.approx([values[rank], values[0]], rel=RELATIVE_ACCURACY)


def test_interpolated_levels_spread_a_buckets_values_evenly_across_it_in_log_space():
    sketch = QuantileSketch.of(np.full(4, GAMMA**10 * 0.999))  # four values in bucket 10: (g^9, g^10]
    # Level q reads rank 3q + 0.5 of 4: the bucket's (3q + 0.5) / 4 of the way up, in log space.
    assert sketch.interpolated_at_levels([0.0, 0.5, 1.0]) == pytest.approx(
        [GAMMA ** (9 + f) for f in (1 / 8, 1 / 2, 7 / 8)]
    )


def test_interpolated_levels_start_from_the_values_below_their_bucket():
    sketch = QuantileSketch.of(np.repeat([GAMMA**10 * 0.999, GAMMA**11 * 0.999], 4))  # buckets 10 and 11
    # Level 5/7 reads rank 5.5 of 8: the fourth value's bucket is below it, so 1.5 of bucket 11's 4.
    assert sketch.interpolated_at_levels([5 / 7]) == pytest.approx([GAMMA ** (10 + 1.5 / 4)])


def test_a_rank_past_the_last_reads_the_largest_value():
    values = 2.0 ** np.arange(10)
    sketch = QuantileSketch.of(values)
    assert sketch.value_at_rank(values.size + 5) == pytest.approx(values[-1], rel=RELATIVE_ACCURACY)


def test_interpolated_levels_read_nearer_the_samples_quantiles_than_the_buckets_middles(values):
    levels = [0.01, 0.25, 0.5, 0.9, 0.95, 0.99]
    exact = np.quantile(values, levels)
    sketch = QuantileSketch.of(values)
    interpolated, middles = np.array(sketch.interpolated_at_levels(levels)), np.array(sketch.quantiles(levels))
    assert np.all(np.abs(interpolated / exact - 1) < RELATIVE_ACCURACY / 3)
    assert np.abs(interpolated / exact - 1).mean() < np.abs(middles / exact - 1).mean() / 3


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
