"""Tests for vae_jax.diagnostics.mutual_info."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from vae_jax.diagnostics import mutual_info
from vae_jax.distributions import gaussian


minibatch_mi = jax.jit(mutual_info.mutual_information_minibatch)
dataset_mi = jax.jit(mutual_info.mutual_information_dataset,
                     static_argnames='chunk_size')


def _posterior(loc, log_var):
  return gaussian.DiagGaussianPosterior(loc=jnp.asarray(loc, jnp.float32),
                                        log_var=jnp.asarray(log_var,
                                                            jnp.float32))


def _calc_mi_q_numpy(mu, logvar, z):
  """He et al.'s `calc_mi_q`, transcribed to numpy, for given samples z."""
  mu, logvar, z = (np.asarray(a, np.float64) for a in (mu, logvar, z))
  x_batch, nz = mu.shape
  neg_entropy = np.mean(-0.5 * nz * math.log(2 * math.pi)
                        - 0.5 * (1 + logvar).sum(-1))
  dev = z[:, None, :] - mu[None]
  log_density = (-0.5 * (dev**2 / np.exp(logvar)[None]).sum(-1)
                 - 0.5 * (nz * math.log(2 * math.pi) + logvar.sum(-1)[None]))
  log_qz = special.logsumexp(log_density, axis=1) - math.log(x_batch)
  return neg_entropy - log_qz.mean()


def _random_posterior(rng, n, d, spread=1.0):
  return _posterior(spread * rng.normal(size=(n, d)),
                    rng.normal(size=(n, d)) * 0.5 - 1.0)


@pytest.mark.parametrize('use_jit', [False, True])
def test_minibatch_matches_he_et_al_reference(use_jit):
  post = _random_posterior(np.random.default_rng(0), 32, 4)
  key = jax.random.key(0)
  fn = minibatch_mi if use_jit else mutual_info.mutual_information_minibatch
  z = post.sample(key, 1)[0]  # the sample the estimator draws
  np.testing.assert_allclose(
      fn(post, key), _calc_mi_q_numpy(post.loc, post.log_var, z), rtol=1e-5)


def test_minibatch_mask_drops_padding_rows():
  rng = np.random.default_rng(1)
  post = _random_posterior(rng, 10, 3)
  loc, log_var = np.array(post.loc), np.array(post.log_var)
  loc[7:], log_var[7:] = 1e3, 20.0  # padding garbage
  padded = _posterior(loc, log_var)
  key = jax.random.key(3)
  mask = np.arange(10) < 7
  z = padded.sample(key, 1)[0][:7]
  np.testing.assert_allclose(
      minibatch_mi(padded, key, mask=mask),
      _calc_mi_q_numpy(loc[:7], log_var[:7], z), rtol=1e-5)


def test_dataset_equals_minibatch_when_batch_is_dataset_any_chunking():
  post = _random_posterior(np.random.default_rng(2), 50, 3)
  key = jax.random.key(4)
  minibatch = minibatch_mi(post, key)
  for chunk_size in (50, 7, 64):
    np.testing.assert_allclose(dataset_mi(post, key, chunk_size=chunk_size),
                               minibatch, rtol=1e-5)


def test_dataset_mask():
  post = _random_posterior(np.random.default_rng(5), 30, 2)
  loc, log_var = np.array(post.loc), np.array(post.log_var)
  loc[20:], log_var[20:] = -50.0, 5.0
  padded = _posterior(loc, log_var)
  mask = np.arange(30) < 20
  key = jax.random.key(6)
  np.testing.assert_allclose(
      dataset_mi(padded, key, chunk_size=8, mask=mask),
      minibatch_mi(padded, key, mask=mask),
      rtol=1e-5)


def test_separated_posteriors_reach_log_n():
  # Means on a wide grid, tiny variances: q(z) is N separate bumps, so each
  # z identifies its x and I = log N, up to the Monte Carlo error of
  # E[log q(z | x)] + H (a chi-square term with std sqrt(D / (2 N))).
  n, d = 256, 2
  grid = np.stack(np.meshgrid(np.arange(16), np.arange(16)), -1).reshape(n, d)
  post = _posterior(10.0 * grid, np.full((n, d), -6.0))
  mi = minibatch_mi(post, jax.random.key(7))
  assert abs(mi - math.log(n)) < 4 * math.sqrt(d / (2 * n)), mi


def test_identical_posteriors_have_zero_information():
  n, d = 256, 4
  post = _posterior(np.tile([0.3, -1.0, 2.0, 0.0], (n, 1)),
                    np.tile([0.1, -0.5, 0.0, 1.0], (n, 1)))
  mi = dataset_mi(post, jax.random.key(8), chunk_size=100)
  assert abs(mi) < 4 * math.sqrt(d / (2 * n)), mi


def test_dataset_mi_of_gaussian_channel():
  # x ~ N(0, s^2 I), q(z | x) = N(x, v I): I(x; z) = D/2 log(1 + s^2 / v).
  n, d, s2, v = 4000, 2, 1.0, 1.0
  means = np.random.default_rng(9).normal(size=(n, d)) * math.sqrt(s2)
  post = _posterior(means, np.full((n, d), math.log(v)))
  mi = dataset_mi(post, jax.random.key(10), chunk_size=512)
  np.testing.assert_allclose(mi, d / 2 * math.log(1 + s2 / v), atol=0.05)
