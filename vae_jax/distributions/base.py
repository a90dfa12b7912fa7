"""The interface every latent family implements.

A latent head (a Flax module in `vae_jax.models.latents`) maps encoder
features to a *posterior object*: a pytree (flax.struct dataclass) whose
methods are plain jnp code. The training loop, the objectives and the
diagnostics only use the methods below, so a new family (vMF, Bernoulli,
categorical, ...) slots in without touching them.

Shapes: the posterior has batch shape [B] and event shape [D]. Samples carry
a leading sample axis: [S, B, D]. `log_prob` broadcasts over leading axes, so
`posterior.log_prob(z[:, None, :])` with z [N, D] gives the [N, B] matrix of
log q(z_n | x_b) that the mutual-information estimators need.
"""

from typing import Protocol

import jax


class Posterior(Protocol):
  """q(z | x) for a batch of inputs, together with its prior p(z)."""

  def sample(self, key: jax.Array, num_samples: int) -> jax.Array:
    """Reparameterized (or straight-through) samples, <float>[S, B, D]."""

  def log_prob(self, z: jax.Array) -> jax.Array:
    """log q(z | x), summed over the event axis: [..., B]."""

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    """log p(z), summed over the event axis: [...]."""

  def kl(self) -> jax.Array:
    """KL(q(z | x) || p(z)) per example, <float>[B]."""

  def kl_per_dim(self) -> jax.Array:
    """KL per example and latent dimension, <float>[B, D] (for free bits)."""

  def entropy(self) -> jax.Array:
    """Entropy of q(z | x) per example, <float>[B]."""

  def mean(self) -> jax.Array:
    """The posterior mean (or mode for discrete codes), <float>[B, D]."""
