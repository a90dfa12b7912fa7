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
    """E_q[z], <float>[B, D] (for discrete codes: their probabilities).

    Active units and the latent maps use it."""

  def mode(self) -> jax.Array:
    """The most probable z, a point the decoder was trained on, <float>[B, D]:
    the mean for a Gaussian, the mean direction for a vMF (whose mean lies
    inside the ball), the most probable code for discrete latents.
    Reconstructions and interpolations decode it."""


def exact_density(posterior):
  """The posterior whose samples have exactly the density `log_prob` gives.

  A relaxed Gumbel-softmax posterior (`hard=False`) scores a relaxed sample
  by the probability of its hard code, so p(x | relaxed z) p(c) / q(c) is
  not an importance weight of any model. Evaluation (the IW-NLL, the
  evaluation ELBO) therefore scores the discrete model the relaxation
  approximates: the same logits with hard one-hot samples. Families whose
  samples already have the density of `log_prob` (Gaussian, vMF,
  Bernoulli, straight-through categorical) are returned unchanged.
  """
  discrete = getattr(posterior, 'discrete', None)
  return posterior if discrete is None else discrete()
