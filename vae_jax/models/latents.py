"""Latent heads: encoder features -> a posterior object.

Each head returns a pytree implementing
`vae_jax.distributions.base.Posterior`; the VAE, the losses and the
diagnostics only use that interface. New families register in `LATENTS`.
"""

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.distributions.gaussian import DiagGaussianPosterior
from vae_jax.models.initializers import symmetric_uniform


class GaussianLatent(nn.Module):
  """Linear map to the mean and log-variance of a diagonal Gaussian.

  As in He et al. (2019): one bias-free linear layer to 2D outputs.
  """
  latent_dim: int
  init_scale: float = 0.01

  @nn.compact
  def __call__(self, features: jax.Array) -> DiagGaussianPosterior:
    """<float>[B, H] -> posterior with batch [B], event [D]."""
    out = nn.Dense(2 * self.latent_dim, use_bias=False,
                   kernel_init=symmetric_uniform(self.init_scale))(features)
    loc, log_var = jnp.split(out, 2, axis=-1)
    return DiagGaussianPosterior(loc=loc, log_var=log_var)


LATENTS: dict[str, Callable[..., nn.Module]] = {
    'gaussian': GaussianLatent,
}


def make_latent(name: str, latent_dim: int, **kwargs) -> nn.Module:
  if name not in LATENTS:
    raise ValueError(f'unknown latent family {name!r}: choose one of '
                     f'{sorted(LATENTS)}')
  return LATENTS[name](latent_dim=latent_dim, **kwargs)
