"""Tests for vae_jax.diagnostics.iw.importance_weighted_nll."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from vae_jax import objectives
from vae_jax.diagnostics import iw
from vae_jax.distributions import gaussian

# Linear-Gaussian model with exact log p(x): z ~ N(0, I_2),
# x | z ~ N(W z + b, sigma^2 I_3), p(x) = N(b, W W^T + sigma^2 I).
W = np.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]])
B = np.array([0.1, -0.2, 0.3])
SIGMA = 0.5
X = np.array([[0.5, 1.0, -0.4], [-1.2, 0.3, 0.9], [2.0, -1.0, -1.5]])
LOG_PX = stats.multivariate_normal(B, W @ W.T + SIGMA**2 * np.eye(3)).logpdf(X)
_POST_COV = np.linalg.inv(np.eye(2) + W.T @ W / SIGMA**2)
_POST_MEAN = (X - B) @ W @ _POST_COV / SIGMA**2
# Imperfect q: shifted mean, inflated diagonal variance.
POSTERIOR = gaussian.DiagGaussianPosterior(
    loc=jnp.asarray(_POST_MEAN + 0.3, jnp.float32),
    log_var=jnp.asarray(np.tile(np.log(1.5 * np.diag(_POST_COV)), (3, 1)),
                        jnp.float32))


def log_px_z(z):  # [S, B, 2] -> [S, B]
  mean = z @ jnp.asarray(W.T, jnp.float32) + jnp.asarray(B, jnp.float32)
  return gaussian.gaussian_log_prob(jnp.asarray(X, jnp.float32), mean,
                                    np.float32(2 * np.log(SIGMA)))


@functools.partial(jax.jit, static_argnames=('num_samples', 'chunk_size'))
def iw_nll(posterior, key, num_samples, chunk_size):
  return iw.importance_weighted_nll(log_px_z, posterior, key,
                                    num_samples=num_samples,
                                    chunk_size=chunk_size)


def test_chunking_does_not_change_the_result():
  key = jax.random.key(0)
  full = iw_nll(POSTERIOR, key, 50, 50)
  assert full.shape == (3,)
  for chunk_size in (7, 64):  # a partial last chunk; a chunk beyond K
    np.testing.assert_allclose(iw_nll(POSTERIOR, key, 50, chunk_size), full,
                               rtol=1e-5)


def test_equals_minus_iw_bound_on_its_samples():
  key, k = jax.random.key(1), 50
  z = jax.vmap(lambda sub: POSTERIOR.sample(sub, 1)[0])(
      jax.random.split(key, k))  # [K, B, D]
  bound = objectives.iw_log_likelihood(log_px_z(z), POSTERIOR.prior_log_prob(z),
                                       POSTERIOR.log_prob(z))
  np.testing.assert_allclose(iw_nll(POSTERIOR, key, k, 7), -bound, rtol=1e-5)


def test_one_sample_is_minus_the_elbo():
  key = jax.random.key(2)
  z = POSTERIOR.sample(jax.random.split(key, 1)[0], 1)
  mc_elbo = objectives.elbo(
      log_px_z(z)[0], (POSTERIOR.log_prob(z) - POSTERIOR.prior_log_prob(z))[0])
  np.testing.assert_allclose(iw_nll(POSTERIOR, key, 1, 1), -mc_elbo,
                             rtol=1e-5)


def test_5000_samples_recover_exact_nll():
  nll = iw_nll(POSTERIOR, jax.random.key(3), 5000, 1000)
  np.testing.assert_allclose(nll, -LOG_PX, atol=0.06)
