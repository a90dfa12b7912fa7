"""vae_jax.analysis.latent_map: principal axes and the separation measure."""

import numpy as np
import pytest

from vae_jax.analysis import latent_map


def test_principal_axes_match_the_covariance_eigenvectors():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0
  coords, explained = latent_map.principal_axes(x)
  evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
  order = np.argsort(evals)[::-1]
  evals, evecs = evals[order], evecs[:, order]
  np.testing.assert_allclose(explained, evals[:2] / evals.sum(), rtol=1e-10)
  expected = (x - x.mean(0)) @ evecs[:, :2]
  signs = np.sign(np.sum(coords * expected, axis=0))  # each axis up to sign
  np.testing.assert_allclose(coords, signs * expected, atol=1e-9)
  axes = evecs[:, :2] * signs
  # the sign convention: each axis' largest loading is positive
  assert all(a[np.argmax(np.abs(a))] > 0 for a in axes.T)
  # centre=False: the same axes, the points projected as they are, so the
  # origin of the map is the latent space's origin
  raw, _ = latent_map.principal_axes(x, centre=False)
  np.testing.assert_allclose(raw, x @ axes, atol=1e-8)


def test_principal_axes_of_a_one_dimensional_latent_pad_with_zeros():
  x = np.arange(10.0)[:, None]
  coords, explained = latent_map.principal_axes(x)
  np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(x[:, 0] - 4.5))
  np.testing.assert_allclose(coords[:, 1], 0.0)
  np.testing.assert_allclose(explained, [1.0, 0.0])


def test_centroid_accuracy_separated_identical_and_from_noisy_samples():
  rng = np.random.default_rng(1)
  n = 4000
  labels = np.repeat([0, 1], n // 2)
  apart = rng.normal(size=(n, 4)) * 0.1 + 5.0 * labels[:, None]
  assert latent_map.centroid_accuracy(apart, labels) == 1.0
  same = rng.normal(size=(n, 4))
  assert abs(latent_map.centroid_accuracy(same, labels) - 0.5) < 0.04
  # A collapsed VAE: means 1e-3 apart with tiny spread separate perfectly,
  # a posterior sample of unit noise around them does not.
  means = 1e-3 * labels[:, None] + 1e-5 * rng.normal(size=(n, 4))
  samples = means + rng.normal(size=(n, 4))
  assert latent_map.centroid_accuracy(means, labels) == 1.0
  acc = latent_map.centroid_accuracy(means, labels, queries=samples)
  assert abs(acc - 0.5) < 0.04


def test_centroid_accuracy_is_balanced_over_corpora():
  # corpus 1 has 10x the sentences; every held-out point of corpus 0 is
  # misassigned, every one of corpus 1 is right: balanced accuracy 0.5
  x = np.concatenate([np.zeros(20), np.full(200, 1.0)])[:, None]
  labels = np.concatenate([np.zeros(20, int), np.ones(200, int)])
  queries = x.copy()
  queries[1:20:2] = 1.0
  assert latent_map.centroid_accuracy(x, labels, queries) == 0.5


def test_a_corpus_of_one_sentence_is_a_clear_error():
  with pytest.raises(ValueError, match='at least 2'):
    latent_map.centroid_accuracy(np.zeros((3, 2)), np.array([0, 0, 1]))
