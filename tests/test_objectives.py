"""Tests for vae_jax.objectives: hand-computed values, IW bound, free bits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from vae_jax import objectives
from vae_jax.distributions import gaussian


def _maybe_jit(fn, use_jit, **static):
  return jax.jit(fn, **static) if use_jit else fn


# ---------------------------------------------------------------------------
# Elementary terms.


@pytest.mark.parametrize('use_jit', [False, True])
def test_log_mean_exp(use_jit):
  fn = _maybe_jit(objectives.log_mean_exp, use_jit, static_argnames='axis')
  np.testing.assert_allclose(fn(jnp.log(jnp.array([1.0, 2.0, 3.0, 6.0]))),
                             np.log(3.0), rtol=1e-6)
  x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32) * 50
  np.testing.assert_allclose(fn(x, axis=1),
                             special.logsumexp(x, axis=1) - np.log(4),
                             rtol=1e-5)
  # Stable far outside exp's range.
  np.testing.assert_allclose(fn(jnp.array([1000.0, 1000.0])), 1000.0)


@pytest.mark.parametrize('use_jit', [False, True])
def test_iw_log_likelihood_hand_computed(use_jit):
  fn = _maybe_jit(objectives.iw_log_likelihood, use_jit)
  # w = [[1, 3], [2, 5]] (K = 2 rows) -> L = [log(3/2), log(4)].
  log_px_z = np.log([[2.0, 6.0], [4.0, 5.0]])
  log_pz = np.log([[0.5, 1.0], [1.0, 2.0]])
  log_qz = np.log([[1.0, 2.0], [2.0, 2.0]])
  np.testing.assert_allclose(fn(log_px_z, log_pz, log_qz),
                             np.log([1.5, 4.0]), rtol=1e-6)


def test_elbo_and_weighted_loss():
  log_px_z, kl = np.array([-10.0, -3.5]), np.array([2.0, 0.25])
  np.testing.assert_allclose(objectives.elbo(log_px_z, kl), [-12.0, -3.75])
  np.testing.assert_allclose(
      jax.jit(objectives.weighted_loss)(-log_px_z, kl, kl_weight=0.5),
      [11.0, 3.625])
  np.testing.assert_allclose(
      objectives.weighted_loss(-log_px_z, kl, kl_weight=1.0),
      -objectives.elbo(log_px_z, kl))


def test_masked_mean_ignores_padding_even_if_nan():
  x = np.array([[1.0, 2.0], [3.0, 6.0], [np.nan, np.inf]])
  np.testing.assert_allclose(
      objectives.masked_mean(x, mask=np.array([1, 1, 0])), [2.0, 4.0])
  np.testing.assert_allclose(objectives.masked_mean(x[:2]), [2.0, 4.0])


# ---------------------------------------------------------------------------
# The importance-weighted bound on a linear-Gaussian model, where log p(x)
# is exact: z ~ N(0, I_2), x | z ~ N(W z + b, sigma^2 I_3), so
# p(x) = N(b, W W^T + sigma^2 I) and p(z | x) = N(mu(x), Sigma).

W = np.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.2]])
B = np.array([0.1, -0.2, 0.3])
SIGMA = 0.5
X = np.array([[0.5, 1.0, -0.4], [-1.2, 0.3, 0.9], [2.0, -1.0, -1.5],
              [0.0, 0.0, 0.0]])
LOG_PX = stats.multivariate_normal(B, W @ W.T + SIGMA**2 * np.eye(3)).logpdf(X)
POST_PREC = np.eye(2) + W.T @ W / SIGMA**2
POST_COV = np.linalg.inv(POST_PREC)
POST_MEAN = (X - B) @ W @ POST_COV / SIGMA**2
# A deliberately imperfect q: shifted mean, inflated diagonal variance.
Q_MEAN = (POST_MEAN + 0.5).astype(np.float32)
Q_LOG_VAR = np.tile(np.log(2.0 * np.diag(POST_COV)), (4, 1)).astype(np.float32)


def _log_px_z(z):  # [K, B, 2] -> [K, B]
  mean = z @ W.T.astype(np.float32) + B.astype(np.float32)
  return gaussian.gaussian_log_prob(X.astype(np.float32), mean,
                                    np.float32(2 * np.log(SIGMA)))


def _log_weights(key, num_samples):  # [K, B]
  z = gaussian.gaussian_sample(key, Q_MEAN, Q_LOG_VAR, num_samples=num_samples)
  return (_log_px_z(z) + gaussian.gaussian_log_prob(z, 0.0, 0.0)
          - gaussian.gaussian_log_prob(z, Q_MEAN, Q_LOG_VAR))


def _iw_bound(key, num_samples):
  z = gaussian.gaussian_sample(key, Q_MEAN, Q_LOG_VAR, num_samples=num_samples)
  return objectives.iw_log_likelihood(
      _log_px_z(z), gaussian.gaussian_log_prob(z, 0.0, 0.0),
      gaussian.gaussian_log_prob(z, Q_MEAN, Q_LOG_VAR))


def _kl_q_to_true_posterior():  # [B]: the ELBO gap, log p(x) - ELBO
  var = np.exp(Q_LOG_VAR.astype(np.float64))
  diff = POST_MEAN - Q_MEAN
  return 0.5 * (var @ np.diag(POST_PREC)
                + np.einsum('bi,ij,bj->b', diff, POST_PREC, diff) - 2.0
                + np.linalg.slogdet(POST_COV)[1] - np.sum(np.log(var), -1))


def test_iw_bound_at_one_sample_is_the_elbo():
  key = jax.random.key(0)
  z = gaussian.gaussian_sample(key, Q_MEAN, Q_LOG_VAR, num_samples=1)
  log_qz = gaussian.gaussian_log_prob(z, Q_MEAN, Q_LOG_VAR)
  log_pz = gaussian.gaussian_log_prob(z, 0.0, 0.0)
  mc_elbo = objectives.elbo(_log_px_z(z)[0], (log_qz - log_pz)[0])
  np.testing.assert_allclose(_iw_bound(key, 1), mc_elbo, rtol=1e-6)


def test_iw_bound_rises_with_k_towards_log_px():
  reps, ks = 1000, (1, 10, 100, 1000)

  @jax.jit
  @jax.vmap
  def bounds(key):  # [len(ks)]: L_K on the first K of 1000 samples, mean over x
    log_w = _log_weights(key, ks[-1])
    return jnp.stack([jnp.mean(objectives.log_mean_exp(log_w[:k])) for k in ks])

  vals = np.asarray(bounds(jax.random.split(jax.random.key(0), reps)))
  means = np.mean(vals, axis=0) - np.mean(LOG_PX)
  stderrs = np.std(vals, axis=0) / np.sqrt(reps)
  # E[L_1] = log p(x) - KL(q || p(z | x)), here about -1.53 nats.
  gap = np.mean(_kl_q_to_true_posterior())
  assert gap > 1.0
  assert abs(means[0] + gap) < 4 * stderrs[0], (means, gap)
  # Strictly increasing, each step by many standard errors (the nested
  # estimates are positively correlated, so this error bar is conservative) ...
  diffs_stderr = np.sqrt(stderrs[1:]**2 + stderrs[:-1]**2)
  np.testing.assert_array_less(5 * diffs_stderr, np.diff(means))
  # ... and never above log p(x).
  np.testing.assert_array_less(means, 4 * stderrs)


def test_iw_bound_closes_the_gap_at_5000_samples():
  bound = jax.jit(_iw_bound, static_argnums=1)
  elbo_gap = LOG_PX - np.mean(
      [bound(jax.random.key(s), 1) for s in range(200)], axis=0)
  assert np.all(elbo_gap > 0.8), elbo_gap  # visible at K = 1
  # 8 independent K = 5000 estimates: each has std ~0.025 nats here.
  many = jax.jit(jax.vmap(lambda key: _iw_bound(key, 5000)))
  iw = np.mean(many(jax.random.split(jax.random.key(1), 8)), axis=0)
  np.testing.assert_allclose(iw, LOG_PX, atol=0.04)


# ---------------------------------------------------------------------------
# Free bits.

KL_PER_DIM = np.array([[0.1, 0.5, 2.0, 0.75],
                       [0.3, 0.0, 1.0, 0.6]], np.float32)


@pytest.mark.parametrize('use_jit', [False, True])
def test_free_bits_kingma_value_and_gradient(use_jit):
  fn = _maybe_jit(objectives.free_bits_kingma, use_jit)
  # Batch means per dim [0.2, 0.25, 1.5, 0.675]; floor 0.3.
  np.testing.assert_allclose(fn(KL_PER_DIM, threshold=0.3),
                             0.3 + 0.3 + 1.5 + 0.675, rtol=1e-6)
  grad = jax.grad(lambda k: fn(k, threshold=0.3))(KL_PER_DIM)
  np.testing.assert_allclose(grad, [[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]])
  # Masked: only row 0 is real, padding row holds NaN.
  padded = KL_PER_DIM.copy()
  padded[1] = np.nan
  mask = np.array([True, False])
  np.testing.assert_allclose(fn(padded, threshold=0.3, mask=mask),
                             0.3 + 0.5 + 2.0 + 0.75, rtol=1e-6)
  grad = jax.grad(lambda k: fn(k, threshold=0.3, mask=mask))(padded)
  np.testing.assert_allclose(grad, [[0, 1, 1, 1], [0, 0, 0, 0]])


@pytest.mark.parametrize('use_jit', [False, True])
def test_free_bits_kingma_groups_value_and_gradient(use_jit):
  fn = _maybe_jit(objectives.free_bits_kingma, use_jit,
                  static_argnames='groups')
  # Batch means per dim [0.2, 0.25, 1.5, 0.675]; two groups of two: group
  # means [0.45, 2.175]. Floor 0.5: group 0 below it (no gradient), group 1
  # above it (1/B to each of its entries).
  np.testing.assert_allclose(fn(KL_PER_DIM, threshold=0.5, groups=2),
                             0.5 + 2.175, rtol=1e-6)
  grad = jax.grad(lambda k: fn(k, threshold=0.5, groups=2))(KL_PER_DIM)
  np.testing.assert_allclose(grad, [[0, 0, 0.5, 0.5], [0, 0, 0.5, 0.5]])
  # Per dimension, the same floor would clamp dim 1 (0.25) but not group
  # 0's sum at 0.4 (0.45): the whole group passes.
  grad = jax.grad(lambda k: fn(k, threshold=0.4, groups=2))(KL_PER_DIM)
  np.testing.assert_allclose(grad, np.full((2, 4), 0.5))
  # One group: the floor is on the batch-mean total KL (2.625).
  np.testing.assert_allclose(fn(KL_PER_DIM, threshold=3.0, groups=1), 3.0)
  np.testing.assert_allclose(fn(KL_PER_DIM, threshold=2.0, groups=1), 2.625,
                             rtol=1e-6)
  # As many groups as dimensions: the per-dimension floor (the default).
  np.testing.assert_allclose(fn(KL_PER_DIM, threshold=0.3, groups=4),
                             objectives.free_bits_kingma(KL_PER_DIM,
                                                         threshold=0.3),
                             rtol=1e-6)


@pytest.mark.parametrize('groups', [3, -2])
def test_free_bits_kingma_groups_must_divide_the_latent(groups):
  with pytest.raises(ValueError, match='kl_groups=.*latent size 4'):
    objectives.free_bits_kingma(KL_PER_DIM, threshold=0.3, groups=groups)


@pytest.mark.parametrize('use_jit', [False, True])
def test_free_bits_li_value_and_gradient(use_jit):
  fn = _maybe_jit(objectives.free_bits_li, use_jit)
  # lambda = 2.0 / 4 = 0.5 per dimension; 0.5 itself is clamped (strict >).
  np.testing.assert_allclose(fn(KL_PER_DIM, target_kl=2.0), [2.75, 1.6],
                             rtol=1e-6)
  grad = jax.grad(lambda k: jnp.sum(fn(k, target_kl=2.0)))(KL_PER_DIM)
  np.testing.assert_allclose(grad, [[0, 0, 1, 1], [0, 0, 1, 1]])


def test_free_bits_li_gradient_wrt_posterior_parameters():
  mean = jnp.array([[0.1, 1.5, -2.0]])
  log_var = jnp.array([[0.0, -0.2, 0.3]])
  # Per-dim KLs: [0.005, ~1.22, ~2.06]; lambda = 1.5 / 3 = 0.5.
  def fb(m, lv):
    return jnp.sum(objectives.free_bits_li(gaussian.gaussian_kl(m, lv),
                                           target_kl=1.5))
  def plain(m, lv):
    return jnp.sum(gaussian.gaussian_kl(m, lv))
  for argnum in (0, 1):
    g_fb = jax.grad(fb, argnum)(mean, log_var)
    g_plain = jax.grad(plain, argnum)(mean, log_var)
    np.testing.assert_array_equal(g_fb[0, 0], 0.0)
    np.testing.assert_allclose(g_fb[0, 1:], g_plain[0, 1:], rtol=1e-6)


@pytest.mark.parametrize('use_jit', [False, True])
def test_free_bits_total(use_jit):
  fn = _maybe_jit(objectives.free_bits_total, use_jit)
  kl = np.array([0.2, 1.5, 3.0], np.float32)
  np.testing.assert_allclose(fn(kl, threshold=1.0), [1.0, 1.5, 3.0])
  grad = jax.grad(lambda k: jnp.sum(fn(k, threshold=1.0)))(kl)
  np.testing.assert_allclose(grad, [0.0, 1.0, 1.0])
