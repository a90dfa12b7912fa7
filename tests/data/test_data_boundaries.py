"""Tests for vae_jax.data.boundaries: exact DP against brute force."""

import itertools

import numpy as np
import pytest

from vae_jax.data import boundaries as boundaries_lib


def _brute_force(lengths, num_buckets, batch_size):
  values = sorted(set(lengths))
  best = None
  for k in range(1, num_buckets + 1):
    for inner in itertools.combinations(values[:-1], k - 1):
      bounds = inner + (values[-1],)
      cost = boundaries_lib.bucket_slots(lengths, bounds,
                                         batch_size=batch_size)
      best = cost if best is None else min(best, cost)
  return best


@pytest.mark.parametrize('seed,num_buckets,batch_size', [
    (0, 1, 1), (1, 2, 1), (2, 3, 4), (3, 4, 3), (4, 6, 8)])
def test_optimal_boundaries_match_brute_force(seed, num_buckets, batch_size):
  lengths = np.random.default_rng(seed).integers(1, 14, size=40).tolist()
  bounds = boundaries_lib.optimal_boundaries(lengths, num_buckets,
                                             batch_size=batch_size)
  assert bounds[-1] == max(lengths)
  assert len(bounds) <= num_buckets
  assert list(bounds) == sorted(set(bounds))
  slots = boundaries_lib.bucket_slots(lengths, bounds, batch_size=batch_size)
  assert slots == _brute_force(lengths, num_buckets, batch_size)


def test_bucket_slots_by_hand():
  # Buckets <=3: [2, 3, 3] -> 2 batches of 2 rows * 3; <=5: [5] -> 1 * 2 * 5.
  assert boundaries_lib.bucket_slots([2, 3, 3, 5], (3, 5), batch_size=2) == 22
  assert boundaries_lib.bucket_slots([2, 3, 3, 5], (5,), batch_size=2) == 20
  with pytest.raises(ValueError, match='below the longest'):
    boundaries_lib.bucket_slots([2, 9], (3, 5))


def test_few_distinct_lengths_and_quantiles():
  assert boundaries_lib.optimal_boundaries([4, 4, 7], 6) == (4, 7)
  assert boundaries_lib.optimal_boundaries([5] * 10, 3) == (5,)
  # The median of 1..4 (2.5) rounded up to a length present.
  assert boundaries_lib.quantile_boundaries([1, 2, 3, 4], 2) == (3, 4)
  with pytest.raises(ValueError, match='>= 1'):
    boundaries_lib.optimal_boundaries([0, 3], 2)


def test_dp_pads_no_more_than_quantiles_on_ptb(ptb_train_sequences):
  lengths = [len(s) for s in ptb_train_sequences]
  for num_buckets in (3, 6):
    dp = boundaries_lib.optimal_boundaries(lengths, num_buckets, batch_size=32)
    quantile = boundaries_lib.quantile_boundaries(lengths, num_buckets)
    dp_slots = boundaries_lib.bucket_slots(lengths, dp, batch_size=32)
    q_slots = boundaries_lib.bucket_slots(lengths, quantile, batch_size=32)
    assert dp[-1] == quantile[-1] == 83
    assert dp_slots <= q_slots
  # With 6 buckets: 15.7% padding (DP) against 27.7% (quantiles).
  assert dp == (14, 21, 27, 35, 46, 83)
  assert 1 - sum(lengths) / dp_slots == pytest.approx(0.1568, abs=1e-4)
  assert 1 - sum(lengths) / q_slots == pytest.approx(0.2772, abs=1e-4)
