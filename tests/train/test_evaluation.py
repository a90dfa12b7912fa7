"""IW-NLL over a split: the per-shape chunk within a memory budget."""

import jax
import numpy as np
import pytest

from experiments.configs import default
from vae_jax.data import BucketedBatcher
from vae_jax.models import build_model
from vae_jax.train import evaluation


@pytest.mark.parametrize('args, memory_mb, want', [
    ((500, 50, 50, 83, 256), 0, 50),      # no budget: the largest chunk
    ((500, 50, 50, 83, 256), 200, 19),    # 200 MiB / 10.6 MB a sample = 19,
                                          # 27 chunks of 19
    ((500, 50, 50, 20, 256), 256, 50),    # short bucket: the budget allows 104
    ((500, 50, 50, 83, 256), 1, 1),       # never below 1
    ((30, 50, 50, 20, 256), 0, 30),       # never above K
    ((100, 40, 50, 20, 256), 0, 34),      # 3 chunks of 34, not 40 + 40 + 20
])
def test_iw_chunk_size(args, memory_mb, want):
  assert evaluation.iw_chunk_size(*args, memory_mb=memory_mb) == want


def test_iw_nll_split_does_not_depend_on_the_memory_budget():
  config = default.smoke(default.get_config())
  vocab = 40
  model = build_model(config.model, vocab)
  rng = np.random.default_rng(0)
  seqs = [np.append(rng.integers(4, vocab, n), 2).astype(np.int32)
          for n in rng.integers(1, 30, 40)]
  batcher = BucketedBatcher(seqs, batch_size=8, num_buckets=2)
  ids = batcher.epoch(0, 0, shuffle=False)[0]
  params = model.init({'params': jax.random.key(0),
                       'latent': jax.random.key(1),
                       'dropout': jax.random.key(2)},
                      ids['ids'], ids['length'])['params']
  run = lambda chunk, mb: evaluation.iw_nll_split(
      params, model, batcher, jax.random.key(3), num_samples=12,
      chunk_size=chunk, memory_mb=mb)
  # Decoder state 32, batch 8: 0.3 MiB hold 6 samples of the short bucket
  # (19 positions) and 4 of the long one (30).
  tight = run(12, 0.3)
  assert sorted(tight['chunks'].values()) == [4, 6], tight['chunks']
  free = run(6, 0)  # (the short bucket's compiled step is reused)
  assert set(free['chunks'].values()) == {6}
  np.testing.assert_allclose(tight['per_sentence'], free['per_sentence'],
                             rtol=1e-5)
  assert free['num_sentences'] == 40
