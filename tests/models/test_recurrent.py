"""The hoisted-projection recurrences against step-by-step numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax.models.recurrent import Recurrent


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def reference(cell, p, x, const=None, state=None):
  """Straightforward per-step recurrence on the concatenated input."""
  w_in = np.asarray(p['input_kernel'])
  w_hh = np.asarray(p['recurrent_kernel'])
  b = np.asarray(p['bias'])
  if const is not None:
    w_in = np.concatenate([w_in, np.asarray(p['constant_kernel'])], 0)
  batch, steps, _ = x.shape
  hsz = w_hh.shape[0]
  h = np.zeros((batch, hsz)) if state is None else np.asarray(state[-1])
  c = np.zeros((batch, hsz)) if state is None else np.asarray(state[0])
  outs = []
  for t in range(steps):
    xt = x[:, t]
    if const is not None:
      xt = np.concatenate([xt, const], -1)
    if cell == 'lstm':
      g = xt @ w_in + b + h @ w_hh
      i, f, gg, o = np.split(g, 4, -1)
      c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
      h = _sigmoid(o) * np.tanh(c)
    elif cell == 'gru':
      xr, xz, xn = np.split(xt @ w_in + b, 3, -1)
      hr, hz, hn = np.split(h @ w_hh, 3, -1)
      r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
      n = np.tanh(xn + r * (hn + np.asarray(p['recurrent_bias'])))
      h = (1 - z) * n + z * h
    else:
      h = np.tanh(xt @ w_in + b + h @ w_hh)
    outs.append(h)
  return np.stack(outs, 1)


@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
@pytest.mark.parametrize('with_const', [False, True])
@pytest.mark.parametrize('unroll', [1, 3])
def test_matches_stepwise_reference(cell, with_const, unroll):
  key = jax.random.key(0)
  x = np.asarray(jax.random.normal(key, (3, 7, 5)), np.float64)
  const = np.asarray(jax.random.normal(jax.random.key(1), (3, 2))) if with_const else None
  layer = Recurrent(6, cell, kernel_init=jax.nn.initializers.normal(0.5),
                    bias_init=jax.nn.initializers.normal(0.5), unroll=unroll)
  params = layer.init(key, jnp.asarray(x, jnp.float32),
                      constant_inputs=None if const is None else jnp.asarray(const))['params']
  out, final = layer.apply({'params': params}, jnp.asarray(x, jnp.float32),
                           constant_inputs=None if const is None else jnp.asarray(const))
  ref = reference(cell, params, x, const)
  np.testing.assert_allclose(out, ref, atol=2e-5)
  np.testing.assert_allclose(final[-1], ref[:, -1], atol=2e-5)


def test_unknown_cell_is_a_clear_error():
  with pytest.raises(ValueError, match='unknown cell type'):
    Recurrent(4, 'lstmm').init(jax.random.key(0), jnp.zeros((1, 2, 3)))
