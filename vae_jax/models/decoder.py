"""Recurrent decoder p(x | z): the RNN language model when z is None."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.models.embedder import Embedder
from vae_jax.models.initializers import symmetric_uniform
from vae_jax.models.recurrent import Recurrent, state_from_vector, zero_state


def token_log_probs(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """log softmax(logits)[target]: <float>[..., V], <int32>[...] -> [...]."""
  target_logits = jnp.take_along_axis(logits, targets[..., None], axis=-1)
  return target_logits[..., 0] - jax.nn.logsumexp(logits, axis=-1)


def length_mask(length: jax.Array, max_len: int) -> jax.Array:
  """<bool>[B, T]: position t < length[b]."""
  return jnp.arange(max_len)[None, :] < length[:, None]


class Decoder(nn.Module):
  """Embedder -> recurrent layer -> dropout -> vocabulary projection.

  A latent z (if given) enters in two selectable ways, both used by the code
  of He et al. (2019) and Li et al. (2019): as the initial state
  (c0 = W z, h0 = tanh(c0)) and concatenated to every input embedding.

  Attributes:
    vocab_size: V.
    embed_dim: E.
    hidden_size: H.
    cell_type: 'rnn', 'gru' or 'lstm'.
    dropout_in: dropout on input embeddings.
    dropout_out: dropout on recurrent outputs before the projection.
    word_dropout: Bowman word dropout on the input ids.
    z_init_state: condition the initial state on z.
    z_concat_input: feed z with every input.
    init_scale: U(-s, s) init of recurrent and linear weights (He et al.: 0.01).
    embed_init_scale: U(-s, s) init of the embeddings (He et al.: 0.1).
    unk_id, pad_id, bos_id: special ids (word dropout replaces with unk and
      never touches pad and bos).
    unroll: scan unroll of the recurrence.
  """
  vocab_size: int
  embed_dim: int
  hidden_size: int
  cell_type: str = 'lstm'
  dropout_in: float = 0.0
  dropout_out: float = 0.0
  word_dropout: float = 0.0
  z_init_state: bool = True
  z_concat_input: bool = True
  init_scale: float = 0.01
  embed_init_scale: float = 0.1
  unk_id: int = 3
  pad_id: int = 0
  bos_id: int = 1
  unroll: int = 1

  def setup(self):
    init = symmetric_uniform(self.init_scale)
    self.embedder = Embedder(
        self.vocab_size, self.embed_dim,
        word_dropout_rate=self.word_dropout, dropout_rate=self.dropout_in,
        unk_id=self.unk_id, protected_ids=(self.pad_id, self.bos_id),
        embedding_init=symmetric_uniform(self.embed_init_scale))
    self.rnn = Recurrent(self.hidden_size, self.cell_type, kernel_init=init,
                         unroll=self.unroll)
    self.init_proj = nn.Dense(self.hidden_size, use_bias=False,
                              kernel_init=init)
    self.out_dropout = nn.Dropout(self.dropout_out)
    self.output = nn.Dense(self.vocab_size, kernel_init=init, bias_init=init)

  def initial_state(self, z: jax.Array | None, batch: int):
    if z is not None and self.z_init_state:
      return state_from_vector(self.cell_type, self.init_proj(z))
    return zero_state(self.cell_type, batch, self.hidden_size)

  def hidden(self, input_ids: jax.Array, z: jax.Array | None, *,
             deterministic: bool, state=None):
    """Recurrent outputs. <int32>[N, T] -> (<float>[N, T, H], final state)."""
    x = self.embedder(input_ids, deterministic=deterministic)
    if state is None:
      state = self.initial_state(z, input_ids.shape[0])
    const = z if (z is not None and self.z_concat_input) else None
    return self.rnn(x, initial_state=state, constant_inputs=const)

  def logits(self, h: jax.Array, *, deterministic: bool) -> jax.Array:
    return self.output(self.out_dropout(h, deterministic=deterministic))

  def __call__(self, ids: jax.Array, length: jax.Array,
               z: jax.Array | None = None, *,
               deterministic: bool = True) -> jax.Array:
    """Per-sequence log p(x | z), teacher forced.

    Args:
      ids: <int32>[N, L]: bos, w_1..w_n, eos, pad...
      length: <int32>[N]: n + 1 predicted tokens (eos counted, bos not);
        0 for padding rows.
      z: optional <float>[N, D].
      deterministic: disables dropout and word dropout.

    Returns:
      <float>[N]: sum over the first `length` targets of log p(x_t | x_<t, z).
      Positions past `length` never change it.
    """
    inputs, targets = ids[:, :-1], ids[:, 1:]
    h, _ = self.hidden(inputs, z, deterministic=deterministic)
    logp = token_log_probs(self.logits(h, deterministic=deterministic),
                           targets)
    mask = length_mask(length, targets.shape[1])
    return jnp.sum(jnp.where(mask, logp, 0.0), axis=-1)

  def step(self, token: jax.Array, state, z: jax.Array | None):
    """One decoding step (no dropout). <int32>[N] -> (logits [N, V], state)."""
    h, state = self.hidden(token[:, None], z, deterministic=True, state=state)
    return self.logits(h[:, 0], deterministic=True), state
