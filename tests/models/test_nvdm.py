"""NVDM: the loss against numpy, learning, perplexity and top words."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from vae_jax.models.nvdm import NVDM, document_perplexity, top_words
from vae_jax.train.doc_steps import doc_train_step
from vae_jax.train.state import TrainState, make_optimizer

COUNTS = np.array([[2, 0, 1, 0, 3, 0, 1], [0, 1, 0, 4, 0, 2, 0],
                   [0, 0, 0, 0, 0, 0, 0]], np.float32)  # last: padding row
FAST = {'xla_backend_optimization_level': 0}  # compile time only


def _np_terms(p, counts, z):
  """numpy -log p(x | z) and KL(q || N(0, I)) per document."""
  h = np.tanh(counts @ p['enc_0']['kernel'] + p['enc_0']['bias'])
  mu = h @ p['mean']['kernel'] + p['mean']['bias']
  log_var = h @ p['log_var']['kernel'] + p['log_var']['bias']
  logits = z @ p['decoder']['kernel'] + p['decoder']['bias']
  rec = -(counts * special.log_softmax(logits, axis=-1)).sum(-1)
  kl = 0.5 * (np.exp(log_var) + mu ** 2 - 1 - log_var).sum(-1)
  return mu, rec, kl


def test_loss_matches_numpy():
  model = NVDM(vocab_size=7, latent_dim=3, hidden=(5,))
  params = jax.jit(model.init, compiler_options=FAST)(
      {'params': jax.random.key(0), 'latent': jax.random.key(1)},
      COUNTS)['params']
  params = jax.tree.map(np.asarray, params)
  rng = np.random.default_rng(0)
  params['log_var']['kernel'] = rng.normal(0, 0.3, (5, 3)).astype(np.float32)
  z = rng.normal(size=(3, 3)).astype(np.float32)
  mu, rec, kl = _np_terms(params, COUNTS.astype(np.float64), z)
  terms = jax.jit(lambda p: (
      model.apply({'params': p}, z, COUNTS, method=NVDM.log_likelihood),
      model.apply({'params': p}, model.apply({'params': p}, COUNTS,
                                             method=NVDM.encode),
                  method=NVDM.kl)))
  ll, kl_jax = terms(params)
  np.testing.assert_allclose(-ll, rec, rtol=1e-5)
  np.testing.assert_allclose(kl_jax, kl, rtol=1e-5, atol=1e-6)
  # The one-sample loss: with a posterior std of e^-15, z is the mean.
  params['log_var']['bias'] = np.full(3, -30.0, np.float32)
  params['log_var']['kernel'] = np.zeros((5, 3), np.float32)
  out = jax.jit(lambda p: model.apply({'params': p}, COUNTS,
                                      rngs={'latent': jax.random.key(2)}))(
                                          params)
  mu, rec, kl = _np_terms(params, COUNTS.astype(np.float64), mu)
  np.testing.assert_allclose(out['rec'], rec, rtol=1e-5)
  np.testing.assert_allclose(out['kl'], kl, rtol=1e-5)
  assert out['rec'][2] == 0.0  # an empty document has no likelihood term


def test_a_few_steps_lower_the_loss():
  # Two "topics": documents use words 0-3 or words 4-7.
  rng = np.random.default_rng(0)
  topic = rng.integers(0, 2, 32)
  probs = np.where(np.arange(8)[None] // 4 == topic[:, None], 0.24, 0.01)
  counts = np.stack([rng.multinomial(20, p / p.sum()) for p in probs]
                    ).astype(np.float32)
  model = NVDM(vocab_size=8, latent_dim=2, hidden=(16,))
  tx = make_optimizer(name='adam', learning_rate=3e-2)
  params = jax.jit(model.init, compiler_options=FAST)(
      {'params': jax.random.key(0), 'latent': jax.random.key(1)},
      counts)['params']
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     opt_state=tx.init(params), rng=jax.random.key(3))
  step = jax.jit(functools.partial(doc_train_step, model=model, tx=tx),
                 compiler_options=FAST)
  losses = []
  for _ in range(40):
    state, m = step(state, {'counts': counts})
    losses.append(float(m['loss_sum'] / m['num_sentences']))
  assert m['num_sentences'] == 32 and m['num_tokens'] == 640
  # rec from about log(8) = 2.08 nats a word towards the entropy of a topic's
  # word distribution (1.55 nats), KL from its initial value towards log 2
  assert losses[0] > 50 and np.mean(losses[-5:]) < 0.65 * losses[0], losses


def test_document_perplexity_and_top_words():
  nll = np.array([10.0, 30.0, 5.0])
  words = np.array([5.0, 10.0, 0.0])  # the empty document is left out
  np.testing.assert_allclose(document_perplexity(nll, words),
                             np.exp((2.0 + 3.0) / 2), rtol=1e-12)
  kernel = np.array([[0.1, 0.9, -1.0, 0.5], [2.0, 0.0, 1.0, 3.0],
                     [0.0, 0.0, 0.0, 0.0]])
  assert top_words(kernel, ['a', 'b', 'c', 'd'], num_dims=2, num_words=2) == [
      ['b', 'd'], ['d', 'a']]


def test_evaluate_documents_order_and_bounds():
  from vae_jax.data.bow import bow_batches
  from vae_jax.train.doc_loop import heldout_summary
  from vae_jax.train.doc_steps import doc_eval_batch, evaluate_documents
  rng = np.random.default_rng(1)
  counts = rng.integers(0, 4, (7, 8)).astype(np.float32)
  model = NVDM(vocab_size=8, latent_dim=2, hidden=(6,))
  params = jax.jit(model.init, compiler_options=FAST)(
      {'params': jax.random.key(0), 'latent': jax.random.key(1)},
      counts)['params']
  params['log_var']['bias'] = jnp.full(2, -1.0)  # a non-trivial q
  eval_fn = jax.jit(functools.partial(doc_eval_batch, model=model,
                                      elbo_samples=10, iw_samples=200),
                    compiler_options=FAST)
  runs = [evaluate_documents(params, model, bow_batches(counts, b),
                             jax.random.key(5), eval_fn=eval_fn)
          for b in (3, 7)]
  for out in runs:
    assert out['kl'].shape == (7,)
    np.testing.assert_array_equal(out['num_words'], counts.sum(1))
    np.testing.assert_allclose(out['neg_elbo'], out['rec'] + out['kl'],
                               rtol=1e-6)
    assert np.mean(out['iw_nll']) < np.mean(out['neg_elbo'])
  # the KL needs no sample: same value for each document whatever the batch
  np.testing.assert_allclose(runs[0]['kl'], runs[1]['kl'], rtol=1e-5)
  summary = heldout_summary(runs[0])
  np.testing.assert_allclose(summary['ppl'], np.exp(np.mean(
      runs[0]['neg_elbo'] / counts.sum(1))), rtol=1e-6)
  assert summary['iw_ppl'] < summary['ppl'] and summary['num_docs'] == 7
