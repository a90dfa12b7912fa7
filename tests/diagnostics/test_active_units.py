"""Tests for vae_jax.diagnostics.active_units."""

import jax
import numpy as np
import pytest

from vae_jax.diagnostics.active_units import active_units


def _means_with_variances(variances, n=40, seed=0):
  """[n, D] columns whose unbiased variance is exactly `variances`."""
  base = np.random.default_rng(seed).normal(size=(n, len(variances)))
  base = (base - base.mean(0)) / base.std(0, ddof=1)
  return base * np.sqrt(variances) + np.arange(len(variances))


@pytest.mark.parametrize('use_jit', [False, True])
def test_counts_dimensions_around_the_threshold(use_jit):
  variances = np.array([0.0, 0.005, 0.0099, 0.0101, 0.02, 1.0])
  means = _means_with_variances(variances).astype(np.float32)
  fn = jax.jit(active_units) if use_jit else active_units
  count, var = fn(means)
  assert int(count) == 3
  np.testing.assert_allclose(var, variances, rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(var, np.var(means, axis=0, ddof=1), rtol=1e-4,
                             atol=1e-7)
  count, _ = fn(means, threshold=0.5)
  assert int(count) == 1


def test_matches_numpy_on_random_means():
  rng = np.random.default_rng(1)
  means = (rng.normal(size=(500, 16)) * rng.uniform(0, 0.2, size=16)
           ).astype(np.float32)
  count, var = active_units(means)
  expected = np.var(means.astype(np.float64), axis=0, ddof=1)
  np.testing.assert_allclose(var, expected, rtol=1e-4)
  assert int(count) == int(np.sum(expected >= 0.01))
  assert count.dtype == np.int32


def test_mask_ignores_padding_rows():
  variances = np.array([0.001, 0.05, 0.3])
  means = _means_with_variances(variances, n=20)
  padded = np.concatenate([means, np.full((5, 3), 1e4)]).astype(np.float32)
  mask = np.arange(25) < 20
  count, var = active_units(padded, mask=mask)
  assert int(count) == 2
  np.testing.assert_allclose(var, variances, rtol=1e-4)
