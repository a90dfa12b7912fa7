"""Diagonal Gaussian: reparameterized sampling, log-density and KL.

References:
  Kingma and Welling (2014), Auto-Encoding Variational Bayes, appendix B.
"""

import math

import flax
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vae_jax.distributions.numerics import exp_minus_1_minus

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_sample(key: jax.Array, mean: ArrayLike, log_var: ArrayLike, *,
                    num_samples: int | None = None) -> jax.Array:
  """z = mean + exp(log_var / 2) * eps, eps ~ N(0, I).

  Args:
    key: PRNG key.
    mean: <float>[..., D].
    log_var: <float>[..., D], same shape as `mean`.
    num_samples: if given, a leading sample axis of this size is added.

  Returns:
    <float>[..., D], or <float>[num_samples, ..., D].
  """
  mean = jnp.asarray(mean)
  shape = mean.shape if num_samples is None else (num_samples,) + mean.shape
  eps = jax.random.normal(key, shape, dtype=mean.dtype)
  return mean + jnp.exp(0.5 * jnp.asarray(log_var)) * eps


def gaussian_log_prob(z: ArrayLike, mean: ArrayLike,
                      log_var: ArrayLike) -> jax.Array:
  """log N(z; mean, diag(exp(log_var))), summed over the last axis."""
  z, mean, log_var = jnp.asarray(z), jnp.asarray(mean), jnp.asarray(log_var)
  return -0.5 * jnp.sum(
      _LOG_2PI + log_var + jnp.square(z - mean) * jnp.exp(-log_var), axis=-1)


def gaussian_kl(mean: ArrayLike, log_var: ArrayLike,
                prior_mean: ArrayLike = 0.0,
                prior_log_var: ArrayLike = 0.0) -> jax.Array:
  """KL(N(mean, var) || N(prior_mean, prior_var)) per dimension (not summed).

  Returns:
    <float>[..., D]: 0.5 * (log(pv / v) + (v + (m - pm)^2) / pv - 1),
    computed as 0.5 * (e^r - 1 - r + (m - pm)^2 / pv) with r = log(v / pv),
    so that the tiny KLs of a (nearly) collapsed posterior keep their
    relative precision: the textbook order of the terms loses all of it
    in float32 once |log v| < 1e-3 (per-dimension values then come out
    several times too large, or negative).
  """
  mean, log_var = jnp.asarray(mean), jnp.asarray(log_var)
  prior_mean, prior_log_var = jnp.asarray(prior_mean), jnp.asarray(prior_log_var)
  return 0.5 * (exp_minus_1_minus(log_var - prior_log_var)
                + jnp.square(mean - prior_mean) * jnp.exp(-prior_log_var))


def standard_normal_kl(mean: ArrayLike, log_var: ArrayLike) -> jax.Array:
  """KL(N(mean, diag var) || N(0, I)) summed over the last axis: [...]."""
  return jnp.sum(gaussian_kl(mean, log_var), axis=-1)


def gaussian_entropy(log_var: ArrayLike) -> jax.Array:
  """Entropy of N(., diag(exp(log_var))), summed over the last axis."""
  log_var = jnp.asarray(log_var)
  return 0.5 * jnp.sum(_LOG_2PI + 1.0 + log_var, axis=-1)


@flax.struct.dataclass
class DiagGaussianPosterior:
  """q(z | x) = N(mean, diag(exp(log_var))) with prior N(0, I).

  Implements `vae_jax.distributions.base.Posterior`.

  Attributes:
    loc: <float>[B, D].
    log_var: <float>[B, D].
  """
  loc: jax.Array
  log_var: jax.Array

  def sample(self, key: jax.Array, num_samples: int) -> jax.Array:
    return gaussian_sample(key, self.loc, self.log_var, num_samples=num_samples)

  def log_prob(self, z: jax.Array) -> jax.Array:
    return gaussian_log_prob(z, self.loc, self.log_var)

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    return gaussian_log_prob(z, 0.0, 0.0)

  def kl_per_dim(self) -> jax.Array:
    return gaussian_kl(self.loc, self.log_var)

  def kl(self) -> jax.Array:
    return jnp.sum(self.kl_per_dim(), axis=-1)

  def entropy(self) -> jax.Array:
    return gaussian_entropy(self.log_var)

  def mean(self) -> jax.Array:
    return self.loc

  def mode(self) -> jax.Array:
    return self.loc
