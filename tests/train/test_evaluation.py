"""IW-NLL over a split: its own batches, the per-shape chunk within a memory
budget."""

import jax
import numpy as np
import pytest

from experiments.configs import default
from vae_jax.data import BucketedBatcher
from vae_jax.models import build_model
from vae_jax.train import evaluation, iw_resume


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


def _tiny_vae_and_sentences():
  """An untrained smoke-size VAE, 40 sentences of 1 to 29 words, batches of 8."""
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
  return model, params, seqs, batcher


def test_iw_nll_split_does_not_depend_on_the_memory_budget():
  model, params, _, batcher = _tiny_vae_and_sentences()
  calls = []
  batches = batcher.epoch(0, 0, shuffle=False)
  run = lambda chunk, mb: evaluation.iw_nll_split(
      params, model, batches, jax.random.key(3), num_samples=12,
      chunk_size=chunk, memory_mb=mb,
      progress=lambda *args: calls.append(args))
  # Decoder state 32, batch 8: 0.3 MiB hold 6 samples of the short bucket
  # (19 positions) and 4 of the long one (30).
  tight = run(12, 0.3)
  assert sorted(tight['chunks'].values()) == [4, 6], tight['chunks']
  free = run(6, 0)  # (the short bucket's compiled step is reused)
  assert set(free['chunks'].values()) == {6}
  np.testing.assert_allclose(tight['per_sentence'], free['per_sentence'],
                             rtol=1e-5)
  assert free['num_sentences'] == 40
  # Progress: after each batch, the share of the tokens scored (the work),
  # not of the batches (the long bucket's batches come last and cost more).
  tokens = [int(b['length'].sum()) for b in batches]
  n = len(tokens)
  want = [(i + 1, n, sum(tokens[:i + 1]) / sum(tokens)) for i in range(n)]
  assert calls == want + want
  assert want[n // 2 - 1][2] < 0.4  # half the batches, under 40 % of the work


def test_iw_batcher_pads_less_and_keeps_every_sentence_once():
  rng = np.random.default_rng(0)
  # PTB-like lengths: 3,761 sentences, mean ~22 tokens, a long tail.
  lengths = np.clip(rng.gamma(4.0, 5.5, 3761).astype(int) + 1, 1, 80)
  seqs = [np.full(n, 5, np.int32) for n in lengths]
  plain = BucketedBatcher(seqs, batch_size=64, num_buckets=6)
  iw_b = evaluation.iw_batcher(seqs, batch_size=20, num_buckets=16)
  assert len(iw_b.shapes) == 16
  assert iw_b.padding_fraction < 0.6 * plain.padding_fraction
  seen = np.concatenate([b['index'][b['length'] > 0]
                         for b in iw_b.epoch(0, 0, shuffle=False)])
  np.testing.assert_array_equal(np.sort(seen), np.arange(len(seqs)))
  # Sharded evaluation: rows rounded up to a multiple of the devices.
  sharded = evaluation.iw_batcher(seqs, batch_size=20, num_buckets=4,
                                  rows_multiple_of=8)
  assert {rows for rows, _ in sharded.shapes} == {24}


def test_iw_nll_split_per_sentence_values_follow_the_sentences():
  """Other batches (sizes, buckets) score each sentence alike.

  The samples differ with the batching, so values agree up to Monte Carlo
  noise, which is small here next to the spread between sentences (the
  NLL grows with the length, 1 to 29 words)."""
  model, params, seqs, a = _tiny_vae_and_sentences()
  b = evaluation.iw_batcher(seqs, batch_size=3, num_buckets=2)
  run = lambda batcher: evaluation.iw_nll_split(
      params, model, batcher.epoch(0, 0, shuffle=False), jax.random.key(3),
      num_samples=12, chunk_size=12)
  ra, rb = run(a), run(b)
  va, vb = np.array(ra['per_sentence']), np.array(rb['per_sentence'])
  assert ra['num_tokens'] == rb['num_tokens'] == sum(len(s) for s in seqs)
  assert va.std() > 20
  np.testing.assert_allclose(va, vb, atol=0.05)


def test_an_interrupted_iw_evaluation_goes_on_exactly(tmp_path):
  model, params, _, batcher = _tiny_vae_and_sentences()
  batches = batcher.epoch(0, 0, shuffle=False)
  key = {'step': 7, 'iw_samples': 12,
         'batches': iw_resume.batches_fingerprint(batches)}
  run = lambda **kw: evaluation.iw_nll_split(
      params, model, batches, jax.random.key(3), num_samples=12,
      chunk_size=12, **kw)
  full = run()
  # stopped after 2 of the batches: their values are in the file
  partial = iw_resume.PartialIW(str(tmp_path / 'p.json'), key)

  def save_then_stop(i, values):
    partial.save(i, values)
    if len(partial.done) == 2:
      raise KeyboardInterrupt('simulated stop')

  with pytest.raises(KeyboardInterrupt):
    run(on_batch=save_then_stop)
  again = iw_resume.PartialIW(str(tmp_path / 'p.json'), key)
  completed = again.load()
  assert sorted(completed) == [0, 1] and again.ignored is None
  computed = []
  resumed = run(completed=completed,
                on_batch=lambda i, v: computed.append(i))
  assert computed == list(range(2, len(batches)))   # the rest only
  assert resumed['per_sentence'] == full['per_sentence']   # exactly
  assert resumed['iw_nll'] == full['iw_nll']
  # another evaluation (other K) does not take these values
  other = iw_resume.PartialIW(str(tmp_path / 'p.json'),
                              dict(key, iw_samples=500))
  assert other.load() == {} and other.ignored == 'written for another evaluation'
  # nor another batching of the sentences
  assert iw_resume.batches_fingerprint(
      evaluation.iw_batcher(_tiny_vae_and_sentences()[2], batch_size=3,
                            num_buckets=2).epoch(0, 0, shuffle=False)
  ) != key['batches']
  again.remove()
  assert not (tmp_path / 'p.json').exists()


def test_a_learned_vmf_concentration_is_summarised():
  from vae_jax.distributions import DiagGaussianPosterior, VMFPosterior
  mu = np.tile(np.eye(4, dtype=np.float32)[:1], (11, 1))
  kappa = np.array([1.5, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144], np.float32)
  got = evaluation.concentration_summary(VMFPosterior(mu, kappa))
  assert set(got) == {'kappa_mean', 'kappa_p10', 'kappa_p90'}
  np.testing.assert_allclose(got['kappa_mean'], kappa.mean(), rtol=1e-6)
  # numpy's linear interpolation: the 10th percentile of 11 sorted values
  # is the second, the 90th the tenth
  assert (got['kappa_p10'], got['kappa_p90']) == (2.0, 89.0)
  diag = evaluation.latent_diagnostics(VMFPosterior(mu, kappa),
                                       jax.random.key(0), learned_kappa=True)
  assert set(diag) == {'mi', 'au', 'kappa_mean', 'kappa_p10', 'kappa_p90'}
  assert diag['kappa_p90'] == 89.0
  # a learned kappa at its floor, equal for every sentence (a collapsed
  # run), is still reported; a fixed one (the config's value) is not
  floor = VMFPosterior(mu, np.ones(11, np.float32))
  assert evaluation.latent_diagnostics(
      floor, jax.random.key(0), learned_kappa=True)['kappa_p90'] == 1.0
  assert set(evaluation.latent_diagnostics(floor, jax.random.key(0))) == {
      'mi', 'au'}
  assert evaluation.concentration_summary(DiagGaussianPosterior(
      np.zeros((11, 4), np.float32), np.zeros((11, 4), np.float32))) == {}
