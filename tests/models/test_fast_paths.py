"""Each optimised path against the straightforward one it replaces.

* `projected_target_log_probs` (fused projection + log-softmax + gather with
  a hand-written gradient) against `token_log_probs(h @ W + b, targets)`;
* `lstm_scan` (hand-written LSTM backward pass) against differentiating the
  plain `lax.scan`;
* the sample path (`Recurrent(samples=S)`, `Decoder.score_samples`,
  `summed_target_log_probs`) against running every sample as its own row;
* whole models: losses and gradients with the fast paths on and off, and the
  parameter tree (names, shapes, initial values) that checkpoints rely on.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax.models import build_model, decoder, recurrent
from vae_jax.models.decoder import (VocabProjection, projected_target_log_probs,
                                    summed_target_log_probs, token_log_probs)
from vae_jax.models.recurrent import Recurrent, lstm_scan

RTOL, ATOL = 2e-5, 2e-6


def _close(a, b, rtol=RTOL, atol=ATOL):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol,
                               atol=atol)


def _projection_inputs(key, n=37, h=8, v=53, scale=1.0, bias_scale=1.0):
  k1, k2, k3, k4 = jax.random.split(key, 4)
  hid = jnp.tanh(jax.random.normal(k1, (n, h)))
  kernel = scale * jax.random.normal(k2, (h, v))
  bias = bias_scale * jax.random.normal(k3, (v,))
  targets = jax.random.randint(k4, (n,), 0, v)
  return hid, kernel, bias, targets


def test_fused_projection_matches_log_softmax():
  # Large weights: logits spread over hundreds of nats, and a bias spanning
  # ~90 nats, so the shift comes from its lower bound. (The whole-model test
  # below covers ordinary scales.)
  scale, bias_scale = 100.0, 20.0
  hid, kernel, bias, targets = _projection_inputs(
      jax.random.key(0), scale=scale, bias_scale=bias_scale)
  mask = jnp.arange(hid.shape[0]) % 5 != 0
  weights = jax.random.uniform(jax.random.key(1), (hid.shape[0],))
  paths = {
      'fast': lambda h, w, b: projected_target_log_probs(h, w, b, targets),
      'slow': lambda h, w, b: token_log_probs(h @ w + b, targets)}

  @jax.jit
  def values_and_grads(h, w, b):
    return {name: jax.value_and_grad(
        lambda *a, fn=fn: jnp.sum(jnp.where(mask, weights * fn(*a), 0.0)),
        (0, 1, 2))(h, w, b) + (fn(h, w, b),) for name, fn in paths.items()}

  out = values_and_grads(hid, kernel, bias)
  assert np.all(np.isfinite(out['fast'][2]))
  tol = 1e-5 * max(scale, bias_scale, 1)
  _close(out['fast'][2], out['slow'][2], rtol=1e-5, atol=tol)
  _close(out['fast'][:2], out['slow'][:2], rtol=1e-4, atol=tol)


def test_summed_target_log_probs_skips_padding_only():
  s, n, t, h, v = 3, 4, 6, 8, 29
  k1, k2, k3, k4 = jax.random.split(jax.random.key(3), 4)
  hid = jax.random.normal(k1, (s, n, t, h))
  kernel = jax.random.normal(k2, (h, v))
  bias = jax.random.normal(k3, (v,))
  targets = jax.random.randint(k4, (n, t), 0, v)
  length = jnp.array([6, 0, 2, 5])  # a full row, a padding row

  def all_ways(hid, kernel, bias, targets, length):
    ref = jnp.sum(jnp.where(
        jnp.arange(t) < length[:, None],
        token_log_probs(hid @ kernel + bias,
                        jnp.broadcast_to(targets, (s, n, t))), 0.0), axis=-1)
    # Blocks of 2 positions, and one block for all.
    return ref, [summed_target_log_probs(hid, kernel, bias, targets, length,
                                         rows_per_block=r) for r in (7, 1000)]

  ref, outs = jax.jit(all_ways)(hid, kernel, bias, targets, length)
  for out in outs:
    assert out.shape == (s, n)
    _close(out, ref)


def _plain_lstm(x_proj, w_hh, c0, h0):
  def step(carry, xp):
    c, h = carry
    i, f, g, o = jnp.split(xp + h @ w_hh, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (c, h), h
  (c, h), hs = jax.lax.scan(step, (c0, h0), x_proj)
  return hs, (c, h)


def test_lstm_custom_vjp_matches_scan_autodiff(unroll=1):
  t, b, hsz = 5, 3, 4
  ks = jax.random.split(jax.random.key(4), 6)
  x_proj = jax.random.normal(ks[0], (t, b, 4 * hsz))
  w_hh = 0.5 * jax.random.normal(ks[1], (hsz, 4 * hsz))
  c0 = jax.random.normal(ks[2], (b, hsz))
  h0 = jnp.tanh(jax.random.normal(ks[3], (b, hsz)))
  w_out = jax.random.normal(ks[4], (t, b, hsz))
  w_fin = jax.random.normal(ks[5], (2, b, hsz))

  def loss(run, *args):
    hs, (c, h) = run(*args)
    return jnp.sum(hs * w_out) + jnp.sum(c * w_fin[0]) + jnp.sum(h * w_fin[1])

  fast = lambda *a: lstm_scan(unroll, *a)
  both = jax.jit(lambda *a: [(run(*a), jax.grad(lambda *b: loss(run, *b),
                                                 (0, 1, 2, 3))(*a))
                             for run in (fast, _plain_lstm)])
  (out_fast, g_fast), (out_slow, g_slow) = both(x_proj, w_hh, c0, h0)
  _close(out_fast, out_slow)
  _close(g_fast, g_slow)


@pytest.mark.parametrize('cell,with_const', [('lstm', True), ('gru', False)])
def test_recurrent_samples_share_the_input_projection(cell, with_const):
  s, b, t, e, hsz, c = 3, 2, 4, 5, 6, 2
  ks = jax.random.split(jax.random.key(5), 4)
  x = jax.random.normal(ks[0], (b, t, e))
  state = recurrent.zero_state(cell, s * b, hsz)
  state = tuple(st + jax.random.normal(ks[1], st.shape) for st in state)
  const = jax.random.normal(ks[2], (s * b, c)) if with_const else None
  layer = Recurrent(hsz, cell, kernel_init=nn.initializers.normal(0.5),
                    bias_init=nn.initializers.normal(0.5))
  params = layer.init(ks[3], x, constant_inputs=None if const is None
                      else const[:b])
  rep_x = jnp.tile(x, (s, 1, 1))  # row s*B + b is x[b]
  shared, separate = jax.jit(lambda p: (
      layer.apply(p, x, initial_state=state, constant_inputs=const,
                  samples=s),
      layer.apply(p, rep_x, initial_state=state, constant_inputs=const)))(
          params)
  _close(shared, separate)


CFG = dict(kind='vae', embed_dim=8, dec_hidden=16, enc_hidden=12, cell='lstm',
           dec_dropout_in=0.3, dec_dropout_out=0.3, word_dropout=0.2,
           z_init_state=True, z_concat_input=True, init_scale=0.3,
           embed_init_scale=0.5, unroll=1, latent='gaussian', latent_dim=3)
V = 23
IDS = jnp.array([[1, 5, 6, 7, 2, 0, 0], [1, 8, 9, 2, 0, 0, 0],
                 [1, 4, 4, 4, 4, 4, 2], [1, 0, 0, 0, 0, 0, 0]])
LENGTH = jnp.array([4, 3, 6, 0])


def _with_fast_paths(model, on: bool):
  dec = model.decoder.clone(fused_output=on, lstm_custom_vjp=on)
  if hasattr(model, 'encoder'):
    return model.clone(decoder=dec,
                       encoder=model.encoder.clone(lstm_custom_vjp=on))
  return model.clone(decoder=dec)


def test_model_losses_and_gradients_match_the_plain_paths():
  # The VAE runs every fast path of the LM too (and the encoder's LSTM).
  model = build_model(CFG, V)
  rngs = {'params': jax.random.key(0), 'latent': jax.random.key(1),
          'dropout': jax.random.key(2)}
  params = model.init(rngs, IDS, LENGTH)['params']

  def loss(m, p):
    out = m.apply({'params': p}, IDS, LENGTH, deterministic=False,
                  rngs={'latent': jax.random.key(3),
                        'dropout': jax.random.key(4)})
    return jnp.sum(out['rec'] + out.get('kl', 0.0)), out

  # Compiled without XLA's backend optimisations: half the compile time; the
  # component tests above cover the optimised compilation.
  results = jax.jit(lambda p: [
      jax.value_and_grad(lambda q, m=_with_fast_paths(model, on): loss(m, q),
                         has_aux=True)(p) for on in (True, False)],
                    compiler_options={'xla_backend_optimization_level': 0})(
                        params)
  (l_fast, out_fast), g_fast = results[0]
  (l_slow, out_slow), g_slow = results[1]
  _close(out_fast, out_slow)
  _close(l_fast, l_slow)
  _close(g_fast, g_slow, rtol=1e-4, atol=1e-6)


def test_score_samples_matches_one_row_per_sample():
  model = build_model(CFG, V)
  variables = model.init({'params': jax.random.key(0),
                          'latent': jax.random.key(1),
                          'dropout': jax.random.key(2)}, IDS, LENGTH)
  z = jax.random.normal(jax.random.key(6), (5, IDS.shape[0], 3))
  many, one_by_one = jax.jit(lambda v, z: (
      model.apply(v, z, IDS, LENGTH, method=type(model).log_likelihood),
      [model.apply(v, IDS, LENGTH, z[s],
                   method=lambda m, i, l, zz: m.decoder(i, l, zz))
       for s in range(z.shape[0])]))(variables, z)
  assert many.shape == (5, IDS.shape[0])
  _close(many, jnp.stack(one_by_one))
  assert np.all(np.asarray(many[:, 3]) == 0.0)  # the padding row


def test_parameter_tree_is_unchanged():
  """Checkpoints of runs started before the fast paths must still load."""
  model = build_model(CFG, V)
  params = model.init({'params': jax.random.key(0),
                       'latent': jax.random.key(1),
                       'dropout': jax.random.key(2)}, IDS, LENGTH)['params']
  shapes = {jax.tree_util.keystr(k): v.shape
            for k, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  assert shapes == {
      "['decoder']['embedder']['embedding']['embedding']": (V, 8),
      "['decoder']['init_proj']['kernel']": (3, 16),
      "['decoder']['output']['bias']": (V,),
      "['decoder']['output']['kernel']": (16, V),
      "['decoder']['rnn']['bias']": (64,),
      "['decoder']['rnn']['constant_kernel']": (3, 64),
      "['decoder']['rnn']['input_kernel']": (8, 64),
      "['decoder']['rnn']['recurrent_kernel']": (16, 64),
      "['encoder']['embedder']['embedding']['embedding']": (V, 8),
      "['encoder']['rnn']['bias']": (48,),
      "['encoder']['rnn']['input_kernel']": (8, 48),
      "['encoder']['rnn']['recurrent_kernel']": (12, 48),
      "['latent']['Dense_0']['kernel']": (12, 6),
  }
  # VocabProjection draws the same initial values as the nn.Dense it
  # replaced.
  init = decoder.symmetric_uniform(0.3)
  x = jnp.ones((2, 16))
  dense = nn.Dense(V, kernel_init=init, bias_init=init).init(
      jax.random.key(7), x)
  proj = VocabProjection(16, V, kernel_init=init, bias_init=init).init(
      jax.random.key(7), x)
  _close(dense, proj, rtol=0, atol=0)
