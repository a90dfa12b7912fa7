"""Tests for the discrete latent families: Bernoulli and categorical codes.

Exact values come from enumerating all K^D codes (numpy, independent of the
code under test) and from scipy; sampling is checked with chi-square
goodness-of-fit tests at fixed seeds; gradient estimators are checked
against the exact gradient of E_q[f(z)] by enumeration.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from vae_jax.distributions import bernoulli, categorical, enumeration
from vae_jax.models import build_model

B_LOGITS = np.array([[0.8, -0.4, 1.5], [-2.0, 0.1, 3.0]],
                    np.float32)  # [B, D]
B_PRIOR = np.array([0.5, -1.0, 0.2], np.float32)
C_LOGITS = np.array([[[1.0, -0.5, 0.3], [0.2, 0.8, -1.0]],
                     [[-1.5, 2.0, 0.0], [0.4, 0.4, 0.4]]],
                    np.float32)  # [B, D, K]
C_PRIOR = np.array([[0.3, -0.2, 1.0], [-1.0, 0.5, 0.0]], np.float32)  # [D, K]


def _maybe_jit(fn, use_jit):
  return jax.jit(fn) if use_jit else fn


def _cosine(a, b):
  a, b = np.ravel(a), np.ravel(b)
  return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# ----------------------------------------------------------------- exact maths


def _np_bernoulli_code_probs(logits):
  """q(c) for all 2^D binary codes c, by enumeration in numpy: [2^D]."""
  p = special.expit(np.asarray(logits, np.float64))
  codes = np.array(list(itertools.product([0, 1], repeat=len(p))))
  return codes, np.prod(np.where(codes == 1, p, 1 - p), axis=1)


def _np_categorical_code_probs(logits):
  """q(c) for all K^D codes c, logits [D, K]: codes [K^D, D], probs [K^D]."""
  p = special.softmax(np.asarray(logits, np.float64), axis=-1)
  d, k = p.shape
  codes = np.array(list(itertools.product(range(k), repeat=d)))
  return codes, np.prod(p[np.arange(d), codes], axis=1)


@pytest.mark.parametrize('use_jit', [False, True])
def test_bernoulli_kl_matches_enumeration_and_scipy(use_jit):
  kl = _maybe_jit(bernoulli.bernoulli_kl, use_jit)
  for prior in (None, B_PRIOR):
    post = bernoulli.BernoulliPosterior(
        logits=jnp.asarray(B_LOGITS),
        prior_logits=None if prior is None else jnp.asarray(prior))
    prior_np = np.zeros(3) if prior is None else prior
    for b in range(2):
      _, q = _np_bernoulli_code_probs(B_LOGITS[b])
      _, p = _np_bernoulli_code_probs(prior_np)
      np.testing.assert_allclose(post.kl()[b], np.sum(q * np.log(q / p)),
                                 rtol=1e-5)
      per_dim = [stats.entropy([1 - qi, qi], [1 - pi, pi]) for qi, pi in
                 zip(special.expit(B_LOGITS[b]), special.expit(prior_np))]
      np.testing.assert_allclose(kl(B_LOGITS[b], prior_np), per_dim,
                                 rtol=1e-5, atol=1e-7)
      np.testing.assert_allclose(post.kl_per_dim()[b], per_dim, rtol=1e-5,
                                 atol=1e-7)
  # Hand-computed: KL(Bern(1/2) || Bern(1/2)) = 0, and a huge logit is finite.
  np.testing.assert_allclose(bernoulli.bernoulli_kl(0.0), 0.0, atol=1e-7)
  np.testing.assert_allclose(bernoulli.bernoulli_kl(60.0), np.log(2.0),
                             rtol=1e-6)


@pytest.mark.parametrize('use_jit', [False, True])
def test_categorical_kl_matches_enumeration_and_scipy(use_jit):
  kl = _maybe_jit(categorical.categorical_kl, use_jit)
  for prior in (None, C_PRIOR):
    post = categorical.GumbelSoftmaxPosterior(
        logits=jnp.asarray(C_LOGITS), temperature=jnp.float32(1.0),
        prior_logits=None if prior is None else jnp.asarray(prior))
    prior_np = np.zeros((2, 3)) if prior is None else prior
    for b in range(2):
      _, q = _np_categorical_code_probs(C_LOGITS[b])
      _, p = _np_categorical_code_probs(prior_np)
      np.testing.assert_allclose(post.kl()[b], np.sum(q * np.log(q / p)),
                                 rtol=1e-5)
      per_dim = [stats.entropy(special.softmax(C_LOGITS[b, d]),
                               special.softmax(prior_np[d])) for d in range(2)]
      np.testing.assert_allclose(post.kl_per_dim()[b], per_dim, rtol=1e-5,
                                 atol=1e-7)
      np.testing.assert_allclose(
          kl(C_LOGITS[b], None if prior is None else prior), per_dim,
          rtol=1e-5, atol=1e-7)
  # Hand-computed: a one-hot-like q against uniform has KL -> log K.
  np.testing.assert_allclose(categorical.categorical_kl(np.array([50.0, 0, 0])),
                             np.log(3.0), rtol=1e-6)


def _np_softmax_kl_and_grad(a, b):
  """float64 KL(softmax(a) || softmax(b)) over the last axis and its
  gradient in a: q_j (r_j - KL), r = log q - log p."""
  log_q = special.log_softmax(np.float64(a), axis=-1)
  log_p = special.log_softmax(np.float64(b), axis=-1)
  kl = np.sum(np.exp(log_q) * (log_q - log_p), axis=-1)
  return kl, np.exp(log_q) * (log_q - log_p - kl[..., None])


@pytest.mark.parametrize('use_jit', [False, True])
def test_discrete_kls_near_the_prior_keep_their_precision(use_jit):
  """Logits within 1e-4 to 0.5 of the prior's (KLs of 1e-9 to 1e-1 nats,
  the range a collapsing code passes through), float32 against float64
  (accurate here: the differences are bounded away from 0, so float64
  keeps 10 digits of the KL): relative error below 1e-4, never negative,
  gradients to 1e-4; and finite values and gradients far from the prior.
  The textbook float32 sums fail this (negative values, errors of many
  times the KL)."""
  rng = np.random.default_rng(0)
  cat_kl = _maybe_jit(categorical.categorical_kl, use_jit)
  bern_kl = _maybe_jit(bernoulli.bernoulli_kl, use_jit)
  for scale in (1e-4, 1e-3, 1e-2, 1e-1, 0.5):
    step = (rng.choice([-1.0, 1.0], size=(200, 5))
            * rng.uniform(0.5, 1.0, size=(200, 5)) * scale)
    prior = rng.normal(size=5)
    a = np.float32(prior + step)
    b = np.float32(prior)
    # categorical: K = 5, against the prior's logits
    ref, ref_grad = _np_softmax_kl_and_grad(a, b)
    got = np.asarray(cat_kl(a, b), np.float64)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    grad = jax.grad(lambda x: jnp.sum(cat_kl(x, b)))(a)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4,
                               atol=1e-4 * np.abs(ref_grad).max())
    # Bernoulli: each entry a two-class code with logits (l, 0)
    two = lambda x: np.stack([x, np.zeros_like(x)], -1)
    ref, _ = _np_softmax_kl_and_grad(two(a), two(b))
    got = np.asarray(bern_kl(a, b), np.float64)
    assert np.all(got >= 0)
    np.testing.assert_allclose(got, ref, rtol=1e-4)
  # far from the prior: the textbook sum, finite even where q underflows
  for fn, x in ((cat_kl, np.float32([[200.0, 0, -200.0], [3.0, -1.0, 0]])),
                (bern_kl, np.float32([200.0, -200.0, 3.0]))):
    value, grad = jax.value_and_grad(lambda x: jnp.sum(fn(x, 0.0 * x)))(x)
    assert np.isfinite(value) and np.all(np.isfinite(grad)), (value, grad)


def test_entropy_and_log_prob_match_enumeration():
  bpost = bernoulli.BernoulliPosterior(logits=jnp.asarray(B_LOGITS))
  cpost = categorical.GumbelSoftmaxPosterior(logits=jnp.asarray(C_LOGITS),
                                             temperature=jnp.float32(0.5))
  bcodes = enumeration.enumerate_codes(3, 2).astype(jnp.float32)  # [8, 3]
  ccodes = enumeration.enumerate_codes(2, 3, one_hot=True)  # [9, 6]
  for post, codes, np_probs, logits in (
      (bpost, bcodes, _np_bernoulli_code_probs, B_LOGITS),
      (cpost, ccodes, _np_categorical_code_probs, C_LOGITS)):
    cross = post.log_prob(codes[:, None, :])  # [N, B]
    assert cross.shape == (codes.shape[0], 2)
    for b in range(2):
      _, q = np_probs(logits[b])
      np.testing.assert_allclose(np.exp(cross[:, b]), q, rtol=1e-5)
      np.testing.assert_allclose(post.entropy()[b], stats.entropy(q),
                                 rtol=1e-5)
    # Probabilities of all codes sum to one, under q and under the prior.
    ones = enumeration.exact_expectation(
        lambda c: jnp.ones(c.shape[0]), lambda c: post.log_prob(c[:, None, :]),
        codes)
    np.testing.assert_allclose(ones, [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(jnp.sum(jnp.exp(post.prior_log_prob(codes))),
                               1.0, rtol=1e-5)
    # KL = E_q[log q - log p] by the enumeration helper.
    log_q = lambda c: post.log_prob(c[:, None, :])  # [N, B]
    kl = enumeration.exact_expectation(
        lambda c: log_q(c) - post.prior_log_prob(c)[:, None], log_q, codes)
    np.testing.assert_allclose(kl, post.kl(), rtol=1e-5)


def test_mode_is_the_most_probable_code_by_enumeration():
  bpost = bernoulli.BernoulliPosterior(logits=jnp.asarray(B_LOGITS))
  cpost = categorical.GumbelSoftmaxPosterior(logits=jnp.asarray(C_LOGITS),
                                             temperature=jnp.float32(1.0))
  for b in range(2):
    codes, probs = _np_bernoulli_code_probs(B_LOGITS[b])
    np.testing.assert_array_equal(bpost.mode()[b], codes[np.argmax(probs)])
    codes, probs = _np_categorical_code_probs(C_LOGITS[b])
    best = np.eye(3)[codes[np.argmax(probs)]].reshape(-1)  # one-hot, flat
    np.testing.assert_array_equal(cpost.mode()[b], best)
  # a code the decoder was trained on, unlike the mean (probabilities)
  assert set(np.unique(bpost.mode())) <= {0.0, 1.0}
  np.testing.assert_array_equal(cpost.mode().reshape(2, 2, 3).sum(-1), 1.0)


def test_enumerate_codes_layout_and_size_guard():
  codes = enumeration.enumerate_codes(2, 3)
  assert codes.shape == (9, 2) and codes.dtype == jnp.int32
  np.testing.assert_array_equal(codes[:4], [[0, 0], [0, 1], [0, 2], [1, 0]])
  one_hot = enumeration.enumerate_codes(2, 3, one_hot=True)
  np.testing.assert_array_equal(one_hot[5], [0, 1, 0, 0, 0, 1])  # code (1, 2)
  with pytest.raises(ValueError, match='Monte Carlo'):
    enumeration.enumerate_codes(30, 2)


# -------------------------------------------------------------------- sampling


def test_gumbel_max_frequencies_chi_square():
  logits = np.array([1.0, -0.5, 0.3, 2.0, -2.0, 0.0], np.float32)
  n = 200_000
  codes = jax.jit(categorical.gumbel_max_sample, static_argnames='num_samples')(
      jax.random.key(0), logits, num_samples=n)
  counts = np.bincount(np.asarray(codes), minlength=6)
  expected = n * special.softmax(logits.astype(np.float64))
  assert stats.chisquare(counts, expected).pvalue > 1e-3
  # The hard samplers are Gumbel-max samples too: per-variable frequencies of
  # the posterior's one-hot codes ([S, B, D * K] -> [S, B, D, K]).
  sample = jax.jit(lambda post: post.sample(jax.random.key(1), 50_000))
  for st_gradient in categorical.ST_GRADIENTS:
    post = categorical.GumbelSoftmaxPosterior(
        logits=jnp.asarray(C_LOGITS), temperature=jnp.float32(2.0), hard=True,
        st_gradient=st_gradient)
    z = np.asarray(sample(post)).reshape(50_000, 2, 2, 3)
    for b, d in itertools.product(range(2), range(2)):
      assert stats.chisquare(
          z[:, b, d].sum(0),
          50_000 * special.softmax(C_LOGITS[b, d].astype(np.float64))
      ).pvalue > 1e-3


def test_bernoulli_joint_code_frequencies_chi_square():
  n = 100_000
  post = bernoulli.BernoulliPosterior(logits=jnp.asarray(B_LOGITS))
  z = np.asarray(jax.jit(post.sample, static_argnums=1)(jax.random.key(2), n))
  assert z.shape == (n, 2, 3)
  for b in range(2):
    index = z[:, b] @ np.array([4, 2, 1])  # the code as an integer 0..7
    codes, q = _np_bernoulli_code_probs(B_LOGITS[b])
    np.testing.assert_array_equal(codes @ np.array([4, 2, 1]), np.arange(8))
    counts = np.bincount(index.astype(int), minlength=8)
    assert stats.chisquare(counts, n * q).pvalue > 1e-3


def test_gumbel_softmax_on_simplex_and_sharpens_as_temperature_falls():
  logits = jnp.asarray(C_LOGITS)
  max_entry = []
  for tau in (5.0, 1.0, 0.5, 0.1):
    y = categorical.gumbel_softmax_sample(jax.random.key(3), logits,
                                          temperature=tau, num_samples=10_000)
    assert y.shape == (10_000, 2, 2, 3)
    np.testing.assert_allclose(jnp.sum(y, -1), 1.0, atol=1e-6)
    assert np.all(np.asarray(y) >= 0.0)
    max_entry.append(float(jnp.mean(jnp.max(y, -1))))
  assert np.all(np.diff(max_entry) > 0), max_entry
  # Measured 0.41, 0.69, 0.82, 0.96: with these logits a few percent of the
  # samples at tau = 0.1 still have two close Gumbel-perturbed logits, so the
  # mean maximum is not yet above 0.99.
  assert max_entry[0] < 0.5 and max_entry[-1] > 0.95, max_entry


def test_straight_through_forward_is_exact_and_backward_is_relaxed():
  key = jax.random.key(4)
  w = np.random.default_rng(5).normal(size=(64, 2, 2, 3)).astype(np.float32)
  wb = w[..., 0, :]  # [64, 2, 3] for the Bernoulli codes

  def objective(sampler, weights):  # logits -> sum(w * z), z from `sampler`
    return lambda logits: jnp.sum(weights * sampler(logits))

  gs = lambda hard: lambda l: categorical.gumbel_softmax_sample(
      key, l, temperature=0.7, hard=hard, num_samples=64)
  st_probs = lambda l: categorical.straight_through_categorical_sample(
      key, l, num_samples=64)
  st_bern = lambda l: bernoulli.bernoulli_sample(key, l, num_samples=64)

  @jax.jit
  def everything(c_logits, b_logits):
    samples = (gs(True)(c_logits), gs(False)(c_logits), st_probs(c_logits),
               st_bern(b_logits))
    grads = (jax.grad(objective(gs(True), w))(c_logits),
             jax.grad(objective(gs(False), w))(c_logits),
             jax.grad(objective(st_probs, w))(c_logits),
             jax.grad(objective(jax.nn.softmax, w))(c_logits),
             jax.grad(objective(st_bern, wb))(b_logits),
             jax.grad(objective(jax.nn.sigmoid, wb))(b_logits))
    return samples, grads

  (hard, relaxed, st, zb), grads = everything(C_LOGITS, B_LOGITS)
  hard, relaxed, st, zb = map(np.asarray, (hard, relaxed, st, zb))
  # Forward: exactly one-hot / exactly binary, the Gumbel-max code.
  for one_hot in (hard, st):
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    np.testing.assert_array_equal(one_hot.sum(-1), 1.0)
  np.testing.assert_array_equal(np.argmax(hard, -1), np.argmax(relaxed, -1))
  assert set(np.unique(zb)) == {0.0, 1.0}
  # Backward: ST Gumbel-softmax = relaxed sample with the same key; ST to the
  # probabilities = softmax / sigmoid.
  g_st, g_relaxed, g_st_probs, g_softmax, g_bern, g_sigmoid = grads
  assert np.abs(g_st).max() > 1e-2
  np.testing.assert_allclose(g_st, g_relaxed, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(g_st_probs, g_softmax, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(g_bern, g_sigmoid, rtol=1e-6, atol=1e-7)


# ------------------------------------------------- gradient estimators vs exact

W6 = jnp.array([0.7, -1.2, 0.4, 1.5, -0.3, 0.9])


def _f(z):
  """A small nonlinear objective of a flattened code <float>[..., F]."""
  n = z.shape[-1]
  return jnp.square(z @ W6[:n] - 0.5) + jnp.sin(z @ jnp.arange(float(n)))


def _exact_categorical_grad(logits, f=_f):
  codes = enumeration.enumerate_codes(2, 3, one_hot=True)
  def expectation(l):
    return enumeration.exact_expectation(
        f, lambda c: categorical.categorical_log_prob(c.reshape(-1, 2, 3), l),
        codes)
  return jax.grad(expectation)(logits)


def test_reinforce_gradient_is_unbiased():
  logits = jnp.asarray(C_LOGITS[0])  # [D=2, K=3]
  exact = _exact_categorical_grad(logits)
  n = 100_000
  codes = categorical.gumbel_max_sample(jax.random.key(6), logits,
                                        num_samples=n)
  z = jax.nn.one_hot(codes, 3)  # [n, 2, 3]

  def score_term(l, zi):  # f(z) grad log q(z)
    return jax.grad(lambda l: categorical.categorical_log_prob(zi, l))(l) * _f(
        zi.reshape(6))

  per_sample = np.asarray(jax.jit(jax.vmap(score_term, (None, 0)))(logits, z))
  mc, stderr = per_sample.mean(0), per_sample.std(0) / np.sqrt(n)
  np.testing.assert_array_less(np.abs(mc - exact), 4 * stderr)
  assert _cosine(mc, exact) > 0.99


def test_relaxed_and_straight_through_gradients_against_exact():
  """Both are biased; the bias falls with the temperature.

  Measured cosine similarities to the exact gradient (100k samples):
  tau = 1: relaxed 0.89, straight-through 0.84; tau = 0.5: 0.97, 0.95;
  tau = 0.1: 0.999, 0.998.
  """
  logits = jnp.asarray(C_LOGITS[0])
  exact = _exact_categorical_grad(logits)
  n = 100_000

  @jax.jit
  def grads(l, tau):
    def estimate(l, hard):
      z = categorical.gumbel_softmax_sample(jax.random.key(7), l,
                                            temperature=tau, hard=hard,
                                            num_samples=n)
      return jnp.mean(_f(z.reshape(n, 6)))
    return jax.grad(estimate)(l, False), jax.grad(estimate)(l, True)

  cosines = {}
  for tau in (1.0, 0.5, 0.1):
    relaxed, st = grads(logits, tau)
    cosines[tau] = (_cosine(relaxed, exact), _cosine(st, exact))
  assert cosines[0.5][0] > 0.95 and cosines[0.5][1] > 0.9, cosines
  assert cosines[0.1][0] > 0.99 and cosines[0.1][1] > 0.99, cosines
  assert cosines[1.0][0] < cosines[0.5][0] < cosines[0.1][0], cosines


def test_straight_through_to_probs_exact_for_linear_f_biased_otherwise():
  """d z / d p = 1 makes the estimator exact when f is linear in z; for the
  nonlinear f its bias is far beyond Monte Carlo error (measured cosine to
  the exact gradient, 100k samples: Bernoulli 0.30, categorical 0.74)."""
  n = 100_000
  key = jax.random.key(8)
  linear = lambda z: z @ W6[:z.shape[-1]]
  bcodes = enumeration.enumerate_codes(3, 2).astype(jnp.float32)

  def st_cat(l, f):
    return jnp.mean(f(categorical.straight_through_categorical_sample(
        key, l, num_samples=n).reshape(n, 6)))

  def st_bern(l, f):
    return jnp.mean(f(bernoulli.bernoulli_sample(key, l, num_samples=n)))

  def exact_bern(l, f):
    return enumeration.exact_expectation(
        f, lambda c: bernoulli.bernoulli_log_prob(c, l), bcodes)

  def st_bern_per_sample(l, u):  # one term of st_bern, from its uniform u
    p = jax.nn.sigmoid(l)
    return _f((u < p).astype(p.dtype) + p - jax.lax.stop_gradient(p))

  @jax.jit
  def everything(c_logits, b_logits):
    per_sample = jax.vmap(jax.grad(st_bern_per_sample), (None, 0))(
        b_logits, jax.random.uniform(key, (n, 3)))
    return (jax.grad(st_cat)(c_logits, linear),
            _exact_categorical_grad(c_logits, linear),
            jax.grad(st_bern)(b_logits, linear),
            jax.grad(exact_bern)(b_logits, linear),
            jax.grad(st_bern)(b_logits, _f),
            jax.grad(exact_bern)(b_logits, _f), per_sample)

  (cat_st_lin, cat_exact_lin, bern_st_lin, bern_exact_lin, bern_st,
   bern_exact, per_sample) = everything(C_LOGITS[0], B_LOGITS[0])
  np.testing.assert_allclose(cat_st_lin, cat_exact_lin, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(bern_st_lin, bern_exact_lin, rtol=1e-5,
                             atol=1e-6)
  mc, stderr = np.mean(per_sample, 0), np.std(per_sample, 0) / np.sqrt(n)
  np.testing.assert_allclose(mc, bern_st, rtol=1e-4, atol=1e-6)
  assert np.max(np.abs(mc - bern_exact) / stderr) > 10


# ---------------------------------------------------------- posteriors, models


def test_temperature_is_traced_not_static():
  traces = []

  @jax.jit
  def sample(post, key):
    traces.append(None)
    return post.sample(key, 3)

  for tau in (1.0, 0.5, 0.25):
    post = categorical.GumbelSoftmaxPosterior(logits=jnp.asarray(C_LOGITS),
                                              temperature=jnp.float32(tau))
    z = sample(post, jax.random.key(0))
    assert z.shape == (3, 2, 6)
  assert len(traces) == 1
  np.testing.assert_allclose(post.mean(),
                             special.softmax(C_LOGITS, -1).reshape(2, 6),
                             rtol=1e-6)
  with pytest.raises(ValueError, match='st_gradient'):
    post.replace(hard=True, st_gradient='nope').sample(jax.random.key(0), 1)


CFG = dict(kind='vae', embed_dim=8, dec_hidden=16, enc_hidden=12, cell='lstm',
           dec_dropout_in=0.0, dec_dropout_out=0.0, word_dropout=0.0,
           z_init_state=True, z_concat_input=True, init_scale=0.3,
           embed_init_scale=0.5, unroll=1, latent='gaussian', latent_dim=3)


@pytest.mark.parametrize('latent,kwargs,z_dim', [
    ('bernoulli', {}, 3),
    ('gumbel', {'num_classes': 4, 'temperature': 0.5}, 12),
    ('gumbel_st', {'num_classes': 4}, 12),
    ('categorical_st', {'num_classes': 4}, 12),
])
def test_vae_with_discrete_latent_is_finite_under_jit(latent, kwargs, z_dim):
  # A larger head init than the default 0.01, so that q is away from the prior
  # and the KL is not ~1e-7.
  kwargs = dict(kwargs, init_scale=0.5)
  model = build_model(dict(CFG, latent=latent, latent_kwargs=kwargs), 20)
  ids = jnp.array([[1, 5, 6, 2, 0], [1, 7, 8, 9, 2]])
  length = jnp.array([3, 4])

  # The backend optimisation level only shortens XLA's compile (2 s instead
  # of 7 s on a loaded 2-core machine); the numbers are the same.
  @functools.partial(jax.jit,
                     compiler_options={'xla_backend_optimization_level': 0})
  def run(key):
    out, variables = model.init_with_output({'params': key, 'latent': key},
                                            ids, length)
    post = model.apply(variables, ids, length, method=type(model).encode)
    z = post.sample(key, 5)  # [S, B, D_flat], the layout the IW bound uses
    return out, z, post.log_prob(z), post.prior_log_prob(z)

  out, z, log_q, log_p = run(jax.random.key(0))
  assert out['rec'].shape == out['kl'].shape == (2,)
  assert out['kl_per_dim'].shape == (2, 3)
  assert z.shape == (5, 2, z_dim) and log_q.shape == log_p.shape == (5, 2)
  for value in (out['rec'], out['kl'], log_q, log_p):
    assert np.all(np.isfinite(value))
  assert np.all(out['rec'] > 0) and np.all(out['kl'] > 1e-4)
  assert np.all(log_q <= 0) and np.all(log_p <= 0)
  np.testing.assert_allclose(out['kl'], out['kl_per_dim'].sum(-1), rtol=1e-5)


@pytest.mark.parametrize('latent,kwargs', [
    ('bernoulli', {}), ('gumbel_st', {'num_classes': 3})])
def test_learned_prior_starts_uniform_and_the_kl_trains_it(latent, kwargs):
  ids = jnp.array([[1, 5, 6, 2, 0], [1, 7, 8, 9, 2]])
  length = jnp.array([3, 4])
  key = jax.random.key(0)
  kwargs = dict(kwargs, init_scale=0.5)
  fixed = build_model(dict(CFG, latent=latent, latent_kwargs=kwargs), 20)
  learned = build_model(dict(CFG, latent=latent,
                             latent_kwargs=dict(kwargs, learned_prior=True)), 20)
  v_fixed = fixed.init({'params': key, 'latent': key}, ids, length)
  v = learned.init({'params': key, 'latent': key}, ids, length)
  prior = v['params']['latent']['prior_logits']
  assert prior.shape == ((3,) if latent == 'bernoulli' else (3, 3))
  np.testing.assert_array_equal(prior, 0.0)   # the uniform prior at init
  # the same head otherwise, so the same KL at init
  out_fixed = fixed.apply(v_fixed, ids, length, rngs={'latent': key})
  out = learned.apply(v, ids, length, rngs={'latent': key})
  np.testing.assert_allclose(out['kl'], out_fixed['kl'], rtol=1e-6)

  # d KL(q || p_a) / d a = p_a - q for both families (softmax or sigmoid
  # prior): summed over the batch at a = 0, sum_b (uniform - q_b)
  def total_kl(prior_logits):
    params = dict(v['params'], latent=dict(v['params']['latent'],
                                           prior_logits=prior_logits))
    return learned.apply({'params': params}, ids, length,
                         rngs={'latent': key})['kl'].sum()

  grad = jax.grad(total_kl)(prior)
  post = learned.apply(v, ids, length, method=type(learned).encode)
  if latent == 'bernoulli':
    q = jax.nn.sigmoid(post.logits)
    expected = np.sum(0.5 - q, axis=0)
  else:
    q = jax.nn.softmax(post.logits, axis=-1)
    expected = np.sum(1 / 3 - q, axis=0)
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
  assert np.abs(grad).max() > 1e-3   # a real gradient, not a zero one


def test_learned_prior_samples_follow_its_logits():
  key = jax.random.key(3)
  ids = jnp.array([[1, 5, 6, 2, 0]])
  length = jnp.array([3])
  n = 20000
  for latent, kwargs, logits in (
      ('bernoulli', {}, B_PRIOR),
      ('gumbel_st', {'num_classes': 3}, C_PRIOR)):
    d = logits.shape[0]
    model = build_model(dict(CFG, latent=latent, latent_dim=d,
                             latent_kwargs=dict(kwargs, learned_prior=True)),
                        20)
    v = model.init({'params': key, 'latent': key}, ids, length)
    params = dict(v['params'], latent=dict(v['params']['latent'],
                                           prior_logits=jnp.asarray(logits)))
    z = np.asarray(model.apply({'params': params}, key, n,
                               method=type(model).prior_sample))
    if latent == 'bernoulli':
      p = special.expit(logits)
    else:
      p = special.softmax(logits, axis=-1).reshape(-1)   # z is flattened
    freq = z.mean(axis=0)
    assert freq.shape == p.shape
    # every frequency within 4.5 binomial standard errors of its probability
    np.testing.assert_array_less(np.abs(freq - p),
                                 4.5 * np.sqrt(p * (1 - p) / n))
