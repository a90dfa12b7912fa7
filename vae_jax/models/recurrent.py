"""Single-layer RNN, GRU and LSTM over a whole sequence.

The input projection of every time step is one large matrix multiply done
before the scan; the scanned body holds only the hidden-to-hidden product and
the gate arithmetic. Inputs that are constant over time (a latent code fed to
every step) are projected once per sequence and broadcast over time, which is
the same function as concatenating them to every input but T times cheaper.

The LSTM recurrence has a hand-written backward pass (`lstm_scan`): the
reverse scan holds only the [B, 4H] x [4H, H] product that carries the
gradient to the previous step, and the recurrent kernel's gradient is one
[H, T*B] x [T*B, 4H] product after it, instead of T small products
accumulated inside the loop (what differentiating `lax.scan` gives). Same
function, same gradients up to float summation order
(tests/models/test_fast_paths.py).

On a GPU, `lstm_impl='cudnn'` runs the LSTM as one cuDNN call
(`jax.experimental.rnn.lstm`) over the same parameters: the kernels are
packed into cuDNN's flat weight vector at each call (differentiably, so
checkpoints and optimiser state are the same for both paths), and constant
inputs are concatenated to every input, as cuDNN has no per-row bias.
Every row runs the full padded length, as the scan does, so the outputs are
the same function (tests/models/test_cudnn_lstm.py, run on a GPU).
"""

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.models.initializers import symmetric_uniform

CELL_TYPES = ('rnn', 'gru', 'lstm')
LSTM_IMPLS = ('scan', 'cudnn')
_NUM_GATES = {'rnn': 1, 'gru': 3, 'lstm': 4}

Initializer = Callable[..., jax.Array]


def num_gates(cell_type: str) -> int:
  if cell_type not in _NUM_GATES:
    raise ValueError(
        f'unknown cell type {cell_type!r}: choose one of {CELL_TYPES}')
  return _NUM_GATES[cell_type]


def zero_state(cell_type: str, batch: int, hidden_size: int,
               dtype: Any = jnp.float32) -> tuple[jax.Array, ...]:
  """The zero initial state: (c, h) for the LSTM, (h,) otherwise."""
  h = jnp.zeros((batch, hidden_size), dtype)
  return (h, h) if cell_type == 'lstm' else (h,)


def state_from_vector(cell_type: str, c0: jax.Array) -> tuple[jax.Array, ...]:
  """Initial state from a projected latent: c0 = W z, h0 = tanh(c0).

  This is the wiring of He et al. (2019) and Li et al. (2019); for cells
  without a memory cell the state is tanh(W z).
  """
  h0 = jnp.tanh(c0)
  return (c0, h0) if cell_type == 'lstm' else (h0,)


def _lstm_cell(c: jax.Array, h: jax.Array, x_proj: jax.Array,
               w_hh: jax.Array):
  """One LSTM step; returns (c, h, activated gates [B, 4H] as i, f, g, o)."""
  gates = x_proj + h @ w_hh
  i, f, g, o = jnp.split(gates, 4, axis=-1)
  i, f, g, o = (jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g),
                jax.nn.sigmoid(o))
  c = f * c + i * g
  h = o * jnp.tanh(c)
  return c, h, (i, f, g, o)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def lstm_scan(unroll: int, x_proj: jax.Array, w_hh: jax.Array, c0: jax.Array,
              h0: jax.Array):
  """The LSTM recurrence over pre-projected inputs.

  Args:
    unroll: scan unroll factor.
    x_proj: <float>[T, B, 4H], x_t W_in + b (+ constant inputs), gates in
      the order i, f, g, o.
    w_hh: <float>[H, 4H].
    c0, h0: <float>[B, H] initial state.

  Returns:
    (outputs h_1..h_T <float>[T, B, H], (c_T, h_T)).
  """
  def step(carry, xp):
    c, h, _ = _lstm_cell(*carry, xp, w_hh)
    return (c, h), h
  (c, h), outputs = jax.lax.scan(step, (c0, h0), x_proj, unroll=unroll)
  return outputs, (c, h)


def _lstm_scan_fwd(unroll, x_proj, w_hh, c0, h0):
  def step(carry, xp):
    c, h, act = _lstm_cell(*carry, xp, w_hh)
    return (c, h), (h, c, jnp.concatenate(act, axis=-1))
  (c, h), (hs, cs, acts) = jax.lax.scan(step, (c0, h0), x_proj, unroll=unroll)
  return (hs, (c, h)), (w_hh, c0, h0, hs, cs, acts)


def _lstm_scan_bwd(unroll, res, cotangents):
  w_hh, c0, h0, hs, cs, acts = res
  d_outputs, (dc_last, dh_last) = cotangents
  c_prev = jnp.concatenate([c0[None], cs[:-1]], axis=0)
  w_hh_t = w_hh.T

  def step(carry, inputs):
    dc, dh = carry  # d loss / d (c_t, h_t) from the steps after t
    dh_t, act, c_p, c_t = inputs
    i, f, g, o = jnp.split(act, 4, axis=-1)
    dh = dh + dh_t
    tanh_c = jnp.tanh(c_t)
    dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
    d_gates = jnp.concatenate([dc * g * i * (1.0 - i),
                               dc * c_p * f * (1.0 - f),
                               dc * i * (1.0 - g * g),
                               dh * tanh_c * o * (1.0 - o)], axis=-1)
    return (dc * f, d_gates @ w_hh_t), d_gates

  (dc0, dh0), d_gates = jax.lax.scan(
      step, (dc_last, dh_last), (d_outputs, acts, c_prev, cs),
      reverse=True, unroll=unroll)
  h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
  d_w_hh = jnp.einsum('tbh,tbg->hg', h_prev, d_gates)
  return d_gates, d_w_hh, dc0, dh0


lstm_scan.defvjp(_lstm_scan_fwd, _lstm_scan_bwd)


def _cudnn_lstm_call(x, h_0, c_0, weights, seq_lengths, **sizes):
  """`jax.experimental.rnn.lstm` on a GPU; a clear error elsewhere."""
  if jax.default_backend() != 'gpu':
    raise ValueError(
        "model.lstm_impl='cudnn' needs a GPU (jax.experimental.rnn); this "
        f"process runs on {jax.default_backend()!r}: use lstm_impl='scan'")
  from jax.experimental import rnn  # pylint: disable=g-import-not-at-top
  return rnn.lstm(x, h_0, c_0, weights, seq_lengths, **sizes)


def lstm_cudnn(inputs: jax.Array, w_in: jax.Array, w_hh: jax.Array,
               bias: jax.Array, c0: jax.Array, h0: jax.Array):
  """The LSTM as one cuDNN call (GPU only), on our parameter layout.

  Args:
    inputs: <float>[B, T, I] (constant inputs already concatenated).
    w_in: <float>[I, 4H]; w_hh: <float>[H, 4H]; bias: <float>[4H]; gates in
      the order i, f, g, o, which is cuDNN's.
    c0, h0: <float>[B, H].

  Returns:
    (outputs <float>[B, T, H], (c_T, h_T)).
  """
  batch, length, in_size = inputs.shape
  hidden = w_hh.shape[0]
  # cuDNN's flat layout for one layer: W_ih [4H, I], W_hh [4H, H], b_ih,
  # b_hh (one bias is enough: the second is zero).
  weights = jnp.concatenate([w_in.T.ravel(), w_hh.T.ravel(), bias,
                             jnp.zeros_like(bias)])
  seq_lengths = jnp.full((batch,), length, jnp.int32)
  y, h_n, c_n = _cudnn_lstm_call(
      inputs, h0[None], c0[None], weights, seq_lengths, input_size=in_size,
      hidden_size=hidden, num_layers=1, dropout=0.0, bidirectional=False)
  return y, (c_n[0], h_n[0])


class Recurrent(nn.Module):
  """A recurrent layer over time with a hoisted input projection.

  Attributes:
    hidden_size: H.
    cell_type: 'rnn' (tanh), 'gru' or 'lstm'.
    kernel_init: initializer of the input and recurrent kernels and biases.
    unroll: scan unroll factor (a speed knob; the function is unchanged).
    lstm_custom_vjp: differentiate the LSTM with `lstm_scan`'s hand-written
      backward pass (faster; same gradients) instead of through `lax.scan`.
    lstm_impl: 'scan' (XLA, any backend) or 'cudnn' (`lstm_cudnn`, GPU
      only; used for the LSTM with samples == 1, the scan otherwise).
  """
  hidden_size: int
  cell_type: str = 'lstm'
  kernel_init: Initializer = symmetric_uniform(0.01)
  bias_init: Initializer = nn.initializers.zeros
  unroll: int = 1
  lstm_custom_vjp: bool = True
  lstm_impl: str = 'scan'

  @nn.compact
  def __call__(self, inputs: jax.Array, *,
               initial_state: tuple[jax.Array, ...] | None = None,
               constant_inputs: jax.Array | None = None, samples: int = 1):
    """Runs the layer.

    Args:
      inputs: <float>[B, T, E].
      initial_state: (c, h) for the LSTM or (h,), each <float>[S*B, H];
        zeros when None.
      constant_inputs: optional <float>[S*B, C] fed at every step, as if
        concatenated to each input.
      samples: S. With S > 1 the layer runs S sequences per input row, one
        per row of the state and constant inputs (row s*B + b reads
        inputs[b]); the input projection is computed once for the B rows and
        shared (the importance-weighted NLL scores many latent samples of
        one sentence).

    Returns:
      (outputs <float>[S*B, T, H], final_state).
    """
    h_size = self.hidden_size
    g = num_gates(self.cell_type)
    if self.lstm_impl not in LSTM_IMPLS:
      raise ValueError(f'unknown lstm_impl {self.lstm_impl!r}: choose one of '
                       f'{LSTM_IMPLS}')
    batch = inputs.shape[0]
    rows = samples * batch
    w_in = self.param('input_kernel', self.kernel_init,
                      (inputs.shape[-1], g * h_size))
    w_hh = self.param('recurrent_kernel', self.kernel_init,
                      (h_size, g * h_size))
    bias = self.param('bias', self.bias_init, (g * h_size,))
    w_c = None
    if constant_inputs is not None:
      w_c = self.param('constant_kernel', self.kernel_init,
                       (constant_inputs.shape[-1], g * h_size))
      if constant_inputs.shape[0] != rows:
        raise ValueError(f'constant_inputs have {constant_inputs.shape[0]} '
                         f'rows; expected samples * batch = {rows}')
    if initial_state is None:
      initial_state = zero_state(self.cell_type, rows, h_size, inputs.dtype)
    if initial_state[0].shape[0] != rows:
      raise ValueError(f'initial_state has {initial_state[0].shape[0]} rows; '
                       f'expected samples * batch = {rows}')
    if (self.cell_type == 'lstm' and self.lstm_impl == 'cudnn'
        and samples == 1):
      if constant_inputs is not None:
        tiled = jnp.broadcast_to(constant_inputs[:, None],
                                 (batch, inputs.shape[1],
                                  constant_inputs.shape[-1]))
        inputs = jnp.concatenate([inputs, tiled], axis=-1)
        w_in = jnp.concatenate([w_in, w_c])
      return lstm_cudnn(inputs, w_in, w_hh, bias, *initial_state)
    # [T, B, G*H]: one matmul over all time steps, time-major for the scan.
    x_proj = jnp.einsum('bte,eg->tbg', inputs, w_in) + bias
    const = None if w_c is None else constant_inputs @ w_c
    if samples == 1:
      if const is not None:
        x_proj = x_proj + const[None]
      expand = lambda xp: xp
    else:
      # [T, B, G] stays shared; each step adds it to the S*B rows' constant
      # projection, so no [T, S*B, G] array is ever materialised.
      const = (jnp.zeros((rows, g * h_size), x_proj.dtype) if const is None
               else const).reshape(samples, batch, g * h_size)
      expand = lambda xp: (xp[None] + const).reshape(rows, g * h_size)

    if (self.cell_type == 'lstm' and self.lstm_custom_vjp and samples == 1):
      c0, h0 = initial_state
      outputs, final_state = lstm_scan(self.unroll, x_proj, w_hh, c0, h0)
      return jnp.swapaxes(outputs, 0, 1), final_state
    if self.cell_type == 'lstm':
      def step(carry, xp):
        c, h = carry
        gates = expand(xp) + h @ w_hh
        i, f, gg, o = jnp.split(gates, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h
    elif self.cell_type == 'gru':
      b_hn = self.param('recurrent_bias', self.bias_init, (h_size,))

      def step(carry, xp):
        (h,) = carry
        hp = h @ w_hh
        xr, xz, xn = jnp.split(expand(xp), 3, axis=-1)
        hr, hz, hn = jnp.split(hp, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * (hn + b_hn))
        h = (1.0 - z) * n + z * h
        return (h,), h
    else:
      def step(carry, xp):
        (h,) = carry
        h = jnp.tanh(expand(xp) + h @ w_hh)
        return (h,), h

    final_state, outputs = jax.lax.scan(step, tuple(initial_state), x_proj,
                                        unroll=self.unroll)
    return jnp.swapaxes(outputs, 0, 1), final_state
