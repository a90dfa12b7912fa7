"""RNN language model: the baseline every VAE must beat."""

import flax.linen as nn
import jax

from vae_jax.models.decoder import Decoder


class RNNLanguageModel(nn.Module):
  """log p(x) = sum_t log p(x_t | x_<t) with a recurrent decoder.

  Returns the same per-example dictionary as the VAE (without the latent
  terms), so one loss and one loop serve both.
  """
  decoder: Decoder

  def __call__(self, ids: jax.Array, length: jax.Array, *,
               deterministic: bool = True) -> dict[str, jax.Array]:
    """Returns {'rec': <float>[B] negative log-likelihood per sentence}."""
    return {'rec': -self.decoder(ids, length, None,
                                 deterministic=deterministic)}

  def step(self, token, state, z=None):
    return self.decoder.step(token, state, None)

  def initial_state(self, z, batch: int):
    return self.decoder.initial_state(None, batch)
