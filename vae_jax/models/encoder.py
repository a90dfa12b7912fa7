"""Recurrent inference network: the last hidden state of an RNN over x."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.models.embedder import Embedder
from vae_jax.models.initializers import symmetric_uniform
from vae_jax.models.recurrent import Recurrent


class Encoder(nn.Module):
  """Reads bos, w_1..w_n, eos and returns the hidden state at eos.

  Taking the output at position `length` (the eos) instead of running the
  scan to the padded end makes the features independent of padding without
  masking the recurrence.

  Attributes:
    vocab_size, embed_dim, hidden_size, cell_type: as the decoder's.
    init_scale, embed_init_scale: U(-s, s) initialisation scales.
    unroll, lstm_custom_vjp, lstm_impl: see `Recurrent`.
  """
  vocab_size: int
  embed_dim: int
  hidden_size: int
  cell_type: str = 'lstm'
  init_scale: float = 0.01
  embed_init_scale: float = 0.1
  unroll: int = 1
  lstm_custom_vjp: bool = True
  lstm_impl: str = 'scan'

  @nn.compact
  def __call__(self, ids: jax.Array, length: jax.Array) -> jax.Array:
    """<int32>[B, L], <int32>[B] -> <float>[B, H]."""
    x = Embedder(self.vocab_size, self.embed_dim,
                 embedding_init=symmetric_uniform(self.embed_init_scale),
                 name='embedder')(ids, deterministic=True)
    h, _ = Recurrent(self.hidden_size, self.cell_type,
                     kernel_init=symmetric_uniform(self.init_scale),
                     unroll=self.unroll, lstm_custom_vjp=self.lstm_custom_vjp,
                     lstm_impl=self.lstm_impl,
                     name='rnn')(x)
    last = jnp.clip(length, 0, ids.shape[1] - 1)
    return jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]
