"""Recurrent decoder p(x | z): the RNN language model when z is None.

The vocabulary projection dominates the cost of these models (2 H V of the
~2 (E + H) 4H + 2 H V flops a token). It is done once over all positions
and fused with its log-softmax and the target gather
(`projected_target_log_probs`): the forward pass keeps exp(logits - shift)
for the backward pass, which is then softmax - onehot (one elementwise pass,
no scatter, no second exp) followed by the two products.
"""

from typing import Callable

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


# A row's shift is at most this far above its largest logit, so the largest
# term of the softmax sum is >= e^-60: float32 keeps every term down to e^-87
# (normal numbers), and terms lost below that are < e^-27 of the sum.
_MAX_SHIFT_GAP = 60.0


def _fused_forward(h, kernel, bias, targets, *, keep_exp: bool = True):
  """log p[target] [N]; with keep_exp also, for the backward pass,
  e = exp(logits - shift) [N, V] and its row sums s [N, 1] (softmax = e / s).
  """
  # The target logit as its own [N, H] row product: gathering it from the
  # [N, V] logits makes XLA:CPU materialise them once more (~15 ms at N=704).
  target_logits = (jnp.sum(h * jnp.take(kernel, targets, axis=1).T, axis=-1)
                   + bias[targets])
  # log-sum-exp needs a shift near the row max. The max of logits = hW + b
  # would make XLA:CPU write hW + b out in full (~10 ms at N = 704); the max
  # of hW does not, and bounds it: with m = max_v (hW)_v,
  #   m + min b <= max logit <= m + max b,   target logit <= max logit.
  # shift = min(m + max b, max(m + min b, target logit) + 60) is at most 60
  # above the max (no precision lost) and can fall below it by more than the
  # 88 that exp overflows at only if the bias spans more than 148 nats.
  raw = h @ kernel
  m = jnp.max(raw, axis=-1)
  shift = jnp.minimum(
      m + jnp.max(bias),
      jnp.maximum(m + jnp.min(bias), target_logits) + _MAX_SHIFT_GAP)
  e = jnp.exp(raw + bias - shift[:, None])
  s = jnp.sum(e, axis=-1, keepdims=True)
  return (target_logits - shift - jnp.log(s[:, 0]),
          e if keep_exp else None, s)


@jax.custom_vjp
def _projected_target_log_probs(h, kernel, bias, targets):
  return _fused_forward(h, kernel, bias, targets, keep_exp=False)[0]


def _projected_fwd(h, kernel, bias, targets):
  logp, e, s = _fused_forward(h, kernel, bias, targets)
  return logp, (h, kernel, e, 1.0 / s, targets)


def _projected_bwd(res, g):
  h, kernel, e, inv_s, targets = res
  onehot = jax.lax.broadcasted_iota(jnp.int32, e.shape, 1) == targets[:, None]
  # d log p[target] / d logits = onehot - softmax.
  d_logits = g[:, None] * (onehot.astype(e.dtype) - e * inv_s)
  d_h = d_logits @ kernel.T
  d_kernel = h.T @ d_logits
  return d_h, d_kernel, jnp.sum(d_logits, axis=0), None


_projected_target_log_probs.defvjp(_projected_fwd, _projected_bwd)


def projected_target_log_probs(h: jax.Array, kernel: jax.Array,
                               bias: jax.Array,
                               targets: jax.Array) -> jax.Array:
  """log softmax(h W + b)[target], fused; the logits are never returned.

  The same function as `token_log_probs(h @ kernel + bias, targets)` with a
  cheaper gradient (see the module docstring).

  Args:
    h: <float>[..., H].
    kernel: <float>[H, V].
    bias: <float>[V].
    targets: <int32>[...], the leading shape of h.

  Returns:
    <float>[...].
  """
  lead = h.shape[:-1]
  flat = _projected_target_log_probs(h.reshape(-1, h.shape[-1]), kernel,
                                     bias, targets.reshape(-1))
  return flat.reshape(lead)


def summed_target_log_probs(h: jax.Array, kernel: jax.Array, bias: jax.Array,
                            targets: jax.Array, length: jax.Array, *,
                            rows_per_block: int = 1024) -> jax.Array:
  """Per-sentence sums of log softmax(h W + b)[target] for many samples.

  Projects only the real positions (t < length[n]), a block of positions for
  every sample at a time, in a loop whose trip count is the number of real
  positions: padding costs nothing (a fixed-shape batch of PTB is ~17 %
  padding) and the [rows, V] logits of a block stay small. For evaluation
  (the loop is not reverse-differentiable).

  Args:
    h: <float>[S, N, T, H]: sample s of sentence n at position t.
    kernel: <float>[H, V].
    bias: <float>[V].
    targets: <int32>[N, T].
    length: <int32>[N] real positions of each sentence.
    rows_per_block: S * (positions a block), rounded down to a multiple of S.

  Returns:
    <float>[S, N]: sum over t < length[n] of log p(targets[n, t] | h[s, n, t]).
  """
  samples, n, t, width = h.shape
  per_block = max(1, rows_per_block // samples)
  num_blocks = -(-(n * t) // per_block)
  real = length_mask(length, t).reshape(-1)  # [N*T], position n*T + t
  count = jnp.sum(real.astype(jnp.int32))
  # Real positions first, in order; the tail is padding (masked below).
  order = jnp.argsort(jnp.logical_not(real), stable=True).astype(jnp.int32)
  order = jnp.pad(order, (0, num_blocks * per_block - n * t))
  flat_h = h.reshape(samples, n * t, width)
  flat_targets = targets.reshape(-1)

  # Per-call constants of the shift bounds (see `_fused_forward`): here the
  # shift needs no reduction over V per block, only |h| per row.
  w_norm = jnp.sqrt(jnp.max(jnp.sum(kernel * kernel, axis=0)))
  w_mean, b_mean = jnp.mean(kernel, axis=1), jnp.mean(bias)
  b_max = jnp.max(bias)

  def block_log_probs(rows, tgt_pos, target_logits):
    # upper >= every logit (Cauchy-Schwarz); lower <= the max (the target's
    # logit, the mean logit); shift = min(upper, lower + 60) is never more
    # than 60 above the max. exp can overflow if some logit is 88 above the
    # shift (logits spread over > 148 nats): then the block is redone with
    # the shift of `_fused_forward`, which holds unless the bias spans more.
    upper = jnp.sqrt(jnp.sum(rows * rows, axis=-1)) * w_norm + b_max
    lower = jnp.maximum(rows @ w_mean + b_mean, target_logits)
    shift = jnp.minimum(upper, lower + _MAX_SHIFT_GAP)
    s = jnp.sum(jnp.exp(rows @ kernel + bias - shift[:, None]), axis=-1)
    return jax.lax.cond(
        jnp.all(s < jnp.inf),
        lambda: target_logits - shift - jnp.log(s),
        lambda: _fused_forward(rows, kernel, bias, tgt_pos,
                               keep_exp=False)[0])

  def block(j, out):
    pos = jax.lax.dynamic_slice(order, (j * per_block,), (per_block,))
    rows = jnp.take(flat_h, pos, axis=1)  # [S, P, H]
    tgt = flat_targets[pos]  # [P], the same for every sample
    # Target logits from the P target columns (gathered once, not S times).
    target_logits = (jnp.einsum('sph,hp->sp', rows, jnp.take(kernel, tgt, 1))
                     + bias[tgt])
    logp = block_log_probs(
        rows.reshape(samples * per_block, width),
        jnp.broadcast_to(tgt, (samples, per_block)).reshape(-1),
        target_logits.reshape(-1))
    return jax.lax.dynamic_update_slice(
        out, logp.reshape(samples, per_block), (0, j * per_block))

  out = jax.lax.fori_loop(
      0, (count + per_block - 1) // per_block, block,
      jnp.zeros((samples, num_blocks * per_block), h.dtype))
  out = jnp.where(jnp.arange(out.shape[1]) < count, out, 0.0)
  return jnp.zeros((samples, n), h.dtype).at[:, order // t].add(out)


class VocabProjection(nn.Module):
  """h W + b onto the vocabulary: the parameters of an `nn.Dense` (same names,
  shapes and initial values), plus the fused log-probability of targets.

  Attributes:
    in_features: H.
    vocab_size: V.
  """
  in_features: int
  vocab_size: int
  kernel_init: Callable[..., jax.Array] = nn.initializers.lecun_normal()
  bias_init: Callable[..., jax.Array] = nn.initializers.zeros

  def setup(self):
    self.kernel = self.param('kernel', self.kernel_init,
                             (self.in_features, self.vocab_size))
    self.bias = self.param('bias', self.bias_init, (self.vocab_size,))

  def __call__(self, h: jax.Array) -> jax.Array:
    """<float>[..., H] -> logits <float>[..., V]."""
    return h @ self.kernel + self.bias

  def target_log_probs(self, h: jax.Array, targets: jax.Array) -> jax.Array:
    """<float>[..., H], <int32>[...] -> log softmax(logits)[target] [...]."""
    return projected_target_log_probs(h, self.kernel, self.bias, targets)

  def summed_target_log_probs(self, h: jax.Array, targets: jax.Array,
                              length: jax.Array) -> jax.Array:
    """See the module-level `summed_target_log_probs`: [S, N]."""
    return summed_target_log_probs(h, self.kernel, self.bias, targets, length)


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
    fused_output: score targets with `projected_target_log_probs` (faster;
      same numbers) instead of materialising logits and differentiating
      `token_log_probs`.
    lstm_custom_vjp, lstm_impl: see `Recurrent`.
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
  fused_output: bool = True
  lstm_custom_vjp: bool = True
  lstm_impl: str = 'scan'

  def setup(self):
    init = symmetric_uniform(self.init_scale)
    self.embedder = Embedder(
        self.vocab_size, self.embed_dim,
        word_dropout_rate=self.word_dropout, dropout_rate=self.dropout_in,
        unk_id=self.unk_id, protected_ids=(self.pad_id, self.bos_id),
        embedding_init=symmetric_uniform(self.embed_init_scale))
    self.rnn = Recurrent(self.hidden_size, self.cell_type, kernel_init=init,
                         unroll=self.unroll,
                         lstm_custom_vjp=self.lstm_custom_vjp,
                         lstm_impl=self.lstm_impl)
    self.init_proj = nn.Dense(self.hidden_size, use_bias=False,
                              kernel_init=init)
    self.out_dropout = nn.Dropout(self.dropout_out)
    self.output = VocabProjection(self.hidden_size, self.vocab_size,
                                  kernel_init=init, bias_init=init)

  def initial_state(self, z: jax.Array | None, batch: int):
    if z is not None and self.z_init_state:
      return state_from_vector(self.cell_type, self.init_proj(z))
    return zero_state(self.cell_type, batch, self.hidden_size)

  def hidden(self, input_ids: jax.Array, z: jax.Array | None, *,
             deterministic: bool, state=None, samples: int = 1):
    """Recurrent outputs. <int32>[N, T] -> (<float>[S*N, T, H], final state).

    z: None, or <float>[S*N, D] (row s*N + n conditions sentence n).
    """
    x = self.embedder(input_ids, deterministic=deterministic)
    if state is None:
      state = self.initial_state(z, samples * input_ids.shape[0])
    const = z if (z is not None and self.z_concat_input) else None
    return self.rnn(x, initial_state=state, constant_inputs=const,
                    samples=samples)

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
    if self.fused_output:
      logp = self.output.target_log_probs(
          self.out_dropout(h, deterministic=deterministic), targets)
    else:
      logp = token_log_probs(self.logits(h, deterministic=deterministic),
                             targets)
    mask = length_mask(length, targets.shape[1])
    return jnp.sum(jnp.where(mask, logp, 0.0), axis=-1)

  def score_samples(self, ids: jax.Array, length: jax.Array,
                    z: jax.Array) -> jax.Array:
    """log p(x | z) of each sentence under each of S latent samples.

    The same numbers as calling the decoder on the ids repeated S times
    (deterministic), for less work: the embedding and input projection are
    computed once per sentence, not per sample, and only real positions
    reach the vocabulary projection (`summed_target_log_probs`). For
    evaluation (not reverse-differentiable).

    Args:
      ids: <int32>[N, L].
      length: <int32>[N].
      z: <float>[S, N, D].

    Returns:
      <float>[S, N].
    """
    samples, n = z.shape[0], ids.shape[0]
    inputs, targets = ids[:, :-1], ids[:, 1:]
    h, _ = self.hidden(inputs, z.reshape(samples * n, z.shape[-1]),
                       deterministic=True, samples=samples)
    h = h.reshape((samples, n) + h.shape[1:])
    return self.output.summed_target_log_probs(h, targets, length)

  def step(self, token: jax.Array, state, z: jax.Array | None):
    """One decoding step (no dropout). <int32>[N] -> (logits [N, V], state)."""
    h, state = self.hidden(token[:, None], z, deterministic=True, state=state)
    return self.logits(h[:, 0], deterministic=True), state
