"""The Bernoulli mixture-prior hashing model and retrieval precision."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from vae_jax.diagnostics.retrieval import (hamming_distances, precision_at_k,
                                           random_projection_codes)
from vae_jax.models.hashing import (BernoulliMixtureHashing,
                                    component_posterior, mixture_prior_kl,
                                    mixture_prior_log_prob)

RNG = np.random.default_rng(0)
M, C = 3, 2
LOGITS_Q = RNG.normal(0, 1.5, (2, M)).astype(np.float32)       # [B, m]
Q_C = np.array([[0.3, 0.7], [0.9, 0.1]], np.float32)            # [B, C]
PRIOR = np.array([0.4, -0.2], np.float32)                        # [C]
GAMMA = RNG.normal(0, 1.5, (C, M)).astype(np.float32)           # [C, m]
CODES = np.array(list(itertools.product([0, 1], repeat=M)), np.float64)


def _np_log_bern(z, logits):  # z [N, m], logits [..., m] -> [..., N]
  p = special.expit(np.asarray(logits, np.float64))[..., None, :]
  return np.sum(np.where(z == 1, np.log(p), np.log1p(-p)), axis=-1)


def test_mixture_kl_matches_enumeration_over_codes_and_components():
  log_pi = special.log_softmax(PRIOR.astype(np.float64))
  log_pz_c = _np_log_bern(CODES, GAMMA)                     # [C, 8]
  expected = []
  for b in range(2):
    log_qz = _np_log_bern(CODES, LOGITS_Q[b])               # [8]
    log_q = np.log(Q_C[b])[:, None] + log_qz[None]          # [C, 8]
    log_p = log_pi[:, None] + log_pz_c
    expected.append(np.sum(np.exp(log_q) * (log_q - log_p)))
  for fn in (mixture_prior_kl, jax.jit(mixture_prior_kl)):
    np.testing.assert_allclose(fn(LOGITS_Q, Q_C, PRIOR, GAMMA), expected,
                               rtol=1e-5)
  # a point-mass q(c | x) is allowed (0 log 0 = 0)
  one_hot = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
  assert np.all(np.isfinite(mixture_prior_kl(LOGITS_Q, one_hot, PRIOR, GAMMA)))


def test_component_posterior_and_marginal_prior_match_enumeration():
  log_joint = (special.log_softmax(PRIOR.astype(np.float64))[:, None]
               + _np_log_bern(CODES, GAMMA))                # [C, 8]
  z = jnp.asarray(CODES, jnp.float32)
  np.testing.assert_allclose(mixture_prior_log_prob(z, PRIOR, GAMMA),
                             special.logsumexp(log_joint, axis=0), rtol=1e-5)
  np.testing.assert_allclose(np.exp(special.logsumexp(log_joint)), 1.0,
                             rtol=1e-6)
  np.testing.assert_allclose(component_posterior(z, PRIOR, GAMMA),
                             special.softmax(log_joint, axis=0).T, rtol=1e-5)


def test_precision_at_k_by_hand():
  db = np.array([[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1], [0, 1, 0]])
  db_labels = np.array([0, 0, 1, 1, 0])
  queries = np.array([[0, 0, 0], [1, 1, 1]])
  np.testing.assert_array_equal(hamming_distances(queries, db),
                                [[0, 1, 2, 3, 1], [3, 2, 1, 0, 2]])
  # query 0 (label 0): nearest 3 = distances 0, 1, 1 -> labels 0, 0, 0;
  # query 1 (label 1): distances 0, 1 -> labels 1, 1, then a tie at 2
  # between db 1 and db 4 (both label 0): 2 of 3 whatever the tie-break.
  assert precision_at_k(queries, [0, 1], db, db_labels, k=3) == (1 + 2 / 3) / 2
  # k = 1: both exact matches
  assert precision_at_k(queries, [0, 1], db, db_labels, k=1) == 1.0
  # ties: query [0, 0, 0] against 4 equidistant items, 2 of each label;
  # the seed decides which 2 come first, and over seeds the mean is 1/2.
  tied = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
  values = [precision_at_k(queries[:1], [0], tied, [0, 1, 0, 1], k=2, seed=s)
            for s in range(200)]
  assert set(values) <= {0.0, 0.5, 1.0} and abs(np.mean(values) - 0.5) < 0.06


def test_random_projection_codes_are_sign_lsh():
  x = RNG.normal(size=(5, 20)).astype(np.float32)
  codes = random_projection_codes(np.concatenate([x, -x, 3 * x]), 64, seed=1)
  np.testing.assert_array_equal(codes[5:10], 1 - codes[:5])  # opposite
  np.testing.assert_array_equal(codes[10:], codes[:5])       # scale-free
  assert codes.dtype == np.int8 and codes.shape == (15, 64)


def test_model_terms_and_straight_through_gradient():
  counts = jnp.asarray(RNG.integers(0, 3, (4, 12)), jnp.float32)
  model = BernoulliMixtureHashing(vocab_size=12, num_bits=M,
                                  num_components=C, hidden=(8,))
  fast = {'xla_backend_optimization_level': 0}  # compile time only
  params = jax.jit(model.init, compiler_options=fast)(
      {'params': jax.random.key(0), 'latent': jax.random.key(1)},
      counts)['params']

  @functools.partial(jax.jit, compiler_options=fast)
  def run(params):
    def loss(p):
      out = model.apply({'params': p}, counts,
                        rngs={'latent': jax.random.key(2)})
      return jnp.sum(out['rec'] + out['kl']), out
    grads, out = jax.grad(loss, has_aux=True)(params)
    post = model.apply({'params': params}, counts, method=model.encode)
    return grads, out, post, model.apply({'params': params}, counts,
                                         method=model.hash_codes)

  grads, out, post, codes = run(params)
  assert out['rec'].shape == out['kl'].shape == (4,)
  assert np.all(out['rec'] > 0) and np.all(out['kl'] > 0)
  np.testing.assert_array_equal(codes, np.asarray(post.logits) > 0)
  # the straight-through sample passes gradients to the encoder and the
  # KL's q(c | z) passes them to the prior's parameters
  for name in ('code', 'enc_0'):
    assert np.abs(grads[name]['kernel']).max() > 1e-4
  assert np.abs(grads['gamma_logits']).max() > 1e-4
  assert np.abs(grads['log_noise']['kernel']).max() > 0  # noise is trained
