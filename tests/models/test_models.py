"""Model-level properties: padding never changes a loss, word dropout, shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax.models import build_model, word_dropout

CFG = dict(kind='vae', embed_dim=8, dec_hidden=16, enc_hidden=12, cell='lstm',
           dec_dropout_in=0.0, dec_dropout_out=0.0, word_dropout=0.0,
           z_init_state=True, z_concat_input=True, init_scale=0.3,
           embed_init_scale=0.5, unroll=1, latent='gaussian', latent_dim=3)
V = 20


def _init(model, ids, length):
  return model.init({'params': jax.random.key(0), 'latent': jax.random.key(1),
                     'dropout': jax.random.key(2)}, ids, length)


@pytest.mark.parametrize('kind', ['lm', 'vae'])
@pytest.mark.parametrize('cell', ['rnn', 'gru', 'lstm'])
def test_padding_never_changes_the_loss(kind, cell):
  model = build_model(dict(CFG, kind=kind, cell=cell), V)
  sent = [1, 5, 6, 7, 2]            # bos w w w eos: length 4
  short = jnp.array([sent + [0]])
  long = jnp.array([sent + [0] * 9])
  junk = jnp.array([sent + [9, 9, 3, 4, 11, 2, 8, 7, 1]])  # garbage after eos
  length = jnp.array([4])
  variables = _init(model, short, length)
  outs = [model.apply(variables, ids, length, rngs={'latent': jax.random.key(5)})
          for ids in (short, long, junk)]
  for o in outs[1:]:
    for k in outs[0]:
      np.testing.assert_allclose(o[k], outs[0][k], rtol=1e-6, atol=1e-6)


def test_padding_rows_do_not_affect_real_rows():
  model = build_model(CFG, V)
  ids = jnp.array([[1, 5, 6, 2, 0], [1, 7, 8, 9, 2]])
  length = jnp.array([3, 4])
  variables = _init(model, ids, length)
  both = model.apply(variables, ids, length, rngs={'latent': jax.random.key(5)})
  # rows are independent: the first row alone gives its own numbers
  post = model.apply(variables, ids[:1], length[:1],
                     method=type(model).encode)
  np.testing.assert_allclose(post.kl(), both['kl'][:1], rtol=1e-6)


def test_decoder_log_likelihood_is_uniform_at_zero_weights():
  model = build_model(dict(CFG, kind='lm', init_scale=0.0, embed_init_scale=0.0), V)
  ids = jnp.array([[1, 5, 6, 2, 0]])
  length = jnp.array([3])
  variables = _init(model, ids, length)
  out = model.apply(variables, ids, length)
  np.testing.assert_allclose(out['rec'], [3 * np.log(V)], rtol=1e-6)


def test_vae_log_likelihood_accepts_sample_axes():
  model = build_model(CFG, V)
  ids = jnp.array([[1, 5, 6, 2, 0], [1, 7, 8, 9, 2]])
  length = jnp.array([3, 4])
  variables = _init(model, ids, length)
  z = jax.random.normal(jax.random.key(3), (4, 2, 3))
  many = model.apply(variables, z, ids, length,
                     method=type(model).log_likelihood)
  assert many.shape == (4, 2)
  one = model.apply(variables, z[2], ids, length,
                    method=type(model).log_likelihood)
  np.testing.assert_allclose(many[2], one, rtol=1e-6)


def test_word_dropout_rate_and_protected_ids():
  ids = jnp.tile(jnp.array([1, 5, 6, 7, 8, 2, 0, 0]), (2000, 1))
  out = word_dropout(jax.random.key(0), ids, rate=0.3, unk_id=3,
                     protected_ids=(0, 1))
  replaced = np.asarray(out == 3)
  assert not replaced[:, 0].any() and not replaced[:, 6:].any()
  frac = replaced[:, 1:6].mean()
  assert abs(frac - 0.3) < 0.01           # 10k draws: std 0.0046
  assert (word_dropout(jax.random.key(0), ids, rate=1.0, unk_id=3,
                       protected_ids=(0, 1))[:, 1:6] == 3).all()


@pytest.mark.parametrize('latent,width,check', [
    ('gaussian', 3, lambda z: np.isfinite(z).all()),
    ('vmf', 3, lambda z: np.allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-5)),
    ('bernoulli', 3, lambda z: set(np.unique(z)) <= {0.0, 1.0}),
    ('gumbel_st', 30, lambda z: np.allclose(z.reshape(-1, 3, 10).sum(-1), 1.0)),
])
def test_prior_samples_lie_in_each_family_support(latent, width, check):
  model = build_model(dict(CFG, latent=latent), V)
  ids = jnp.array([[1, 5, 6, 2, 0]])
  length = jnp.array([3])
  variables = _init(model, ids, length)
  z = np.asarray(model.apply(variables, jax.random.key(0), 64,
                             method=type(model).prior_sample))
  assert z.shape == (64, width)
  assert check(z)
  # and the decoder accepts them
  ll = model.apply(variables, jnp.asarray(z)[:, None, :], ids, length,
                   method=type(model).log_likelihood)
  assert np.isfinite(np.asarray(ll)).all()
