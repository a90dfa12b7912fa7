"""Length-bucketed, padded, fixed-shape batches.

Sequences are <int32>[n + 1]: n word ids then </s> (see `encode_split`), so
a sequence's length counts the tokens a decoder predicts. A bucket with
boundary b holds sequences of length <= b and yields batches

  'ids':    <int32>[batch_size, b + 1]  <s> w1 .. wn </s> <pad> ...
  'length': <int32>[batch_size]         n + 1; 0 for padding rows
  'index':  <int32>[batch_size]         position in `sequences`; -1 for padding

so inputs are ids[:, :-1], targets ids[:, 1:] and the target mask is
arange(b) < length[:, None]. Every batch has exactly batch_size rows (the
last batch of a bucket is filled with padding rows: <s> then <pad>), so the
only shapes are (batch_size, b + 1), one per boundary.
"""

from typing import Sequence

import numpy as np

from vae_jax.data import boundaries as boundaries_lib
from vae_jax.data.errors import DataError

Batch = dict[str, np.ndarray]


class BucketedBatcher:
  """Groups sequences of similar length into padded fixed-shape batches."""

  def __init__(self, sequences: list[np.ndarray], *, batch_size: int,
               num_buckets: int = 6, boundaries: Sequence[int] | None = None,
               pad_id: int = 0, bos_id: int = 1):
    """Builds the buckets.

    Args:
      sequences: <int32>[n_i + 1] per sentence: word ids then </s>.
      batch_size: rows per batch.
      num_buckets: at most this many buckets when `boundaries` is None; the
        boundaries are then chosen to minimise padding (dynamic programming,
        see `boundaries.optimal_boundaries`).
      boundaries: increasing upper bounds on len(sequence); the last must be
        >= the longest sequence.
      pad_id: id that fills positions after </s>.
      bos_id: id put in column 0 of every row.

    Raises:
      DataError: no sequences, an empty sequence, or a sequence longer than
        the last boundary.
    """
    if batch_size < 1:
      raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if not sequences:
      raise DataError('BucketedBatcher got no sequences: the split is empty')
    lengths = np.fromiter(map(len, sequences), dtype=np.int64,
                          count=len(sequences))
    if lengths.min() < 1:
      raise DataError(f'sequence {int(np.argmin(lengths))} is empty: every '
                      'sequence ends with </s> (use encode_split)')
    if boundaries is None:
      boundaries = boundaries_lib.optimal_boundaries(
          lengths, num_buckets, batch_size=batch_size)
    boundaries = tuple(int(b) for b in boundaries)
    if not boundaries or any(a >= b for a, b in zip(boundaries,
                                                   boundaries[1:])):
      raise ValueError(f'boundaries must be strictly increasing and non-empty,'
                       f' got {boundaries}')
    if lengths.max() > boundaries[-1]:
      i = int(np.argmax(lengths))
      raise DataError(
          f'sequence {i} has length {lengths[i]}, more than the largest '
          f'bucket boundary {boundaries[-1]}: raise the boundaries or '
          'truncate with encode_split(max_length=...)')
    self._batch_size = batch_size
    self._boundaries = boundaries
    self._pad_id, self._bos_id = pad_id, bos_id
    self._lengths = lengths
    bucket_of = np.searchsorted(np.asarray(boundaries), lengths, side='left')
    # Per non-empty bucket: members (sorted by length, stable) and their
    # rows, padded once here so that a batch is a single gather.
    self._buckets = []
    for b, bound in enumerate(boundaries):
      members = np.flatnonzero(bucket_of == b)
      if members.size == 0:
        continue
      members = members[np.argsort(lengths[members], kind='stable')]
      rows = np.full((members.size + 1, bound + 1), pad_id, dtype=np.int32)
      rows[:, 0] = bos_id  # The extra last row is the padding row.
      for r, i in enumerate(members.tolist()):
        rows[r, 1:lengths[i] + 1] = sequences[i]
      self._buckets.append((members.astype(np.int32), rows))

  @property
  def boundaries(self) -> tuple[int, ...]:
    return self._boundaries

  @property
  def shapes(self) -> set[tuple[int, int]]:
    """The (batch_size, b + 1) shapes of the batches produced."""
    return {(self._batch_size, rows.shape[1]) for _, rows in self._buckets}

  @property
  def num_sequences(self) -> int:
    return len(self._lengths)

  @property
  def num_tokens(self) -> int:
    """Real predicted tokens (</s> included, <s> and padding not)."""
    return int(self._lengths.sum())

  @property
  def num_batches(self) -> int:
    """Batches in one epoch of one shard (num_shards=1)."""
    return sum(-(-m.size // self._batch_size) for m, _ in self._buckets)

  @property
  def padding_fraction(self) -> float:
    """Fraction of target positions (batch_size * b a batch) that are pad."""
    slots = sum(-(-m.size // self._batch_size) * self._batch_size
                * (rows.shape[1] - 1) for m, rows in self._buckets)
    return 1.0 - self.num_tokens / slots

  def _batch(self, bucket: int, chunk: np.ndarray) -> Batch:
    """Rows `chunk` (positions in the bucket, -1 = padding) as a batch."""
    members, rows = self._buckets[bucket]
    real = chunk >= 0
    index = np.where(real, members[chunk], -1).astype(np.int32)
    length = np.where(real, self._lengths[index], 0).astype(np.int32)
    return {'ids': rows[chunk], 'length': length, 'index': index}

  def epoch(self, seed: int, epoch: int, *, shuffle: bool = True,
            shard_index: int = 0, num_shards: int = 1,
            drop_remainder: bool = True) -> list[Batch]:
    """The batches of one epoch, deterministic in (seed, epoch).

    With shuffle, sentences are shuffled within each bucket, cut into
    batches, and the batch order is shuffled across buckets; without, buckets
    come in boundary order and sentences sorted by length (stable).

    With num_shards > 1 the global order is built from groups of num_shards
    consecutive batches of one bucket, and shard s takes batch s of every
    group, so all shards see the same shape at the same step (as SPMD needs)
    and the same number of batches. A bucket's last incomplete group is
    dropped (drop_remainder=True; so a bucket with fewer than
    num_shards * batch_size sentences is skipped that epoch), or completed
    with batches of padding rows (drop_remainder=False: every sentence is
    seen once, as evaluation needs).

    Args:
      seed: data seed.
      epoch: epoch number.
      shuffle: shuffle (training) or a fixed sorted order (evaluation).
      shard_index: this process's shard, in [0, num_shards).
      num_shards: number of processes sharing the epoch.
      drop_remainder: see above; ignored when num_shards == 1.

    Returns:
      Batches, each {'ids', 'length', 'index'} as in the module docstring.
    """
    if not 0 <= shard_index < num_shards:
      raise ValueError(f'shard_index {shard_index} is not in [0, {num_shards})')
    rng = np.random.default_rng([seed, epoch]) if shuffle else None
    groups = []  # (bucket, <int>[num_shards, batch_size] row positions).
    group_rows = num_shards * self._batch_size
    for bucket, (members, _) in enumerate(self._buckets):
      order = np.arange(members.size)
      if shuffle:
        order = rng.permutation(order)
      if num_shards == 1 or not drop_remainder:
        order = np.pad(order, (0, -order.size % group_rows),
                       constant_values=-1)
      else:
        order = order[:order.size - order.size % group_rows]
      groups.extend((bucket, g) for g in
                    order.reshape(-1, num_shards, self._batch_size))
    if shuffle:
      groups = [groups[i] for i in rng.permutation(len(groups))]
    return [self._batch(bucket, g[shard_index]) for bucket, g in groups]
