"""Categorical codes z in {1..K}^D: Gumbel-max, Gumbel-softmax, exact KL.

A code is D independent categorical variables with K classes each, written
one-hot as <float>[..., D, K]. The `Posterior` protocol's samples are
[S, B, D_flat], so `GumbelSoftmaxPosterior` flattens the one-hot codes to
D_flat = D * K before handing them to the decoder (and un-flattens whatever
it is given in `log_prob`); the KL and entropy stay per categorical
variable, `kl_per_dim` is [B, D].

Three samplers share the Gumbel noise g ~ Gumbel(0, 1)^K:
  Gumbel-max (exact): argmax_k(logits_k + g_k) ~ Categorical(softmax(logits)).
  Gumbel-softmax / Concrete (relaxed): y = softmax((logits + g) / tau), a
    point of the simplex that tends to the Gumbel-max one-hot as tau -> 0.
  Straight-through Gumbel-softmax: one_hot(argmax y) in the forward pass,
    the gradient of the relaxed y in the backward pass.
`straight_through_categorical_sample` is the plain straight-through estimator
(Bengio et al., 2013), the categorical analogue of the Bernoulli one: the
exact one-hot sample forward, the gradient of softmax(logits) backward.

References:
  Jang, Gu and Poole (2017), Categorical Reparameterization with
    Gumbel-Softmax.
  Maddison, Mnih and Teh (2017), The Concrete Distribution: A Continuous
    Relaxation of Discrete Random Variables.
  Bengio, Leonard and Courville (2013), Estimating or Propagating Gradients
    Through Stochastic Neurons for Conditional Computation.
"""

import flax
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vae_jax.distributions import numerics

ST_GRADIENTS = ('gumbel_softmax', 'probs')


def _noise_shape(logits: jax.Array, num_samples: int | None):
  return logits.shape if num_samples is None else (num_samples,) + logits.shape


def _prior_log_probs(prior_logits: ArrayLike | None, like: jax.Array):
  """log p_k for a uniform prior (None) or the given logits: [..., K]."""
  if prior_logits is None:
    k = like.shape[-1]
    return jnp.full((k,), -jnp.log(float(k)), like.dtype)
  return jax.nn.log_softmax(jnp.asarray(prior_logits), axis=-1)


def _harden(y: jax.Array) -> jax.Array:
  """one_hot(argmax y) forward, the gradient of y backward.

  Written hard + (y - stop_gradient(y)): the bracket is exactly 0 in the
  forward pass, so the result is exactly one-hot.
  """
  hard = jax.nn.one_hot(jnp.argmax(y, axis=-1), y.shape[-1], dtype=y.dtype)
  return hard + (y - jax.lax.stop_gradient(y))


def gumbel_max_sample(key: jax.Array, logits: ArrayLike, *,
                      num_samples: int | None = None) -> jax.Array:
  """Exact categorical sample argmax_k(logits_k + g_k), g ~ Gumbel(0, 1).

  Args:
    key: PRNG key.
    logits: <float>[..., K], unnormalised log-probabilities.
    num_samples: if given, a leading sample axis of this size is added.

  Returns:
    <int32>[...] class indices, or <int32>[num_samples, ...].
  """
  logits = jnp.asarray(logits)
  g = jax.random.gumbel(key, _noise_shape(logits, num_samples), logits.dtype)
  return jnp.argmax(logits + g, axis=-1)


def gumbel_softmax_sample(key: jax.Array, logits: ArrayLike, *,
                          temperature: ArrayLike, hard: bool = False,
                          num_samples: int | None = None) -> jax.Array:
  """Gumbel-softmax y = softmax((logits + g) / tau), g ~ Gumbel(0, 1)^K.

  Jang et al. (2017), eq. (1); the Concrete distribution of Maddison et al.
  (2017). With `hard`, the forward value is one_hot(argmax y), which is an
  exact Gumbel-max sample of Categorical(softmax(logits)) whatever tau, and
  the gradient is that of the relaxed y (straight-through Gumbel-softmax,
  Jang et al. section 2.2).

  Args:
    key: PRNG key.
    logits: <float>[..., K].
    temperature: tau > 0, a scalar (may be a traced, annealed value).
    hard: straight-through one-hot output.
    num_samples: if given, a leading sample axis of this size is added.

  Returns:
    <float>[..., K] on the simplex (one-hot if `hard`), or
    <float>[num_samples, ..., K].
  """
  logits = jnp.asarray(logits)
  g = jax.random.gumbel(key, _noise_shape(logits, num_samples), logits.dtype)
  y = jax.nn.softmax((logits + g) / jnp.asarray(temperature, logits.dtype),
                     axis=-1)
  return _harden(y) if hard else y


def straight_through_categorical_sample(key: jax.Array, logits: ArrayLike, *,
                                        num_samples: int | None = None
                                        ) -> jax.Array:
  """Exact one-hot sample forward, gradient of softmax(logits) backward.

  z = one_hot(c) + (p - stop_gradient(p)), c ~ Categorical(p) by Gumbel-max,
  p = softmax(logits) (Bengio et al., 2013). No temperature.

  Returns:
    <float>[..., K] exactly one-hot, or <float>[num_samples, ..., K].
  """
  logits = jnp.asarray(logits)
  codes = gumbel_max_sample(key, logits, num_samples=num_samples)
  probs = jax.nn.softmax(logits, axis=-1)
  hard = jax.nn.one_hot(codes, logits.shape[-1], dtype=logits.dtype)
  return hard + (probs - jax.lax.stop_gradient(probs))


def categorical_log_prob(z: ArrayLike, logits: ArrayLike) -> jax.Array:
  """Exact log-probability of the code argmax_k z, summed over D: [...].

  Args:
    z: <float>[..., D, K], one-hot codes (or any points of the simplex, which
      are scored by their argmax, i.e. the code a Gumbel-softmax sample
      hardens to). The value is linear in the straight-through one-hot, so a
      gradient with respect to z passes through as for `_harden`.
    logits: <float>[..., D, K], broadcastable against z.
  """
  z = jnp.asarray(z)
  log_p = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
  return jnp.sum(_harden(z) * log_p, axis=(-2, -1))


def categorical_kl(logits_q: ArrayLike,
                   logits_p: ArrayLike | None = None) -> jax.Array:
  """KL(Cat(softmax(logits_q)) || Cat(p)) per variable, summed over K.

  Args:
    logits_q: <float>[..., K].
    logits_p: None for the uniform prior p_k = 1 / K, or logits broadcastable
      to `logits_q`.

  Returns:
    <float>[...]: sum_k q_k (log q_k - log p_k), to full relative precision
    near the prior too (`numerics.softmax_kl`).
  """
  logits_q = jnp.asarray(logits_q)
  if logits_p is None:                # uniform: any constant logits
    logits_p = jnp.zeros(logits_q.shape[-1:], logits_q.dtype)
  return numerics.softmax_kl(logits_q, logits_p)


def categorical_entropy(logits: ArrayLike) -> jax.Array:
  """-sum_k q_k log q_k per variable: <float>[..., K] -> [...]."""
  log_q = jax.nn.log_softmax(jnp.asarray(logits), axis=-1)
  return -jnp.sum(jnp.exp(log_q) * log_q, axis=-1)


@flax.struct.dataclass
class GumbelSoftmaxPosterior:
  """q(z | x) = prod_d Cat(z_d; softmax(logits_d)), D variables of K classes.

  Implements `vae_jax.distributions.base.Posterior` with D_flat = D * K:
  `sample` returns flattened one-hot (or relaxed) codes <float>[S, B, D * K],
  `log_prob` and `prior_log_prob` take [..., B, D * K], `mean` is the
  flattened probabilities [B, D * K]; `kl_per_dim` is per categorical
  variable, [B, D].

  Density used by `log_prob` / `prior_log_prob`: the exact categorical
  log-probability of the code argmax_k z_{d,k}, not the relaxed Concrete
  density of Maddison et al. For hard (straight-through) samples this is the
  density of the sample itself, so the importance-weighted bound of
  `vae_jax.diagnostics.iw` is a bound on the discrete model. For relaxed
  samples (`hard=False`) the decoder sees a relaxed z while the weights use
  the density of its hardened code, which is not a bound on anything;
  evaluate such a model with `posterior.replace(hard=True)`, i.e. the
  discrete model its relaxation approximates.

  Attributes:
    logits: <float>[B, D, K].
    temperature: <float>[] Gumbel-softmax tau (an array, not a static field,
      so an annealed value does not recompile).
    prior_logits: None for the uniform prior, or logits broadcastable to
      [B, D, K].
    hard: static; straight-through one-hot samples instead of relaxed ones.
    st_gradient: static, used when `hard`: 'gumbel_softmax' (the gradient of
      the relaxed sample at `temperature`, Jang et al.) or 'probs' (the
      gradient of softmax(logits), Bengio et al.; `temperature` unused).
  """
  logits: jax.Array
  temperature: jax.Array
  prior_logits: jax.Array | None = None
  hard: bool = flax.struct.field(pytree_node=False, default=False)
  st_gradient: str = flax.struct.field(pytree_node=False,
                                       default='gumbel_softmax')

  def _unflatten(self, z: jax.Array) -> jax.Array:
    return z.reshape(z.shape[:-1] + self.logits.shape[-2:])

  def _flatten(self, z: jax.Array) -> jax.Array:
    return z.reshape(z.shape[:-2] + (-1,))

  def sample(self, key: jax.Array, num_samples: int) -> jax.Array:
    """<float>[S, B, D * K]: flattened one-hot (hard) or relaxed codes."""
    if self.st_gradient not in ST_GRADIENTS:
      raise ValueError(f'GumbelSoftmaxPosterior: st_gradient='
                       f'{self.st_gradient!r}, choose one of {ST_GRADIENTS}')
    if self.hard and self.st_gradient == 'probs':
      z = straight_through_categorical_sample(key, self.logits,
                                              num_samples=num_samples)
    else:
      z = gumbel_softmax_sample(key, self.logits, temperature=self.temperature,
                                hard=self.hard, num_samples=num_samples)
    return self._flatten(z)

  def discrete(self) -> 'GumbelSoftmaxPosterior':
    """The discrete model's posterior: same logits, exactly one-hot samples.

    Hard samples are Gumbel-max draws of Categorical(softmax(logits)), so
    `log_prob` is their exact density (see `base.exact_density`).
    """
    return self if self.hard else self.replace(hard=True)

  def log_prob(self, z: jax.Array) -> jax.Array:
    """log q(argmax code of z | x) for z <float>[..., B, D * K]: [..., B]."""
    return categorical_log_prob(self._unflatten(z), self.logits)

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    z = self._unflatten(z)
    return categorical_log_prob(z, _prior_log_probs(self.prior_logits, z))

  def kl_per_dim(self) -> jax.Array:
    return categorical_kl(self.logits, self.prior_logits)

  def kl(self) -> jax.Array:
    return jnp.sum(self.kl_per_dim(), axis=-1)

  def entropy(self) -> jax.Array:
    return jnp.sum(categorical_entropy(self.logits), axis=-1)

  def mean(self) -> jax.Array:
    """The probabilities softmax(logits), flattened: <float>[B, D * K]."""
    return self._flatten(jax.nn.softmax(self.logits, axis=-1))

  def mode(self) -> jax.Array:
    """The most probable code, one-hot and flattened: <float>[B, D * K]."""
    return self._flatten(jax.nn.one_hot(jnp.argmax(self.logits, axis=-1),
                                        self.logits.shape[-1],
                                        dtype=self.logits.dtype))
