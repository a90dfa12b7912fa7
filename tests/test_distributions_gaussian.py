"""Tests for vae_jax.distributions.gaussian against scipy and Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import integrate, stats

from vae_jax.distributions import gaussian

MEAN = np.array([0.3, -1.2, 2.0], np.float32)
LOG_VAR = np.array([-0.5, 0.4, 1.1], np.float32)
PRIOR_MEAN = np.array([1.0, 0.5, -0.3], np.float32)
PRIOR_LOG_VAR = np.array([0.2, -0.7, 0.9], np.float32)


def _maybe_jit(fn, use_jit):
  return jax.jit(fn) if use_jit else fn


def _scipy_kl_1d(m, v, pm, pv):
  """KL(N(m, v) || N(pm, pv)) by numerical integration."""
  q, p = stats.norm(m, np.sqrt(v)), stats.norm(pm, np.sqrt(pv))
  lo, hi = m - 12 * np.sqrt(v), m + 12 * np.sqrt(v)
  return integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - p.logpdf(z)),
                        lo, hi, epsabs=1e-12, limit=200)[0]


@pytest.mark.parametrize('use_jit', [False, True])
def test_log_prob_matches_scipy_scalar_and_batched(use_jit):
  log_prob = _maybe_jit(gaussian.gaussian_log_prob, use_jit)
  std = np.exp(0.5 * LOG_VAR)
  # One dimension.
  np.testing.assert_allclose(
      log_prob(np.array([0.7]), MEAN[:1], LOG_VAR[:1]),
      stats.norm(MEAN[0], std[0]).logpdf(0.7), rtol=1e-6)
  # A batch of points against a diagonal multivariate normal.
  z = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
  expected = stats.multivariate_normal(MEAN, np.diag(std**2)).logpdf(z)
  np.testing.assert_allclose(log_prob(z, MEAN, LOG_VAR), expected, rtol=1e-5)


def test_posterior_log_prob_broadcasts_to_cross_matrix():
  rng = np.random.default_rng(1)
  loc = rng.normal(size=(4, 3)).astype(np.float32)
  log_var = rng.normal(size=(4, 3)).astype(np.float32) * 0.3
  z = rng.normal(size=(6, 3)).astype(np.float32)
  post = gaussian.DiagGaussianPosterior(loc=jnp.asarray(loc),
                                        log_var=jnp.asarray(log_var))
  cross = post.log_prob(z[:, None, :])
  assert cross.shape == (6, 4)
  expected = np.array([[stats.multivariate_normal(
      loc[b], np.diag(np.exp(log_var[b]))).logpdf(z[n]) for b in range(4)]
                       for n in range(6)])
  np.testing.assert_allclose(cross, expected, rtol=1e-5)
  np.testing.assert_allclose(
      post.prior_log_prob(z[:, None, :]),
      stats.multivariate_normal(np.zeros(3), np.eye(3)).logpdf(z)[:, None],
      rtol=1e-5)


@pytest.mark.parametrize('use_jit', [False, True])
def test_kl_between_diag_gaussians_matches_scipy(use_jit):
  kl = _maybe_jit(gaussian.gaussian_kl, use_jit)(MEAN, LOG_VAR, PRIOR_MEAN,
                                                 PRIOR_LOG_VAR)
  assert kl.shape == (3,)
  expected = [_scipy_kl_1d(m, np.exp(lv), pm, np.exp(plv)) for m, lv, pm, plv
              in zip(MEAN, LOG_VAR, PRIOR_MEAN, PRIOR_LOG_VAR)]
  np.testing.assert_allclose(kl, expected, rtol=1e-5)
  # The same total from the general multivariate formula.
  s0, s1 = np.diag(np.exp(LOG_VAR)), np.diag(np.exp(PRIOR_LOG_VAR))
  diff = (PRIOR_MEAN - MEAN).astype(np.float64)
  total = 0.5 * (np.trace(np.linalg.solve(s1, s0))
                 + diff @ np.linalg.solve(s1, diff) - 3
                 + np.linalg.slogdet(s1)[1] - np.linalg.slogdet(s0)[1])
  np.testing.assert_allclose(jnp.sum(kl), total, rtol=1e-5)


@pytest.mark.parametrize('use_jit', [False, True])
def test_kl_of_a_nearly_collapsed_posterior_keeps_its_precision(use_jit):
  """Per-dimension KLs of 1e-10 to 1e-2 nats (the range a collapsing VAE
  passes through), in float32, against numpy's expm1 in float64 (the
  textbook term order would lose digits even in float64 at the smallest
  scales; the scipy test above checks the algebra): relative error below
  1e-4 and never negative. The textbook order of the terms fails this by
  orders of magnitude; the gradient is checked against expm1 too."""
  rng = np.random.default_rng(0)
  fn = _maybe_jit(gaussian.gaussian_kl, use_jit)
  for scale in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1):
    mean = (rng.normal(size=(64, 8)) * scale).astype(np.float32)
    log_var = (rng.normal(size=(64, 8)) * scale).astype(np.float32)
    pm = (rng.normal(size=8) * scale).astype(np.float32)
    plv = (rng.normal(size=8) * scale).astype(np.float32)
    r = log_var.astype(np.float64) - plv
    ref = 0.5 * (np.expm1(r) - r
                 + (mean.astype(np.float64) - pm) ** 2 * np.exp(-plv.astype(
                     np.float64)))
    got = np.asarray(fn(mean, log_var, pm, plv), np.float64)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    # d KL / d log_var = (e^r - 1) / 2
    grad = jax.grad(lambda lv: jnp.sum(fn(mean, lv, pm, plv)))(log_var)
    np.testing.assert_allclose(grad, 0.5 * np.expm1(r), rtol=1e-4,
                               atol=1e-10)
  # far from the prior too (the expm1 branch), and at the prior exactly
  np.testing.assert_allclose(fn(np.float32([0.5]), np.float32([-3.0])),
                             [0.5 * (np.expm1(-3.0) + 3.0 + 0.25)], rtol=1e-6)
  assert float(fn(np.float32([0.0]), np.float32([0.0]))[0]) == 0.0


def test_standard_normal_kl_hand_computed_and_1d_quadrature():
  # KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, e) || N(0, 1)) = (e - 1 - 1) / 2.
  np.testing.assert_allclose(
      gaussian.standard_normal_kl(np.array([[1.0], [0.0]]),
                                  np.array([[0.0], [1.0]])),
      [0.5, (np.e - 2.0) / 2.0], rtol=1e-6)
  np.testing.assert_allclose(
      gaussian.standard_normal_kl(MEAN[:1], LOG_VAR[:1]),
      _scipy_kl_1d(MEAN[0], np.exp(LOG_VAR[0]), 0.0, 1.0), rtol=1e-5)


def test_kl_matches_monte_carlo_estimate():
  num = 200_000
  z = gaussian.gaussian_sample(jax.random.key(0), MEAN, LOG_VAR,
                               num_samples=num)
  log_ratio = (gaussian.gaussian_log_prob(z, MEAN, LOG_VAR)
               - gaussian.gaussian_log_prob(z, PRIOR_MEAN, PRIOR_LOG_VAR))
  mc, stderr = np.mean(log_ratio), np.std(log_ratio) / np.sqrt(num)
  closed = jnp.sum(gaussian.gaussian_kl(MEAN, LOG_VAR, PRIOR_MEAN,
                                        PRIOR_LOG_VAR))
  assert abs(mc - closed) < 4 * stderr, (mc, closed, stderr)


def test_reparameterized_mc_kl_gradient_matches_closed_form():
  num = 100_000
  eps = jax.random.normal(jax.random.key(1), (num, 3))

  def mc_kl_term(params, e):  # one reparameterized KL sample
    mean, log_var = params
    z = mean + jnp.exp(0.5 * log_var) * e
    return (gaussian.gaussian_log_prob(z, mean, log_var)
            - gaussian.gaussian_log_prob(z, PRIOR_MEAN, PRIOR_LOG_VAR))

  def closed_kl(params):
    return jnp.sum(gaussian.gaussian_kl(*params, PRIOR_MEAN, PRIOR_LOG_VAR))

  params = (jnp.asarray(MEAN), jnp.asarray(LOG_VAR))
  per_sample = jax.jit(jax.vmap(jax.grad(mc_kl_term), (None, 0)))(params, eps)
  analytic = jax.grad(closed_kl)(params)
  for ps, exact in zip(per_sample, analytic):
    mc, stderr = np.mean(ps, 0), np.std(ps, 0) / np.sqrt(num)
    np.testing.assert_array_less(np.abs(mc - exact), 5 * stderr + 1e-6)
  # The mean's gradient is (m - pm) / pv, hand-computed.
  np.testing.assert_allclose(analytic[0], (MEAN - PRIOR_MEAN)
                             / np.exp(PRIOR_LOG_VAR), rtol=1e-6)


def test_check_grads_log_prob_and_kl():
  with jax.enable_x64(True):
    z = np.array([[0.1, 0.9, -0.4], [1.5, -2.0, 0.3]])
    args = (z, MEAN.astype(np.float64), LOG_VAR.astype(np.float64))
    check_grads(jax.jit(gaussian.gaussian_log_prob), args, order=2,
                modes=('fwd', 'rev'))
    check_grads(jax.jit(gaussian.gaussian_kl),
                tuple(a.astype(np.float64) for a in
                      (MEAN, LOG_VAR, PRIOR_MEAN, PRIOR_LOG_VAR)),
                order=2, modes=('fwd', 'rev'))
    check_grads(jax.jit(gaussian.gaussian_entropy),
                (LOG_VAR.astype(np.float64),),
                order=1)


@pytest.mark.parametrize('use_jit', [False, True])
def test_entropy_matches_scipy(use_jit):
  entropy = _maybe_jit(gaussian.gaussian_entropy, use_jit)
  np.testing.assert_allclose(entropy(LOG_VAR[:1]),
                             stats.norm(0, np.exp(0.5 * LOG_VAR[0])).entropy(),
                             rtol=1e-6)
  log_var = np.stack([LOG_VAR, -LOG_VAR])
  expected = [stats.multivariate_normal(np.zeros(3), np.diag(np.exp(lv)))
              .entropy() for lv in log_var]
  np.testing.assert_allclose(entropy(log_var), expected, rtol=1e-6)


def test_sample_moments_and_shapes():
  loc = np.stack([MEAN, -MEAN])
  log_var = np.stack([LOG_VAR, LOG_VAR - 1.0])
  post = gaussian.DiagGaussianPosterior(loc=jnp.asarray(loc),
                                        log_var=jnp.asarray(log_var))
  num = 100_000
  z = jax.jit(post.sample, static_argnums=1)(jax.random.key(2), num)
  assert z.shape == (num, 2, 3)
  var = np.exp(log_var)
  np.testing.assert_array_less(np.abs(np.mean(z, 0) - loc),
                               5 * np.sqrt(var / num))
  # Var of the sample variance of a Gaussian is 2 var^2 / (n - 1).
  np.testing.assert_array_less(np.abs(np.var(z, 0) - var),
                               5 * var * np.sqrt(2.0 / num))
  single = gaussian.gaussian_sample(jax.random.key(0), MEAN, LOG_VAR)
  assert single.shape == (3,)


def test_posterior_methods_agree_with_functions():
  loc = jnp.stack([MEAN, -MEAN])
  log_var = jnp.stack([LOG_VAR, 2 * LOG_VAR])
  post = gaussian.DiagGaussianPosterior(loc=loc, log_var=log_var)
  np.testing.assert_allclose(post.kl_per_dim(),
                             gaussian.gaussian_kl(loc, log_var), rtol=1e-6)
  np.testing.assert_allclose(post.kl(),
                             gaussian.standard_normal_kl(loc, log_var),
                             rtol=1e-6)
  assert post.kl().shape == (2,) and post.entropy().shape == (2,)
  np.testing.assert_array_equal(post.mean(), loc)
  np.testing.assert_array_equal(post.mode(), loc)
  # A posterior is a pytree: it crosses jit boundaries.
  np.testing.assert_allclose(jax.jit(lambda p: p.kl())(post), post.kl(),
                             rtol=1e-6)
