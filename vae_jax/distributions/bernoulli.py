"""Mean-field Bernoulli codes z in {0, 1}^D: straight-through sampling, KL.

q(z | x) = prod_d Bernoulli(z_d; sigmoid(logits_d)), prior Bernoulli(0.5)^D
unless other prior logits are given. Everything is written in terms of the
logits with `log_sigmoid`, so nothing overflows for large |logits|.

References:
  Bengio, Leonard and Courville (2013), Estimating or Propagating Gradients
    Through Stochastic Neurons for Conditional Computation (the
    straight-through estimator).
"""

import flax
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vae_jax.distributions import numerics


def bernoulli_sample(key: jax.Array, logits: ArrayLike, *,
                     num_samples: int | None = None) -> jax.Array:
  """Straight-through Bernoulli sample: z = p + stop_gradient(hard - p).

  hard = step(p - u), u ~ U(0, 1), p = sigmoid(logits). The forward value is
  exactly the binary sample; the backward pass is the identity to the
  probabilities, d z / d p = 1 (Bengio et al., 2013). It is computed as
  hard + (p - stop_gradient(p)): the bracket is exactly 0 in the forward pass,
  so z is exactly 0 or 1 with no rounding from p + (hard - p).

  Args:
    key: PRNG key.
    logits: <float>[..., D].
    num_samples: if given, a leading sample axis of this size is added.

  Returns:
    <float>[..., D] in {0, 1}, or <float>[num_samples, ..., D].
  """
  logits = jnp.asarray(logits)
  shape = logits.shape if num_samples is None else (num_samples,) + logits.shape
  probs = jax.nn.sigmoid(logits)
  u = jax.random.uniform(key, shape, dtype=probs.dtype)
  hard = (u < probs).astype(probs.dtype)  # step(p - u), with step(0) = 0
  return hard + (probs - jax.lax.stop_gradient(probs))


def bernoulli_log_prob(z: ArrayLike, logits: ArrayLike) -> jax.Array:
  """log prod_d Bernoulli(z_d; sigmoid(logits_d)), summed over the last axis.

  z must be binary; the formula z log p + (1 - z) log(1 - p) is linear in z,
  so a straight-through z passes its gradient on.
  """
  z, logits = jnp.asarray(z), jnp.asarray(logits)
  return jnp.sum(z * jax.nn.log_sigmoid(logits)
                 + (1.0 - z) * jax.nn.log_sigmoid(-logits), axis=-1)


def bernoulli_kl(logits_q: ArrayLike, logits_p: ArrayLike = 0.0) -> jax.Array:
  """KL(Bernoulli(sigmoid(logits_q)) || Bernoulli(sigmoid(logits_p))) per dim.

  Returns:
    <float>[..., D] (not summed): q (log q - log p)
    + (1 - q) (log(1 - q) - log(1 - p)), with q = sigmoid(logits_q), to
    full relative precision near the prior too (the two-class
    `numerics.softmax_kl` of logits (l, 0)). The default prior logits 0
    are Bernoulli(0.5).
  """
  logits_q, logits_p = jnp.broadcast_arrays(jnp.asarray(logits_q),
                                            jnp.asarray(logits_p))
  zero = jnp.zeros_like(logits_q)
  return numerics.softmax_kl(jnp.stack([logits_q, zero], axis=-1),
                             jnp.stack([logits_p, zero], axis=-1))


def bernoulli_entropy(logits: ArrayLike) -> jax.Array:
  """Entropy of the mean-field Bernoulli, summed over the last axis: [...]."""
  logits = jnp.asarray(logits)
  q = jax.nn.sigmoid(logits)
  return -jnp.sum(q * jax.nn.log_sigmoid(logits)
                  + (1.0 - q) * jax.nn.log_sigmoid(-logits), axis=-1)


@flax.struct.dataclass
class BernoulliPosterior:
  """q(z | x) = prod_d Bernoulli(sigmoid(logits_d)), prior Bernoulli(0.5)^D.

  Implements `vae_jax.distributions.base.Posterior`. Samples are binary in
  the forward pass with the straight-through gradient to the probabilities;
  `log_prob` and `prior_log_prob` are the exact probabilities of binary
  codes, so the importance-weighted bound is exact-density.

  Attributes:
    logits: <float>[B, D].
    prior_logits: None for Bernoulli(0.5), or logits broadcastable to [B, D].
  """
  logits: jax.Array
  prior_logits: jax.Array | None = None

  def _prior_logits(self) -> jax.Array:
    return (jnp.zeros((), self.logits.dtype) if self.prior_logits is None
            else self.prior_logits)

  def sample(self, key: jax.Array, num_samples: int) -> jax.Array:
    """<float>[S, B, D] in {0, 1}, straight-through."""
    return bernoulli_sample(key, self.logits, num_samples=num_samples)

  def log_prob(self, z: jax.Array) -> jax.Array:
    """log q(z | x) for binary z <float>[..., B, D]: [..., B]."""
    return bernoulli_log_prob(z, self.logits)

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    return bernoulli_log_prob(z, self._prior_logits())

  def kl_per_dim(self) -> jax.Array:
    return bernoulli_kl(self.logits, self._prior_logits())

  def kl(self) -> jax.Array:
    return jnp.sum(self.kl_per_dim(), axis=-1)

  def entropy(self) -> jax.Array:
    return bernoulli_entropy(self.logits)

  def mean(self) -> jax.Array:
    """The probabilities q(z_d = 1 | x), <float>[B, D]."""
    return jax.nn.sigmoid(self.logits)

  def mode(self) -> jax.Array:
    """The most probable code, 1 where q(z_d = 1 | x) > 1/2: <float>[B, D]."""
    return (self.logits > 0).astype(self.logits.dtype)
