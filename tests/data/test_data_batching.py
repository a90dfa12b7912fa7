"""Tests for vae_jax.data.batching.BucketedBatcher."""

import numpy as np
import pytest

from vae_jax.data import BucketedBatcher, DataError

PAD, BOS = 0, 1


def _sequences(n=103, seed=0, max_words=30):
  rng = np.random.default_rng(seed)
  return [np.append(rng.integers(4, 50, size=k), 2).astype(np.int32)
          for k in rng.integers(0, max_words, size=n)]


def _check_batches(batches, batcher, sequences, batch_size):
  """Checks every batch's layout; returns the real indices seen, in order."""
  seen = []
  for batch in batches:
    ids, length, index = batch['ids'], batch['length'], batch['index']
    assert ids.dtype == length.dtype == index.dtype == np.int32
    assert ids.shape in batcher.shapes and ids.shape[0] == batch_size
    assert length.shape == index.shape == (batch_size,)
    assert (ids[:, 0] == BOS).all()
    for row, (n, i) in enumerate(zip(length.tolist(), index.tolist())):
      if i < 0:
        assert n == 0 and (ids[row, 1:] == PAD).all()
        continue
      assert n == len(sequences[i]) <= ids.shape[1] - 1
      np.testing.assert_array_equal(ids[row, 1:n + 1], sequences[i])
      assert (ids[row, n + 1:] == PAD).all()
      seen.append(i)
  return seen


def test_epoch_covers_every_sentence_once_with_fixed_shapes():
  sequences = _sequences()
  batcher = BucketedBatcher(sequences, batch_size=8, num_buckets=4)
  batches = batcher.epoch(seed=0, epoch=0)
  seen = _check_batches(batches, batcher, sequences, 8)
  assert sorted(seen) == list(range(len(sequences)))
  assert len(batches) == batcher.num_batches
  assert batcher.num_sequences == 103
  assert len(batcher.boundaries) <= 4
  assert batcher.boundaries[-1] == max(map(len, sequences))
  assert batcher.shapes == {(8, b + 1) for b in batcher.boundaries}
  assert {b['ids'].shape for b in batches} == batcher.shapes
  total = sum(int(b['length'].sum()) for b in batches)
  assert total == batcher.num_tokens == sum(map(len, sequences))
  slots = sum(b['ids'].shape[0] * (b['ids'].shape[1] - 1) for b in batches)
  assert batcher.padding_fraction == pytest.approx(1 - total / slots)


def test_padding_rows_fill_each_bucket_to_batch_size():
  sequences = [np.array([5, 2], np.int32)] * 3 + [
      np.array([5, 6, 7, 2], np.int32)] * 5
  batcher = BucketedBatcher(sequences, batch_size=4, boundaries=(2, 4))
  batches = batcher.epoch(0, 0, shuffle=False)
  assert [b['ids'].shape for b in batches] == [(4, 3), (4, 5), (4, 5)]
  np.testing.assert_array_equal(batches[0]['ids'], [[1, 5, 2], [1, 5, 2],
                                                   [1, 5, 2], [1, 0, 0]])
  np.testing.assert_array_equal(batches[0]['length'], [2, 2, 2, 0])
  np.testing.assert_array_equal(batches[0]['index'], [0, 1, 2, -1])
  np.testing.assert_array_equal(batches[2]['length'], [4, 0, 0, 0])
  np.testing.assert_array_equal(batches[2]['index'], [7, -1, -1, -1])
  assert batcher.num_tokens == 26
  # Target slots: 1 * 4 * 2 + 2 * 4 * 4 = 40.
  assert batcher.padding_fraction == pytest.approx(1 - 26 / 40)


def test_determinism_and_variation():
  sequences = _sequences()
  batcher = BucketedBatcher(sequences, batch_size=8)

  def order(seed, epoch, **kw):
    return [b['index'].tolist() for b in batcher.epoch(seed, epoch, **kw)]
  assert order(1, 3) == order(1, 3)
  assert order(1, 3) != order(1, 4)
  assert order(1, 3) != order(2, 3)
  assert order(1, 3, shuffle=False) == order(5, 9, shuffle=False)
  # Unshuffled: buckets in boundary order, sorted by length within.
  lengths = [len(sequences[i]) for batch in order(0, 0, shuffle=False)
             for i in batch if i >= 0]
  assert lengths == sorted(lengths)


@pytest.mark.parametrize('shuffle', [True, False])
def test_shards_partition_the_global_order(shuffle):
  sequences = _sequences(n=211)
  batcher = BucketedBatcher(sequences, batch_size=4, num_buckets=3)
  whole = batcher.epoch(7, 2, shuffle=shuffle)
  assert len(whole) == batcher.num_batches
  shards = [batcher.epoch(7, 2, shuffle=shuffle, shard_index=s, num_shards=3)
            for s in range(3)]
  assert len({len(s) for s in shards}) == 1
  for step in range(len(shards[0])):
    # Same shape on every shard at every step (SPMD needs it).
    assert len({s[step]['ids'].shape for s in shards}) == 1
  seen = [i for s in shards for b in s for i in b['index'].tolist() if i >= 0]
  assert len(seen) == len(set(seen))
  # Dropped: at most one incomplete group (3 shards * 4 rows) per bucket.
  assert len(sequences) - len(seen) < 12 * len(batcher.boundaries)
  # drop_remainder=False: every sentence exactly once, equal counts per shard.
  shards = [batcher.epoch(7, 2, shuffle=shuffle, shard_index=s, num_shards=3,
                          drop_remainder=False) for s in range(3)]
  assert len({len(s) for s in shards}) == 1
  seen = [i for s in shards
          for i in _check_batches(s, batcher, sequences, 4)]
  assert sorted(seen) == list(range(len(sequences)))


def test_invalid_inputs():
  with pytest.raises(DataError, match='no sequences'):
    BucketedBatcher([], batch_size=2)
  with pytest.raises(DataError, match='sequence 1 is empty'):
    BucketedBatcher([np.array([2]), np.array([], np.int32)], batch_size=2)
  with pytest.raises(DataError, match='sequence 0 has length 3, more than '
                     'the largest bucket boundary 2'):
    BucketedBatcher([np.array([4, 4, 2])], batch_size=2, boundaries=(1, 2))
  with pytest.raises(ValueError, match='strictly increasing'):
    BucketedBatcher([np.array([2])], batch_size=2, boundaries=(3, 3))
  with pytest.raises(ValueError, match='shard_index 2 is not in'):
    BucketedBatcher([np.array([2])], batch_size=2).epoch(0, 0, shard_index=2,
                                                          num_shards=2)


def test_ptb_epoch(ptb_train_sequences):
  batcher = BucketedBatcher(ptb_train_sequences, batch_size=32)
  assert batcher.boundaries == (14, 21, 27, 35, 46, 83)
  assert batcher.num_tokens == 929589
  assert batcher.num_batches == 1317
  assert batcher.padding_fraction == pytest.approx(0.1568, abs=1e-4)
  batches = batcher.epoch(0, 0)
  assert sum(int(b['length'].sum()) for b in batches) == 929589
  index = np.concatenate([b['index'] for b in batches])
  assert np.array_equal(np.sort(index[index >= 0]), np.arange(42068))
  assert {b['ids'].shape for b in batches} == {
      (32, 15), (32, 22), (32, 28), (32, 36), (32, 47), (32, 84)}
