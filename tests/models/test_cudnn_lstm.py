"""`lstm_impl='cudnn'`: the same function as the scan, on a GPU.

The cuDNN call itself runs only where JAX has a GPU (those tests are
skipped in CI, which has none; BUILD_NOTES records where they were run).
Everything around it (the weight packing, the constant inputs, the state)
is also checked on the CPU against jax.experimental.rnn's reference LSTM. Both paths are compared
at full float32 precision (`jax.default_matmul_precision('highest')` also
turns off cuDNN's TF32), on the same parameters, so any difference is
summation order.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax.models import build_model
from vae_jax.models.recurrent import Recurrent

ON_GPU = jax.default_backend() == 'gpu'
needs_gpu = pytest.mark.skipif(not ON_GPU, reason='cuDNN needs a GPU')


def test_cudnn_on_cpu_is_a_clear_error():
  if ON_GPU:
    pytest.skip('this process has a GPU')
  layer = Recurrent(4, 'lstm', lstm_impl='cudnn')
  with pytest.raises(ValueError, match="needs a GPU.*lstm_impl='scan'"):
    layer.init(jax.random.key(0), jnp.zeros((2, 3, 5)))


def test_unknown_impl_is_rejected():
  with pytest.raises(ValueError, match='unknown lstm_impl'):
    Recurrent(4, 'lstm', lstm_impl='cuda').init(jax.random.key(0),
                                                jnp.zeros((2, 3, 5)))


def _layer_case(b, t, e, c, h, with_constant):
  """A scan LSTM layer with random parameters, inputs, constant inputs (or
  None) and initial state: (layer, params, x, const, state)."""
  ks = jax.random.split(jax.random.key(1), 5)
  x = jax.random.normal(ks[0], (b, t, e))
  const = jax.random.normal(ks[1], (b, c)) if with_constant else None
  state = (jax.random.normal(ks[2], (b, h)), jax.random.normal(ks[3], (b, h)))
  scan = Recurrent(h, 'lstm', kernel_init=jax.nn.initializers.normal(0.5),
                   bias_init=jax.nn.initializers.normal(0.5))
  params = scan.init(ks[4], x, initial_state=state, constant_inputs=const)
  return scan, params, x, const, state


@pytest.mark.parametrize('with_constant', [False, True])
def test_packing_for_cudnn_matches_the_scan_on_cpu(monkeypatch,
                                                   with_constant):
  """What the cuDNN path does around the kernel (weights packed into cuDNN's
  flat layout, constant inputs concatenated, state in and out), checked
  without a GPU: the cuDNN call is replaced by `jax.experimental.rnn`'s
  reference LSTM, which unpacks the same flat layout."""
  from jax.experimental import rnn  # pylint: disable=g-import-not-at-top
  from vae_jax.models import recurrent  # pylint: disable=g-import-not-at-top

  def reference(x, h_0, c_0, weights, seq_lengths, **sizes):
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(
        weights, sizes['input_size'], sizes['hidden_size'],
        sizes['num_layers'], sizes['bidirectional'])
    return rnn.lstm_ref(x, h_0, c_0, w_ih, w_hh, b_ih, b_hh, seq_lengths,
                        sizes['input_size'], sizes['hidden_size'],
                        sizes['num_layers'], sizes['dropout'],
                        sizes['bidirectional'])

  monkeypatch.setattr(recurrent, '_cudnn_lstm_call', reference)
  scan, params, x, const, state = _layer_case(3, 5, 4, 2, 6, with_constant)
  run = lambda layer: layer.apply(params, x, initial_state=state,
                                  constant_inputs=const)
  got, want = run(scan.clone(lstm_impl='cudnn')), run(scan)
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


@needs_gpu
@pytest.mark.parametrize('with_constant', [False, True])
def test_layer_outputs_and_gradients_match_the_scan(with_constant):
  b, t, h = 5, 7, 8
  scan, params, x, const, state = _layer_case(b, t, 6, 3, h, with_constant)
  cudnn = scan.clone(lstm_impl='cudnn')
  w = jax.random.normal(jax.random.key(2), (b, t, h))

  def loss(layer, params, x, state):
    out, (c_t, h_t) = layer.apply(params, x, initial_state=state,
                                  constant_inputs=const)
    return jnp.sum(out * w) + jnp.sum(jnp.sin(c_t)) + jnp.sum(h_t ** 2)

  with jax.default_matmul_precision('highest'):
    got = jax.value_and_grad(lambda *a: loss(cudnn, *a), argnums=(0, 1, 2))(
        params, x, state)
    want = jax.value_and_grad(lambda *a: loss(scan, *a), argnums=(0, 1, 2))(
        params, x, state)
  for g, w_ in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    assert g.shape == w_.shape
    assert _rel(g, w_) < 1e-5


@needs_gpu
def test_vae_outputs_and_gradients_match_the_scan():
  """The VAE (encoder and decoder LSTMs, z fed with every input and as the
  initial state), dropout and word dropout on, a padding row included."""
  cfg = dict(kind='vae', embed_dim=8, dec_hidden=16, enc_hidden=12,
             cell='lstm', dec_dropout_in=0.3, dec_dropout_out=0.3,
             word_dropout=0.2, z_init_state=True, z_concat_input=True,
             init_scale=0.3, embed_init_scale=0.5, unroll=1,
             latent='gaussian', latent_dim=3)
  ids = jnp.array([[1, 5, 6, 7, 2, 0, 0], [1, 8, 9, 2, 0, 0, 0],
                   [1, 4, 4, 4, 4, 4, 2], [1, 0, 0, 0, 0, 0, 0]])
  length = jnp.array([4, 3, 6, 0])
  scan = build_model(cfg, 23)
  cudnn = build_model(dict(cfg, lstm_impl='cudnn'), 23)
  params = scan.init({'params': jax.random.key(0), 'latent': jax.random.key(1),
                      'dropout': jax.random.key(2)}, ids, length)['params']

  def loss(m, p):
    out = m.apply({'params': p}, ids, length, deterministic=False,
                  rngs={'latent': jax.random.key(3),
                        'dropout': jax.random.key(4)})
    return jnp.sum(out['rec'] + out['kl']), out

  with jax.default_matmul_precision('highest'):
    (l_got, out_got), g_got = jax.value_and_grad(
        lambda p: loss(cudnn, p), has_aux=True)(params)
    (l_want, out_want), g_want = jax.value_and_grad(
        lambda p: loss(scan, p), has_aux=True)(params)
  assert _rel(l_got, l_want) < 1e-5
  for key in ('rec', 'kl'):
    assert _rel(out_got[key], out_want[key]) < 1e-5
  assert (jax.tree.structure(g_got) == jax.tree.structure(g_want))
  for g, w in zip(jax.tree.leaves(g_got), jax.tree.leaves(g_want)):
    assert _rel(g, w) < 1e-5
