"""Tests for vae_jax.distributions.vmf: scipy, quadrature and Monte Carlo.

Compilation dominates the run time, so tests reuse a few shapes (the Bessel
grid, `KAPPAS`) and call the public functions outside `jax.jit`, where they
share the compiled `_bessel` across dimensions (the order is an argument).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import integrate, special, stats

from vae_jax.distributions import vmf
from vae_jax.models import build_model, make_latent

ORDERS = np.array([0.0, 0.5, 1.0, 2.5, 7.0, 15.0, 19.5, 20.0, 31.5, 63.0,
                   127.0, 255.0])
XS = np.logspace(-3, 4, 36)
KAPPAS = np.array([0.01, 0.5, 3.0, 40.0, 700.0, 1e4])


def _grid():
  v, x = np.meshgrid(ORDERS, XS, indexing='ij')
  return v.ravel(), x.ravel()


def _scipy_log_iv(v, x):
  """log I_v(x) = log(ive) + x, and a mask of where scipy is finite/nonzero."""
  with np.errstate(divide='ignore'):
    ive = special.ive(v, x)
  ok = np.isfinite(ive) & (ive > 1e-300)
  return np.log(np.where(ok, ive, 1.0)) + x, ok


def _scipy_ratio(v, x):
  with np.errstate(invalid='ignore'):  # 0/0 where ive underflows
    return special.ive(v + 1, x) / special.ive(v, x)


def _elementwise_grad(fn):
  """d fn / dx for an elementwise fn, by one forward-mode pass."""
  return lambda x: jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]


def _unit(x):
  x = np.asarray(x, np.float64)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


# -- modified Bessel function -------------------------------------------------


def test_log_bessel_matches_scipy_in_float64():
  v, x = _grid()
  expected, ok = _scipy_log_iv(v, x)
  assert ok.mean() > 0.8  # the comparison covers most of the grid
  with jax.enable_x64(True):
    got = np.asarray(vmf.log_bessel_iv(v, x))
    ive = np.asarray(vmf.log_bessel_ive(v, x))
    ratio = np.asarray(vmf.bessel_iv_ratio(v, x))
  assert got.dtype == np.float64
  scale = np.maximum(1.0, np.abs(expected))
  np.testing.assert_array_less((np.abs(got - expected) / scale)[ok], 1e-12)
  np.testing.assert_allclose(ive[ok], (expected - x)[ok], rtol=1e-12,
                             atol=1e-12)
  np.testing.assert_allclose(ratio[ok], _scipy_ratio(v, x)[ok], rtol=1e-11)
  # Where ive underflows in scipy (x << v), the power series is accurate:
  # I_v(x) = (x/2)^v / Gamma(v+1) (1 + y/(v+1) + y^2/(2 (v+1)(v+2)) + ...).
  y = x * x / 4.0
  series = (v * np.log(x / 2.0) - special.gammaln(v + 1.0)
            + np.log1p(y / (v + 1.0) + y * y / (2.0 * (v + 1.0) * (v + 2.0))))
  tiny = y / (v + 1.0) < 1e-4  # the next series term is below 1e-13
  assert (tiny & ~ok).sum() >= 10
  np.testing.assert_allclose(got[tiny], series[tiny], rtol=1e-12, atol=1e-14)


def test_log_bessel_float32_accuracy():
  v, x = _grid()
  expected, ok = _scipy_log_iv(v, x)
  got = np.asarray(vmf.log_bessel_iv(v.astype(np.float32),
                                     x.astype(np.float32)))
  assert got.dtype == np.float32
  # Relative to max(1, |log I|); float32 rounding of x alone is 6e-8.
  err = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
  np.testing.assert_array_less(err[ok], 1e-5)
  ratio = np.asarray(vmf.bessel_iv_ratio(v.astype(np.float32),
                                         x.astype(np.float32)))
  np.testing.assert_allclose(ratio[ok], _scipy_ratio(v, x)[ok], rtol=1e-6)


def test_log_bessel_derivatives_identities_and_finite_differences():
  v, x = _grid()
  with jax.enable_x64(True):
    dlog_iv = np.asarray(
        _elementwise_grad(lambda x: vmf.log_bessel_iv(v, x))(x))
    dlog_ive = np.asarray(
        _elementwise_grad(lambda x: vmf.log_bessel_ive(v, x))(x))
    ratio = np.asarray(vmf.bessel_iv_ratio(v, x))
    d_ratio = np.asarray(
        _elementwise_grad(lambda x: vmf.bessel_iv_ratio(v, x))(x))
    h = 1e-6 * x
    central = np.asarray(vmf.log_bessel_iv(v, x + h)
                         - vmf.log_bessel_iv(v, x - h)) / (2 * h)
  # d/dx log I_v = I_{v+1}/I_v + v/x = I_{v-1}/I_v - v/x (DLMF 10.29.2).
  ok = _scipy_log_iv(v, x)[1] & _scipy_log_iv(v + 1, x)[1]
  np.testing.assert_allclose(dlog_iv[ok], (_scipy_ratio(v, x) + v / x)[ok],
                             rtol=1e-11)
  ok &= (v >= 1) & _scipy_log_iv(np.abs(v - 1), x)[1]
  with np.errstate(invalid='ignore', divide='ignore'):
    down = special.ive(v - 1, x) / special.ive(v, x) - v / x
  np.testing.assert_allclose(dlog_iv[ok], down[ok], rtol=1e-9)
  np.testing.assert_allclose(dlog_iv, central, rtol=1e-7, atol=1e-12)
  # ive: the same minus 1 (computed without cancelling where it is small).
  np.testing.assert_allclose(dlog_ive, dlog_iv - 1.0, rtol=1e-9, atol=1e-13)
  # R' = 1 - R^2 - (2v + 1) R / x (Riccati). In float64 this form's
  # cancellation is harmless on the grid, so it is the reference.
  riccati = 1.0 - ratio**2 - (2 * v + 1) * ratio / x
  np.testing.assert_allclose(d_ratio, riccati, rtol=1e-8, atol=1e-15)


def test_check_grads_log_bessel_and_kl():
  with jax.enable_x64(True):
    order = np.array([0.0, 0.5, 15.0, 31.0, 127.0, 255.0])
    # Forward mode; reverse mode through the KL and the sampler is exercised
    # by the VAE test below.
    check_grads(lambda x: vmf.log_bessel_iv(order, x), (KAPPAS,), order=1,
                modes=('fwd',))
    check_grads(lambda k: vmf.vmf_kl_to_uniform(k, 32), (KAPPAS,), order=1,
                modes=('fwd',))


def test_order_is_not_differentiated():
  assert jax.grad(lambda v: vmf.log_bessel_iv(v, 3.0))(2.0) == 0.0


# -- normaliser and density --------------------------------------------------


@pytest.mark.parametrize('use_jit', [False, True])
def test_normalizer_closed_form_for_d3(use_jit):
  fn = jax.jit(vmf.vmf_log_normalizer, static_argnums=1) if use_jit else (
      vmf.vmf_log_normalizer)
  # C_3 = kappa / (4 pi sinh kappa); log sinh k = k + log1p(-e^{-2k}) - log 2.
  log_sinh = KAPPAS + np.log1p(-np.exp(-2 * KAPPAS)) - np.log(2)
  expected = np.log(KAPPAS) - np.log(4 * np.pi) - log_sinh
  np.testing.assert_allclose(fn(KAPPAS.astype(np.float32), 3), expected,
                             rtol=2e-6)
  # d/dkappa log C_d = -A_d(kappa); A_3 = coth(kappa) - 1/kappa.
  with jax.enable_x64(True):
    grad = _elementwise_grad(lambda k: vmf.vmf_log_normalizer(k, 3))(KAPPAS)
  np.testing.assert_allclose(grad, -(1.0 / np.tanh(KAPPAS) - 1.0 / KAPPAS),
                             rtol=1e-10)


def test_d2_is_the_von_mises_and_integrates_to_one():
  mu = np.array([[1.0, 0.0], _unit([0.3, -0.8])], np.float32)
  theta = np.linspace(-np.pi, np.pi, 7)
  z = np.stack([np.cos(theta), np.sin(theta)], -1).astype(np.float32)
  for kappa in [0.2, 4.0, 60.0]:
    lp = vmf.vmf_log_prob(z[:, None, :], mu, kappa)
    assert lp.shape == (7, 2)
    angle = np.arctan2(mu[:, 1], mu[:, 0])
    expected = stats.vonmises(kappa, loc=angle).logpdf(theta[:, None])
    np.testing.assert_allclose(lp, expected, rtol=1e-5, atol=2e-5)
    with jax.enable_x64(True):
      log_c = float(vmf.vmf_log_normalizer(kappa, 2))
    total = integrate.quad(lambda t: np.exp(log_c + kappa * np.cos(t)),
                           -np.pi, np.pi, points=[0.0], limit=200)[0]
    np.testing.assert_allclose(total, 1.0, rtol=1e-10)


def test_density_of_w_integrates_to_one():
  # mu.z = w has density C_d e^{kappa w} (1 - w^2)^{(d-3)/2} |S^{d-2}|.
  for dim in [3, 5, 16, 64, 512]:
    for kappa in [0.5, 20.0, 300.0]:
      with jax.enable_x64(True):
        log_c = float(vmf.vmf_log_normalizer(kappa, dim))
      log_area = vmf.log_sphere_area(dim - 1)
      f = lambda w: np.exp(log_c + log_area + kappa * w
                           + 0.5 * (dim - 3) * np.log1p(-w * w))
      peak = float(np.clip(1 - dim / kappa, -0.5, 0.99))
      total = integrate.quad(f, -1, 1, points=[peak], limit=200)[0]
      np.testing.assert_allclose(total, 1.0, rtol=1e-8, err_msg=f'{dim}')


def test_sphere_area_and_uniform_log_prob():
  np.testing.assert_allclose(math.exp(vmf.log_sphere_area(2)), 2 * np.pi)
  np.testing.assert_allclose(math.exp(vmf.log_sphere_area(3)), 4 * np.pi)
  np.testing.assert_allclose(math.exp(vmf.log_sphere_area(4)), 2 * np.pi**2)
  assert vmf.uniform_sphere_log_prob(3) == -vmf.log_sphere_area(3)
  with pytest.raises(ValueError, match='dimension >= 2'):
    vmf.vmf_kl_to_uniform(1.0, 1)


# -- sampling ----------------------------------------------------------------


@pytest.mark.parametrize('dim', [2, 3, 64])
def test_samples_unit_norm_mean_resultant_direction_and_kl(dim):
  kappas = np.array([1.0, 10.0, 100.0, 1e6], np.float32)
  mu = _unit(np.random.default_rng(dim).normal(size=(4, dim)))
  mu[0] = np.eye(dim)[0]  # e_1 exactly, where e_1-based reflections fail
  mu = mu.astype(np.float32)
  post = vmf.VMFPosterior(mu=jnp.asarray(mu), kappa=jnp.asarray(kappas))
  num = 20_000  # 20000 x 4 x dim > 2^15 elements: see vmf._dot
  z = post.sample(jax.random.key(dim), num)
  assert z.shape == (num, 4, dim)
  log_q, log_p, kl, entropy, mean, a_d = (np.asarray(a, np.float64) for a in (
      post.log_prob(z), post.prior_log_prob(z), post.kl(), post.entropy(),
      post.mean(), vmf.vmf_mean_resultant(kappas, dim)))
  z = np.asarray(z, np.float64)
  np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-6)
  w = np.einsum('nbd,bd->nb', z, mu)
  se = w.std(0) / np.sqrt(num)
  np.testing.assert_array_less(np.abs(w.mean(0) - a_d), 4.5 * se + 1e-7)
  # E[z] = A_d mu, componentwise.
  np.testing.assert_array_less(np.abs(z.mean(0) - a_d[:, None] * mu),
                               4.5 * z.std(0) / np.sqrt(num) + 1e-6)
  np.testing.assert_allclose(mean, a_d[:, None] * mu, rtol=1e-6)
  # Huge kappa: 1 - w is Gamma((d-1)/2) / kappa, mean (d - 1) / (2 kappa).
  np.testing.assert_allclose(np.mean(1 - w[:, 3]), (dim - 1) / 2e6, rtol=0.1)
  # KL(q || p) = E_q[log q - log p] and H(q) = E_q[-log q].
  log_ratio = log_q - log_p
  np.testing.assert_array_less(np.abs(log_ratio.mean(0) - kl)[:3],
                               (4.5 * log_ratio.std(0) / np.sqrt(num))[:3])
  np.testing.assert_array_less(np.abs(-log_q.mean(0) - entropy)[:3],
                               (4.5 * log_q.std(0) / np.sqrt(num))[:3])
  if dim == 3:  # w has CDF (e^{k (w-1)} - e^{-2k}) / (1 - e^{-2k}), k = kappa
    for b, kappa in enumerate(kappas[:3].astype(np.float64)):
      cdf = lambda t: (np.exp(kappa * (t - 1)) - np.exp(-2 * kappa)) / (
          -np.expm1(-2 * kappa))
      assert stats.kstest(w[:, b], cdf).pvalue > 1e-3
  if dim == 2:  # the angle to mu is von Mises
    perp = np.stack([-mu[:, 1], mu[:, 0]], -1)
    angle = np.arctan2(np.einsum('nbd,bd->nb', z, perp), w)
    for b, kappa in enumerate(kappas[:3]):
      assert stats.kstest(angle[:, b], stats.vonmises(kappa).cdf).pvalue > 1e-3


def test_reparameterized_gradient_in_mu_is_unbiased():
  dim, kappa, num = 16, 10.0, 20_000
  rng = np.random.default_rng(0)
  theta = rng.normal(size=dim)
  a = rng.normal(size=dim)

  def per_sample(theta):  # a.z for each sample, mu = theta / |theta|
    mu = theta / jnp.linalg.norm(theta)
    return vmf.vmf_sample(jax.random.key(3), mu, kappa, num_samples=num) @ a

  grads = np.asarray(jax.jit(jax.jacfwd(per_sample))(theta.astype(np.float32)),
                     np.float64)
  assert grads.shape == (num, dim) and np.all(np.isfinite(grads))
  # d/dtheta E[a.z] = A_d(kappa) d(a.mu)/dtheta = A_d (I - mu mu^T) a / |theta|.
  mu = _unit(theta)
  a_d = float(vmf.vmf_mean_resultant(kappa, dim))
  exact = a_d * (a - mu * (mu @ a)) / np.linalg.norm(theta)
  mc, se = grads.mean(0), grads.std(0) / np.sqrt(num)
  np.testing.assert_array_less(np.abs(mc - exact), 4.5 * se + 1e-6)


def test_kappa_gradient_is_dh_dkappa_at_the_accepted_eps():
  # Learned kappa: the accepted eps is held fixed and the gradient flows
  # through w = 1 - 2b eps / (1 - (1 - b) eps),
  # b = (d - 1) / (2 kappa + sqrt(4 kappa^2 + (d - 1)^2)).
  dim, kappa, num = 5, 3.0, 2000
  mu = _unit(np.arange(1.0, dim + 1))
  with jax.enable_x64(True):
    w_of = lambda k: vmf.vmf_sample(jax.random.key(0), mu, k,
                                    num_samples=num) @ mu
    w, dw = jax.jvp(w_of, (kappa,), (1.0,))
    w, dw = np.asarray(w), np.asarray(dw)
  m1 = dim - 1.0
  root = np.sqrt(4 * kappa**2 + m1**2)
  b = m1 / (2 * kappa + root)
  db = -m1 * (2 + 4 * kappa / root) / (2 * kappa + root)**2
  eps = (1 - w) / (2 * b + (1 - b) * (1 - w))  # the inverse of w = h(eps)
  expected = -2 * eps * (1 - eps) / (1 - (1 - b) * eps)**2 * db
  np.testing.assert_allclose(dw, expected, rtol=1e-8, atol=1e-12)


# -- KL and the posterior ----------------------------------------------------


def test_kl_closed_form_against_quadrature_for_d3():
  expected = []
  for kappa in KAPPAS:
    # Under the uniform prior w = mu.z is U(-1, 1); under the vMF its density
    # is kappa e^{kappa w} / (2 sinh kappa). Both are uniform given w.
    log_q = lambda w: (np.log(kappa) + kappa * (w - 1)
                       - np.log1p(-np.exp(-2 * kappa)))
    integrand = lambda w: np.exp(log_q(w)) * (log_q(w) - np.log(0.5))
    split = max(-1.0, 1.0 - 50.0 / kappa)  # the mass sits within ~1/kappa of 1
    expected.append(integrate.quad(integrand, split, 1, limit=200)[0]
                    + integrate.quad(integrand, -1, split, limit=200)[0])
  kl = vmf.vmf_kl_to_uniform(KAPPAS.astype(np.float32), 3)
  np.testing.assert_allclose(kl, expected, rtol=1e-5)
  # Closed form for d = 3: kappa coth(kappa) - 1 + log(kappa / sinh(kappa)).
  e = np.exp(-2 * KAPPAS)
  closed = (KAPPAS * (1 + e) / (1 - e) - 1 + np.log(KAPPAS) - KAPPAS
            - np.log1p(-e) + np.log(2))
  np.testing.assert_allclose(kl, closed, rtol=1e-5)


def test_kl_independent_of_mu_increasing_and_asymptotes():
  rng = np.random.default_rng(2)
  kls = [vmf.VMFPosterior(mu=jnp.asarray(_unit(rng.normal(size=(2, 8))),
                                         jnp.float32),
                          kappa=jnp.full((2,), 12.0)).kl() for _ in range(2)]
  np.testing.assert_array_equal(kls[0], kls[1])
  kappas = np.logspace(-3, 4, XS.size * ORDERS.size).astype(np.float32)
  for dim in [2, 3, 32, 512]:
    kl = np.asarray(vmf.vmf_kl_to_uniform(kappas, dim))
    assert np.all(kl > 0) and np.all(np.diff(kl) > 0), dim
    # Small kappa: kappa^2 / (2d). Large kappa: the Laplace approximation
    # (d-1)/2 (log(kappa / 2 pi) - 1) + log |S^{d-1}|, up to O(d^2 / kappa).
    np.testing.assert_allclose(kl[0], kappas[0]**2 / (2 * dim), rtol=1e-3)
    big = kappas[-1]
    laplace = ((dim - 1) / 2 * (np.log(big / (2 * np.pi)) - 1)
               + vmf.log_sphere_area(dim))
    assert abs(kl[-1] - laplace) < dim**2 / big, dim


def test_kl_gradient_against_finite_differences_and_scipy():
  for dim in [2, 3, 32, 512]:
    v = dim / 2 - 1
    kl = lambda k: vmf.vmf_kl_to_uniform(k, dim)
    # d KL / d kappa = kappa A_d'(kappa), A_d' by the Riccati equation.
    ratio = _scipy_ratio(v, KAPPAS)
    exact = KAPPAS * (1 - ratio**2 - (2 * v + 1) * ratio / KAPPAS)
    ok = np.isfinite(exact)
    with jax.enable_x64(True):
      grad64 = np.asarray(_elementwise_grad(kl)(KAPPAS))
      h = 1e-4 * KAPPAS
      central = np.asarray(kl(KAPPAS + h) - kl(KAPPAS - h)) / (2 * h)
    np.testing.assert_allclose(grad64[ok], exact[ok], rtol=1e-7)
    np.testing.assert_allclose(grad64, central, rtol=1e-6)
    grad32 = _elementwise_grad(kl)(KAPPAS.astype(np.float32))
    np.testing.assert_allclose(grad32, grad64, rtol=2e-3)


def test_posterior_methods_shapes_and_broadcasting():
  rng = np.random.default_rng(3)
  mu = jnp.asarray(_unit(rng.normal(size=(6, 3))), jnp.float32)
  kappa = jnp.asarray(KAPPAS, jnp.float32)
  post = vmf.VMFPosterior(mu=mu, kappa=kappa)
  z = _unit(rng.normal(size=(5, 3))).astype(np.float32)
  cross = post.log_prob(z[:, None, :])
  assert cross.shape == (5, 6)
  # d = 3: q(z) = kappa / (4 pi sinh kappa) exp(kappa mu.z).
  k = np.asarray(kappa, np.float64)
  log_sinh = k + np.log1p(-np.exp(-2 * k)) - np.log(2)
  expected = (np.log(k / (4 * np.pi)) - log_sinh
              + k * (z @ np.asarray(mu, np.float64).T))
  np.testing.assert_allclose(cross, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(post.prior_log_prob(z[:, None, :]),
                             np.full((5, 1), -np.log(4 * np.pi)), rtol=1e-6)
  assert post.kl().shape == (6,) and post.entropy().shape == (6,)
  np.testing.assert_allclose(post.kl_per_dim(),
                             np.repeat(post.kl()[:, None] / 3, 3, 1),
                             rtol=1e-6)
  np.testing.assert_allclose(post.entropy(),
                             np.log(4 * np.pi) - post.kl(), rtol=1e-6,
                             atol=1e-6)
  a_3 = 1 / np.tanh(k) - 1 / k  # A_3(kappa) = coth(kappa) - 1/kappa
  np.testing.assert_allclose(post.mean(), a_3[:, None] * np.asarray(mu),
                             rtol=1e-5)
  # the mode is the mean direction, on the sphere, where q is largest
  np.testing.assert_array_equal(post.mode(), mu)
  assert np.all(post.log_prob(post.mode()) >= cross.max(axis=0))
  # A scalar kappa broadcasts; the posterior crosses jit boundaries.
  scalar = vmf.VMFPosterior(mu=mu, kappa=jnp.float32(KAPPAS[1]))
  assert scalar.kl().shape == (6,)
  np.testing.assert_allclose(scalar.kl(), post.kl()[1], rtol=1e-6)
  np.testing.assert_allclose(jax.jit(lambda p: p.kl())(post), post.kl(),
                             rtol=1e-6)


# -- the latent head and the VAE ----------------------------------------------


def test_vmf_latent_head_fixed_and_learned_kappa():
  features = jax.random.normal(jax.random.key(0), (6, 7))
  fixed = make_latent('vmf', 6)  # Xu and Durrett's default: kappa = 50
  post = fixed.apply(fixed.init(jax.random.key(1), features), features)
  np.testing.assert_allclose(np.linalg.norm(post.mu, axis=-1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(post.kappa, np.full(6, 50.0, np.float32))
  np.testing.assert_allclose(post.kl(), np.full(6, vmf.vmf_kl_to_uniform(
      50.0, 6)), rtol=1e-6)
  learned = make_latent('vmf', 6, learn_kappa=True, init_scale=0.5)
  post = learned.apply(learned.init(jax.random.key(1), features), features)
  assert post.kappa.shape == (6,) and np.all(post.kappa > 1.0)
  assert len(np.unique(np.asarray(post.kappa))) == 6
  with pytest.raises(ValueError, match='latent_dim >= 2'):
    make_latent('vmf', 1).init(jax.random.key(1), features)


def test_vae_with_learned_kappa_vmf_latent_builds_trains_and_jits():
  cfg = dict(kind='vae', embed_dim=8, dec_hidden=16, enc_hidden=12,
             cell='lstm', dec_dropout_in=0.0, dec_dropout_out=0.0,
             word_dropout=0.0, z_init_state=True, z_concat_input=True,
             init_scale=0.3, embed_init_scale=0.5, unroll=1, latent='vmf',
             latent_dim=4, latent_kwargs={'learn_kappa': True})
  model = build_model(cfg, 20)
  ids = jnp.array([[1, 5, 6, 2, 0], [1, 7, 8, 9, 2]])
  length = jnp.array([3, 4])
  variables = jax.jit(model.init)({'params': jax.random.key(0),
                                   'latent': jax.random.key(1)}, ids, length)

  def loss(params):
    out = model.apply({'params': params}, ids, length,
                      rngs={'latent': jax.random.key(5)})
    post = model.apply({'params': params}, ids, length,
                       method=type(model).encode)
    return jnp.sum(out['rec'] + out['kl']), (out, post.kappa)

  (value, (out, kappa)), grads = jax.jit(
      jax.value_and_grad(loss, has_aux=True))(variables['params'])
  assert np.isfinite(value) and np.all(out['rec'] > 0)
  np.testing.assert_allclose(out['kl'], vmf.vmf_kl_to_uniform(kappa, 4),
                             rtol=1e-5)
  assert out['kl_per_dim'].shape == (2, 4)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  # Reverse mode reaches the direction through the Householder map, and the
  # concentration through the KL and through w = h(eps, kappa).
  assert np.abs(grads['latent']['mu']['kernel']).sum() > 0
  assert np.abs(grads['latent']['kappa']['kernel']).sum() > 0
