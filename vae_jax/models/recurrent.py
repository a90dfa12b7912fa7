"""Single-layer RNN, GRU and LSTM over a whole sequence.

The input projection of every time step is one large matrix multiply done
before the scan; the scanned body holds only the hidden-to-hidden product and
the gate arithmetic. Inputs that are constant over time (a latent code fed to
every step) are projected once per sequence and broadcast over time, which is
the same function as concatenating them to every input but T times cheaper.
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.models.initializers import symmetric_uniform

CELL_TYPES = ('rnn', 'gru', 'lstm')
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


class Recurrent(nn.Module):
  """A recurrent layer over time with a hoisted input projection.

  Attributes:
    hidden_size: H.
    cell_type: 'rnn' (tanh), 'gru' or 'lstm'.
    kernel_init: initializer of the input and recurrent kernels and biases.
    unroll: scan unroll factor (a speed knob; the function is unchanged).
  """
  hidden_size: int
  cell_type: str = 'lstm'
  kernel_init: Initializer = symmetric_uniform(0.01)
  bias_init: Initializer = nn.initializers.zeros
  unroll: int = 1

  @nn.compact
  def __call__(self, inputs: jax.Array, *,
               initial_state: tuple[jax.Array, ...] | None = None,
               constant_inputs: jax.Array | None = None):
    """Runs the layer.

    Args:
      inputs: <float>[B, T, E].
      initial_state: (c, h) for the LSTM or (h,), each <float>[B, H];
        zeros when None.
      constant_inputs: optional <float>[B, C] fed at every step, as if
        concatenated to each input.

    Returns:
      (outputs <float>[B, T, H], final_state).
    """
    h_size = self.hidden_size
    g = num_gates(self.cell_type)
    batch = inputs.shape[0]
    w_in = self.param('input_kernel', self.kernel_init,
                      (inputs.shape[-1], g * h_size))
    w_hh = self.param('recurrent_kernel', self.kernel_init,
                      (h_size, g * h_size))
    bias = self.param('bias', self.bias_init, (g * h_size,))
    # [T, B, G*H]: one matmul over all time steps, time-major for the scan.
    x_proj = jnp.einsum('bte,eg->tbg', inputs, w_in) + bias
    if constant_inputs is not None:
      w_c = self.param('constant_kernel', self.kernel_init,
                       (constant_inputs.shape[-1], g * h_size))
      x_proj = x_proj + (constant_inputs @ w_c)[None]
    if initial_state is None:
      initial_state = zero_state(self.cell_type, batch, h_size, inputs.dtype)

    if self.cell_type == 'lstm':
      def step(carry, xp):
        c, h = carry
        gates = xp + h @ w_hh
        i, f, gg, o = jnp.split(gates, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h
    elif self.cell_type == 'gru':
      b_hn = self.param('recurrent_bias', self.bias_init, (h_size,))

      def step(carry, xp):
        (h,) = carry
        hp = h @ w_hh
        xr, xz, xn = jnp.split(xp, 3, axis=-1)
        hr, hz, hn = jnp.split(hp, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * (hn + b_hn))
        h = (1.0 - z) * n + z * h
        return (h,), h
    else:
      def step(carry, xp):
        (h,) = carry
        h = jnp.tanh(xp + h @ w_hh)
        return (h,), h

    final_state, outputs = jax.lax.scan(step, tuple(initial_state), x_proj,
                                        unroll=self.unroll)
    return jnp.swapaxes(outputs, 0, 1), final_state
