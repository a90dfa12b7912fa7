"""BN-VAE (Zhu et al. 2020): batch-normalised posterior means, fixed gamma."""

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.models import SentenceVAE, build_model
from vae_jax.models.latents import GaussianLatent

GAMMA = 0.6
BETA = np.array([0.0, 0.5, -1.0, 0.2], np.float32)


def _head_and_params(features):
  head = GaussianLatent(latent_dim=4, init_scale=0.5, bn_gamma=GAMMA)
  params = head.init(jax.random.key(0), features)['params']
  params = dict(params, mu_bn_bias=jnp.asarray(BETA))
  return head, params


def test_bn_head_has_one_learned_shift_and_no_scale_parameter():
  features = jax.random.normal(jax.random.key(1), (16, 8))
  head, params = _head_and_params(features)
  assert sorted(params) == ['Dense_0', 'mu_bn_bias']
  assert params['mu_bn_bias'].shape == (4,)
  plain = GaussianLatent(latent_dim=4).init(jax.random.key(0), features)
  assert sorted(plain['params']) == ['Dense_0']   # the existing tree, unchanged


def test_batch_moments_of_the_means_are_beta_and_gamma_squared():
  x = jax.random.normal(jax.random.key(1), (16, 8)) * 3.0 + 1.0
  mask = np.arange(16) < 12
  x = jnp.where(mask[:, None], x, 100.0)          # padding rows: far away
  head, params = _head_and_params(x)
  post = head.apply({'params': params}, x, mask=mask)
  loc = np.asarray(post.loc)[mask]
  # numpy reference: batch norm over the 12 real rows, biased variance
  raw = np.asarray(x)[mask] @ np.asarray(params['Dense_0']['kernel'])[:, :4]
  var = raw.var(axis=0)
  expected = GAMMA * (raw - raw.mean(0)) / np.sqrt(var + 1e-5) + BETA
  np.testing.assert_allclose(loc, expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(loc.mean(0), BETA, atol=1e-5)
  # E_batch[mu_d^2] = gamma^2 var / (var + eps) + beta_d^2 = gamma^2 + beta_d^2
  np.testing.assert_allclose((loc ** 2).mean(0), GAMMA ** 2 + BETA ** 2,
                             rtol=1e-4)
  assert var.min() > 1e-2       # so eps changes gamma^2 by < 1e-3 relative
  # hence the batch-mean KL is at least sum_d (gamma^2 + beta_d^2) / 2
  kl = np.asarray(post.kl())[mask]
  bound = 0.5 * np.sum(GAMMA ** 2 + BETA ** 2)
  assert kl.mean() >= bound * (1 - 1e-4), (kl.mean(), bound)
  # the padding rows do not move the real rows' means
  post2 = head.apply({'params': params}, jnp.where(mask[:, None], x, -7.0),
                     mask=mask)
  np.testing.assert_array_equal(np.asarray(post2.loc)[mask], post.loc[mask])


def test_vae_passes_the_padding_mask_to_the_bn_head():
  cfg = dict(kind='vae', embed_dim=8, dec_hidden=8, enc_hidden=8, cell='lstm',
             dec_dropout_in=0.0, dec_dropout_out=0.0, word_dropout=0.0,
             z_init_state=True, z_concat_input=True, init_scale=0.1,
             embed_init_scale=0.1, unroll=1, latent='gaussian', latent_dim=4,
             latent_kwargs={'bn_gamma': GAMMA})
  model = build_model(cfg, 20)
  ids = jax.random.randint(jax.random.key(2), (6, 7), 4, 20)
  length = jnp.array([6, 5, 4, 6, 0, 0])          # two padding rows
  params = model.init({'params': jax.random.key(0),
                       'latent': jax.random.key(1)}, ids, length)['params']
  assert 'mu_bn_bias' in params['latent']
  encode = jax.jit(lambda i, l: model.apply({'params': params}, i, l,
                                            method=SentenceVAE.encode).loc)
  full = encode(ids, length)
  real = encode(ids[:4], length[:4])              # the same rows, no padding
  np.testing.assert_allclose(full[:4], real, rtol=1e-5, atol=1e-6)
  assert np.abs(np.asarray(full[:4])).max() > 1e-4   # not trivially zero
