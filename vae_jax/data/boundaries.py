"""Bucket boundaries for length-bucketed batching.

A boundary b is an upper bound on sequence length (words + </s>); a bucket
with boundary b is padded to b target positions. Its cost is what its
batches occupy: ceil(n / batch_size) * batch_size * b slots for n sequences,
so the padding counted includes the empty rows that fill its last batch.
"""

from typing import Sequence

import numpy as np


def _as_lengths(lengths: Sequence[int]) -> np.ndarray:
  lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
  if lengths.size == 0:
    raise ValueError('no sequence lengths to choose bucket boundaries from')
  if lengths.min() < 1:
    raise ValueError(f'sequence lengths must be >= 1, got {lengths.min()}')
  return lengths


def bucket_slots(lengths: Sequence[int], boundaries: Sequence[int], *,
                 batch_size: int = 1) -> int:
  """Target positions occupied by all batches, padding included.

  Args:
    lengths: <int>[N] sequence lengths.
    boundaries: increasing upper bounds; the last must be >= max(lengths).
    batch_size: rows per batch (the last batch of a bucket is filled).

  Returns:
    sum over buckets of ceil(n_b / batch_size) * batch_size * b.
  """
  lengths = _as_lengths(lengths)
  bounds = np.asarray(boundaries, dtype=np.int64)
  bucket = np.searchsorted(bounds, lengths, side='left')
  if bucket.max() >= len(bounds):
    raise ValueError(f'largest boundary {bounds[-1]} is below the longest '
                     f'sequence ({lengths.max()})')
  counts = np.bincount(bucket, minlength=len(bounds))
  rows = -(-counts // batch_size) * batch_size
  return int((rows * bounds).sum())


def quantile_boundaries(lengths: Sequence[int],
                        num_buckets: int) -> tuple[int, ...]:
  """Boundaries at equally spaced quantiles of the lengths (last = max)."""
  lengths = _as_lengths(lengths)
  qs = np.linspace(0.0, 1.0, num_buckets + 1)[1:]
  return tuple(int(b) for b in np.unique(
      np.quantile(lengths, qs, method='higher')))


def optimal_boundaries(lengths: Sequence[int], num_buckets: int, *,
                       batch_size: int = 1) -> tuple[int, ...]:
  """At most `num_buckets` boundaries minimising `bucket_slots` exactly.

  Dynamic programming over the U distinct lengths, O(num_buckets * U^2);
  only distinct lengths need be considered as boundaries, since lowering a
  boundary to the longest sequence in its bucket never adds padding.

  Args:
    lengths: <int>[N] sequence lengths.
    num_buckets: maximum number of buckets (fewer are used when that pads
      less, e.g. when there are fewer distinct lengths).
    batch_size: rows per batch.

  Returns:
    Increasing boundaries, the last equal to max(lengths).
  """
  if num_buckets < 1:
    raise ValueError(f'num_buckets must be >= 1, got {num_buckets}')
  values, counts = np.unique(_as_lengths(lengths), return_counts=True)
  n_values = len(values)
  cum = np.concatenate([[0], np.cumsum(counts)])

  def cost(j):  # Cost of buckets u[i..j] for every start i <= j: [j + 1].
    n = cum[j + 1] - cum[:j + 1]
    return -(-n // batch_size) * batch_size * values[j]

  k_max = min(num_buckets, n_values)
  best = np.full((k_max + 1, n_values), np.iinfo(np.int64).max // 4)
  start = np.zeros((k_max + 1, n_values), dtype=np.int64)
  for j in range(n_values):
    best[1, j] = cost(j)[0]
  for k in range(2, k_max + 1):
    for j in range(k - 1, n_values):
      # Last bucket is u[i..j] for i in [k-1, j]; the rest covers u[..i-1].
      total = best[k - 1, k - 2:j] + cost(j)[k - 1:]
      i = int(np.argmin(total))
      best[k, j], start[k, j] = total[i], i + k - 1
  k = int(np.argmin(best[1:, -1])) + 1
  bounds, j = [], n_values - 1
  while k >= 1:
    bounds.append(int(values[j]))
    j, k = start[k, j] - 1, k - 1
  return tuple(reversed(bounds))
