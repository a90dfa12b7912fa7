"""von Mises-Fisher latents on the unit sphere S^{d-1} with a uniform prior.

  vMF(z; mu, kappa) = C_d(kappa) exp(kappa mu.z),
  C_d(kappa) = kappa^{d/2-1} / ((2 pi)^{d/2} I_{d/2-1}(kappa)),

for |mu| = |z| = 1 and kappa > 0. E[z] = A_d(kappa) mu with
A_d(kappa) = I_{d/2}(kappa) / I_{d/2-1}(kappa).

Bessel function. I_v(x) is evaluated in log space by Debye's uniform
asymptotic expansion (DLMF 10.41.3, 10 terms) at an order v + n >= 20, then
n <= 20 steps of the three-term recurrence downwards, which is stable for
I_v (every term is positive); the expansion is uniform in x / v, so one code
path covers every x > 0 and any order >= 0. Each quantity the vMF needs
(log I_v, log I_v - x, I_{v+1}/I_v, 1 - I_{v+1}/I_v, log 0F1(; v+1; x^2/4),
d/dx log I_v) is carried in a form without cancellation. Measured against
mpmath (40 digits) on v in [0, 255], x in [1e-3, 1e4]: in float64, log I_v
to 1.2e-14 relative (5e-13 absolute), the ratio to 1e-12; in float32, log I_v
to 4e-6 relative to max(1, |log I_v|), the ratio to 2e-7, and the KL to 1e-5
relative (d from 2 to 512, kappa from 1e-2 to 1e4), its kappa-gradient to
6e-5. Derivatives in x come from the identities (custom_jvp) and, for the
ratio, from one forward-mode pass (cheap to compile in reverse mode too).

Gradients of samples (Davidson et al. 2018, after Naesseth et al. 2017):
the proposal eps accepted by Wood's rejection sampler is treated as fixed,
and the gradient flows through w = h(eps, kappa) and through the Householder
reflection that moves the sample from a pole to mu. With kappa fixed (Xu and
Durrett's default) this is an exact reparameterization in mu. With a learned
kappa it is the reparameterization term g_rep only: the correction term
g_cor of Davidson et al. (the score of the acceptance probability, eq. 8) is
dropped, as in their released code, so the kappa-gradient of E_q[f(z)] is
biased towards zero: for f = mu.z by -20 % at d = 3, kappa = 1, -5 % at
d = 16, kappa = 10, and under -2 % for d >= 16, kappa >= 50 (measured). The
KL is in closed form and its kappa-gradient is exact.

References:
  Wood (1994), Simulation of the von Mises Fisher distribution.
  Naesseth, Ruiz, Linderman and Blei (2017), Reparameterization Gradients
    through Acceptance-Rejection Sampling Algorithms.
  Davidson, Falorsi, De Cao, Kipf and Tomczak (2018), Hyperspherical
    Variational Auto-Encoders.
  Xu and Durrett (2018), Spherical Latent Spaces for Stable Variational
    Autoencoders.
  DLMF 10.29.1-2 (recurrence, derivative), 10.41.3-4, 10.41.10, 10.41.13
    (Debye's expansion).
"""

import fractions
import functools
import math
from typing import NamedTuple

import flax
import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike
import numpy as np

# Debye's expansion is used at orders >= this; smaller orders recur down
# from there (at most this many steps). With `_DEBYE_TERMS` terms the error
# of log I_v at this order is ~1e-13 for every x (order 16 with 9 terms:
# 3e-12).
_DEBYE_MIN_ORDER = 20
_DEBYE_TERMS = 10
# Wood's sampler accepts a proposal with probability >= ~0.66 for every
# (kappa, d) (the least at d = 2, large kappa); this cap only guards against
# non-finite inputs looping forever (an element still rejected after it,
# probability < 1e-45, gets eps = 0, i.e. z = mu).
_MAX_REJECTION_ROUNDS = 100


def _debye_polynomials(num_terms: int):
  """Coefficients (lowest degree first) of u_k, w_k and d_k, k < num_terms.

  u_k are Debye's polynomials (DLMF 10.41.10):
    u_{k+1}(p) = p^2 (1 - p^2) u_k'(p) / 2 + (1/8) int_0^p (1 - 5t^2) u_k(t) dt.
  The v_k of the derivative (DLMF 10.41.13) satisfy
    v_k - u_k = (1 - p^2) w_k,   w_k = -p (u_{k-1} / 2 + p u_{k-1}'),
  which lets I_{v+1}/I_v be written without cancellation, and
    u_k(p) - u_k(1) = (p - 1) d_k(p)
  lets log U(p) - log U(1) be computed accurately as p -> 1 (x << v).
  """
  frac = fractions.Fraction

  def deriv(c):
    return [i * c[i] for i in range(1, len(c))] or [frac(0)]

  def mul(c, d):
    out = [frac(0)] * (len(c) + len(d) - 1)
    for i, ci in enumerate(c):
      for j, dj in enumerate(d):
        out[i + j] += ci * dj
    return out

  def add(c, d):
    n = max(len(c), len(d))
    c, d = c + [frac(0)] * (n - len(c)), d + [frac(0)] * (n - len(d))
    return [x + y for x, y in zip(c, d)]

  def divide_by_p_minus_1(c):  # synthetic division; c(1) is the remainder
    out, acc = [], frac(0)
    for coeff in reversed(c[1:]):
      acc = acc + coeff
      out.append(acc)
    return list(reversed(out)) or [frac(0)]

  us = [[frac(1)]]
  for _ in range(num_terms - 1):
    u = us[-1]
    first = mul([frac(0), frac(0), frac(1, 2), frac(0), frac(-1, 2)], deriv(u))
    integrand = mul([frac(1), frac(0), frac(-5)], u)
    second = [frac(0)] + [c / (8 * (i + 1)) for i, c in enumerate(integrand)]
    us.append(add(first, second))
  ws = [[frac(0)]] + [
      mul([frac(0), frac(-1)],
          add([c / 2 for c in u], mul([frac(0), frac(1)], deriv(u))))
      for u in us[:-1]]
  ds = [divide_by_p_minus_1(u) for u in us]
  as_float = lambda cs: [[float(c) for c in poly] for poly in cs]
  return as_float(us), as_float(ws), as_float(ds)


def _stacked_coefficients(*families):
  """[k, family, j]: the coefficient of p^j in term k, zero-padded."""
  degree = max(len(c) for polys in families for c in polys)
  out = np.zeros((_DEBYE_TERMS, len(families), degree))
  for f, polys in enumerate(families):
    for k, coeffs in enumerate(polys):
      out[k, f, :len(coeffs)] = coeffs
  return out


_U_POLYS, _W_POLYS, _D_POLYS = _debye_polynomials(_DEBYE_TERMS)
_COEFFS = _stacked_coefficients(_U_POLYS, _W_POLYS, _D_POLYS)
_U_AT_1 = [sum(c) for c in _U_POLYS]


def _debye_series(p, inv_order):
  """U, W and D(p) = sum_k poly_k(p) / v^k, by Horner's rule in 1/v, then p.

  Stacked so that the graph stays small (fast to compile): <float>[..., 3].
  """
  table = jnp.asarray(_COEFFS, p.dtype)
  coeffs = table[-1]
  for k in range(_DEBYE_TERMS - 2, -1, -1):
    coeffs = coeffs * inv_order[..., None, None] + table[k]
  total = coeffs[..., -1]
  for j in range(coeffs.shape[-1] - 2, -1, -1):
    total = total * p[..., None] + coeffs[..., j]
  return total


def _complement(ratio, stable_complement):
  """1 - R: subtracted directly while R < 1/2 (its derivative is then exact
  too), else `stable_complement`, a formula without cancellation near R = 1."""
  return jnp.where(ratio < 0.5, 1.0 - ratio, stable_complement)


class _Bessel(NamedTuple):
  """I_v(x) in the forms the vMF needs, each computed without cancellation.

  log 0F1(; v + 1; x^2 / 4) = log(Gamma(v + 1) (2 / x)^v I_v(x)) is about
  x^2 / (4 (v + 1)) for small x, where log I_v(x) is dominated by
  v log(x / 2) - lgamma(v + 1), and about x for large x; it is carried both
  as is (accurate for small x) and minus x (accurate for large x).
  """
  log_iv: jax.Array          # log I_v(x)
  log_ive: jax.Array         # log I_v(x) - x
  log_hyp: jax.Array         # log 0F1(; v + 1; x^2 / 4)
  log_hyp_scaled: jax.Array  # log 0F1(; v + 1; x^2 / 4) - x
  ratio: jax.Array           # R = I_{v+1}(x) / I_v(x)
  complement: jax.Array      # 1 - R
  dlog: jax.Array            # d/dx log ive_v(x) = R + v / x - 1


def _debye(order, x) -> _Bessel:
  """Debye's expansion at order v >= `_DEBYE_MIN_ORDER` (log_iv unset).

  Written in u = v / x and p = (1 + (x / v)^2)^{-1/2} so that neither the
  values nor their derivatives cancel at small or large x.
  """
  u = order / x
  z = x / order
  su = jnp.sqrt(1.0 + u * u)
  s = jnp.sqrt(1.0 + z * z)
  p = 1.0 / s
  half_log_p = -0.25 * jnp.log1p(z * z)  # log(p) / 2, exact as z -> 0
  inv_order = 1.0 / order
  big_u, big_w, big_d = jnp.moveaxis(_debye_series(p, inv_order), -1, 0)
  t = 1.0 / (u + su)  # = z / (1 + s)
  # DLMF 10.41.3 times e^{-x}: v (eta - z) = v (u / (1 + su) - asinh(u)).
  log_ive = (order * (u / (1.0 + su) - jnp.arcsinh(u))
             - 0.5 * jnp.log(2.0 * math.pi * order) + half_log_p
             + jnp.log(big_u))
  # log 0F1 = log ive + x - v log(x / 2) + lgamma(v + 1). With Stirling's
  # series for lgamma, whose correction exp(-S(v)) is the expansion's own
  # U(1) = sum u_k(1) / v^k, this is, with y = t / (2u),
  #   log 0F1 = v (2y - log1p(y)) + log(p) / 2 + log(U(p) / U(1)),
  # U(p) - U(1) = -(1 - p) sum d_k(p) / v^k and 1 - p = z^2 p / (1 + s).
  y = t / (2.0 * u)
  u_at_1 = jnp.zeros_like(p)
  for c in reversed(_U_AT_1):
    u_at_1 = u_at_1 * inv_order + c
  log_u_ratio = jnp.log1p(-(z * z * p / (1.0 + s)) * big_d / u_at_1)
  hyp = order * (2.0 * y - jnp.log1p(y)) + half_log_p + log_u_ratio
  hyp_scaled = log_ive - order * jnp.log(0.5 * x) + lax.lgamma(order + 1.0)
  # I'_v / I_v = (s / z) V / U with V = U + (1 - p^2) W (DLMF 10.41.4), so
  # R = I'_v / I_v - v / x = t + (W / U) (t + u) / (1 + u^2).
  corr = big_w / big_u * (t + u) / (1.0 + u * u)
  ratio = t + corr
  one_minus_t = u * (1.0 + su + u) / ((1.0 + su) * (u + su))
  complement = _complement(ratio, one_minus_t - corr)
  # g = R + v / x - 1 = u - (1 - t) + corr, and u - (1 - t) = u^2 / (1 + su).
  dlog = u * u / (1.0 + su) + corr
  small = ratio < 0.5
  return _Bessel(
      log_iv=jnp.zeros_like(x), log_ive=log_ive,
      log_hyp=jnp.where(small, hyp, hyp_scaled + x),
      log_hyp_scaled=jnp.where(small, hyp - x, hyp_scaled),
      ratio=ratio, complement=complement, dlog=dlog)


@jax.custom_jvp
def _bessel(order, x) -> _Bessel:
  """I_v(x) for v >= 0, x > 0 (same shape), as a `_Bessel`.

  Every field is an elementwise function of x, so its derivative is one
  forward-mode pass with unit tangents (`_bessel_jvp`). Reverse mode then
  transposes only the final products, not the recurrence loop, which keeps
  gradients cheap to compile. The order is never differentiated.
  """
  return _bessel_impl(order, x)


@_bessel.defjvp
def _bessel_jvp(primals, tangents):
  order, x = primals
  out, slopes = _bessel_forward(order, x)
  return out, jax.tree.map(lambda d: d * tangents[1], slopes)


@jax.jit
def _bessel_forward(order, x):
  return jax.jvp(lambda x: _bessel_impl(order, x), (x,), (jnp.ones_like(x),))


@jax.jit
def _bessel_impl(order, x) -> _Bessel:
  """I_v(x) for v >= 0, x > 0, as a `_Bessel`.

  Debye's expansion at v + n >= `_DEBYE_MIN_ORDER` (n >= 0 an integer), then
  n steps of I_{k-1} = I_{k+1} + (2k / x) I_k (DLMF 10.29.1), as ratios:
  R_{k-1} = 1 / (R_k + 2k / x). Every step adds positive terms, so the
  recurrence is stable downwards; a fixed number of masked steps keeps it
  jit- and vmap-friendly.
  """
  steps = jnp.maximum(jnp.ceil(_DEBYE_MIN_ORDER - order), 0.0)
  top = order + steps

  def body(i, b):
    active = i < steps
    k = jnp.where(active, top - i, top)  # order k -> k - 1; k >= 1 if active
    denom = b.ratio + 2.0 * k / x
    ratio = 1.0 / denom
    complement = _complement(ratio, (2.0 * k / x - b.complement) / denom)
    # log I_{k-1} = log I_k - log R_{k-1}; log1p keeps R close to 1 exact.
    log_ratio = jnp.where(complement < 0.5, jnp.log1p(-complement),
                          jnp.log(ratio))
    # 0F1(; k; x^2/4) / 0F1(; k + 1; x^2/4) = 1 + R_k x / (2k): no cancelling.
    log_hyp_step = jnp.log1p(b.ratio * x / (2.0 * k))
    # g_{k-1} = R_{k-1} + (k - 1) / x - 1, rearranged in terms of g_k so that
    # the O(k / x) parts do not cancel at large x.
    dlog = (k * (k - 1.0) / (x * x) - 1.0 / x
            - b.dlog * (1.0 - (k - 1.0) / x)) / denom
    new = _Bessel(b.log_iv, b.log_ive - log_ratio, b.log_hyp + log_hyp_step,
                  b.log_hyp_scaled + log_hyp_step, ratio, complement, dlog)
    return jax.tree.map(lambda n, o: jnp.where(active, n, o), new, b)

  b = lax.fori_loop(0, _DEBYE_MIN_ORDER, body, _debye(top, x))
  # At small x, log I_v = log 0F1 + v log(x / 2) - lgamma(v + 1) is more
  # accurate than the sum of the recurrence's logs (log I_0(x) ~ x^2 / 4).
  small = b.ratio < 0.5
  from_hyp = b.log_hyp + order * jnp.log(0.5 * x) - lax.lgamma(order + 1.0)
  return b._replace(log_iv=jnp.where(small, from_hyp, b.log_ive + x),
                    log_ive=jnp.where(small, from_hyp - x, b.log_ive))


def _with_derivative(value, derivative):
  """A function of (order, x) computed from `_bessel`, with the jvp
  `derivative(b, order, x) * x_dot`; the order is never differentiated (the
  public functions stop its gradient)."""

  @jax.custom_jvp
  def fn(order, x):
    return value(_bessel(order, x), order, x)

  @fn.defjvp
  def fn_jvp(primals, tangents):
    order, x = primals
    b = _bessel(order, x)
    return value(b, order, x), derivative(b, order, x) * tangents[1]

  return fn


# d/dx log I_v = I_{v+1}/I_v + v/x (DLMF 10.29.2: I_v' = I_{v+1} + (v/x) I_v).
_log_iv = _with_derivative(lambda b, v, x: b.log_iv,
                           lambda b, v, x: b.ratio + v / x)
_log_ive = _with_derivative(lambda b, v, x: b.log_ive,
                            lambda b, v, x: b.dlog)
# d/dx log 0F1(; v+1; x^2/4) = R. The vMF normaliser and KL are written with
# these two, so neither they nor their gradients subtract large terms.
_log_hyp = _with_derivative(lambda b, v, x: b.log_hyp,
                            lambda b, v, x: b.ratio)
_log_hyp_scaled = _with_derivative(lambda b, v, x: b.log_hyp_scaled,
                                   lambda b, v, x: -b.complement)


def _broadcast_float(order, x):
  x = jnp.asarray(x)
  dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
  dtype = jnp.result_type(dtype, jnp.float32)
  order, x = jnp.broadcast_arrays(jnp.asarray(order, dtype),
                                  jnp.asarray(x, dtype))
  return lax.stop_gradient(order), x


def log_bessel_iv(order: ArrayLike, x: ArrayLike) -> jax.Array:
  """log I_v(x), the modified Bessel function of the first kind.

  Differentiable in x by the identity (DLMF 10.29.2)
    d/dx log I_v(x) = I_{v+1}(x) / I_v(x) + v / x  (= I_{v-1}/I_v - v / x).
  Not differentiable in the order (its gradient is stopped).

  Args:
    order: v >= 0, broadcastable against x.
    x: x > 0.

  Returns:
    log I_v(x), the broadcast shape of order and x.
  """
  return _log_iv(*_broadcast_float(order, x))


def log_bessel_ive(order: ArrayLike, x: ArrayLike) -> jax.Array:
  """log(I_v(x) e^{-x}); d/dx = I_{v+1}/I_v + v / x - 1. See `log_bessel_iv`."""
  return _log_ive(*_broadcast_float(order, x))


def bessel_iv_ratio(order: ArrayLike, x: ArrayLike) -> jax.Array:
  """I_{v+1}(x) / I_v(x) in (0, 1), to full relative precision.

  Differentiable in x by differentiating the evaluation itself, which is
  arranged to have no cancellation (the derivative satisfies the Riccati
  equation R' = 1 - R^2 - (2v + 1) R / x, which itself would cancel).
  """
  return _bessel(*_broadcast_float(order, x)).ratio


def _dot(a, b):
  """sum(a * b, -1) with broadcasting, as a contraction (dot_general).

  Not `jnp.sum(a * b, -1)`, nor an einsum of operands broadcast to one shape
  (XLA rewrites both to multiply + reduce): XLA:CPU in jaxlib 0.10.2
  miscomputes a fused multiply-reduce when an operand broadcast into the
  reduction is used again after it (the YNNPACK "reduce" fusion; wrong values
  past 2^15 elements). A genuine contraction is not fused that way.
  """
  return jnp.einsum('...d,...d->...', a, b)


def _order(dim: int) -> float:
  if dim < 2:
    raise ValueError(f'the vMF needs dimension >= 2 (S^1 or larger), got '
                     f'dim={dim}')
  return dim / 2.0 - 1.0


def vmf_mean_resultant(kappa: ArrayLike, dim: int) -> jax.Array:
  """A_d(kappa) = I_{d/2}(kappa) / I_{d/2-1}(kappa) = E[mu.z], in (0, 1)."""
  return bessel_iv_ratio(_order(dim), kappa)


def log_sphere_area(dim: int) -> float:
  """log |S^{d-1}| = log(2 pi^{d/2} / Gamma(d/2)); 4 pi for d = 3."""
  return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(dim / 2.0)


def uniform_sphere_log_prob(dim: int) -> float:
  """log of the uniform density on S^{d-1}: -log |S^{d-1}|."""
  return -log_sphere_area(dim)


def vmf_log_normalizer(kappa: ArrayLike, dim: int) -> jax.Array:
  """log C_d(kappa) = (d/2-1) log kappa - (d/2) log 2pi - log I_{d/2-1}(kappa).

  Computed as -log 0F1(; d/2; kappa^2 / 4) - log |S^{d-1}|, the same thing
  rearranged, which stays exact as kappa -> 0 (C_d -> 1 / |S^{d-1}|). Its
  kappa-derivative is -A_d(kappa).
  """
  order, kappa = _broadcast_float(_order(dim), kappa)
  small = _bessel(order, kappa).ratio < 0.5
  return jnp.where(small, -_log_hyp(order, kappa),
                   -_log_hyp_scaled(order, kappa) - kappa) - log_sphere_area(
                       dim)


def vmf_log_prob(z: ArrayLike, mu: ArrayLike, kappa: ArrayLike) -> jax.Array:
  """log vMF(z; mu, kappa) = log C_d(kappa) + kappa mu.z.

  Args:
    z: <float>[..., D] on the sphere.
    mu: <float>[..., D], unit norm; broadcast against z.
    kappa: <float>[...], broadcast against mu.shape[:-1].

  Returns:
    <float>[...], the broadcast of z.shape[:-1], mu.shape[:-1], kappa.shape.
  """
  z, mu, kappa = jnp.asarray(z), jnp.asarray(mu), jnp.asarray(kappa)
  return (vmf_log_normalizer(kappa, mu.shape[-1])
          + kappa * _dot(z, mu))


def vmf_kl_to_uniform(kappa: ArrayLike, dim: int) -> jax.Array:
  """KL(vMF(mu, kappa) || Uniform(S^{d-1})), the same for every mu.

    KL = kappa A_d(kappa) + log C_d(kappa) + log |S^{d-1}|
       = kappa A_d(kappa) - log 0F1(; d/2; kappa^2 / 4)
       = -kappa (1 - A_d(kappa)) - [log 0F1(; d/2; kappa^2 / 4) - kappa],

  the second form for A_d < 1/2, the third (free of the cancellation of
  O(kappa) terms at large kappa) above.
  Increases with kappa from 0: about kappa^2 / (2d) for small kappa and
  (d - 1)/2 log kappa for large kappa. d KL / d kappa = kappa A_d'(kappa).
  """
  order, kappa = _broadcast_float(_order(dim), kappa)
  b = _bessel(order, kappa)
  # Both forms are exact; each avoids cancellation on its side of A_d = 1/2.
  return jnp.where(b.ratio < 0.5, kappa * b.ratio - _log_hyp(order, kappa),
                   -kappa * b.complement - _log_hyp_scaled(order, kappa))


def vmf_entropy(kappa: ArrayLike, dim: int) -> jax.Array:
  """H(vMF(mu, kappa)) = log |S^{d-1}| - KL(vMF || uniform)."""
  return log_sphere_area(dim) - vmf_kl_to_uniform(kappa, dim)


def _flat_draw(sampler, key, shape, dtype):
  """`sampler(key, (size,), dtype)` reshaped: the same distribution, but a
  rank-1 draw compiles several times faster on XLA:CPU than a rank-3 one."""
  return sampler(key, (math.prod(shape),), dtype).reshape(shape)


def _wood_proposal(key, dim, shape, dtype):
  """One proposal of Wood's sampler for every element, from d + 1 normals g.

  x_1 = g_1 / |g_{1:d}| has density proportional to (1 - x_1^2)^{(d-3)/2},
  so eps = (1 + x_1) / 2 ~ Beta((d-1)/2, (d-1)/2). It depends on g only
  through (g_1, |g_{2:d}|), while v = g_{2:d} / |g_{2:d}| is uniform on
  S^{d-2} and independent of both: it serves as the tangent direction.
  g_{d+1} gives the uniform of the acceptance test, u = Phi(g_{d+1}).
  (One normal draw: compiles several times faster than `jax.random.beta`
  plus a uniform.) For g_1 < 0 the form |g_{2:d}|^2 / (2|g| (|g| - g_1))
  keeps the relative precision of small eps, which sets 1 - w at large kappa.

  Returns:
    eps <float>[shape], v <float>[*shape, d - 1], log u <float>[shape].
  """
  g = _flat_draw(jax.random.normal, key, tuple(shape) + (dim + 1,), dtype)
  g1, rest = g[..., 0], g[..., 1:dim]
  rest2 = jnp.maximum(jnp.sum(jnp.square(rest), axis=-1),
                      jnp.finfo(dtype).tiny)
  norm = jnp.sqrt(g1 * g1 + rest2)
  eps = jnp.where(g1 > 0, (norm + g1) / (2.0 * norm),
                  rest2 / (2.0 * norm * (norm - g1)))
  return (eps, rest * lax.rsqrt(rest2)[..., None],
          jnp.log(0.5 * lax.erfc(g[..., dim] * -math.sqrt(0.5))))


def _wood_rejection(key, kappa, dim, shape):
  """Wood's rejection sampler for eps; no gradients flow through it.

  w = h(eps, kappa) = 1 - 2b eps / (1 - (1 - b) eps) then has the density of
  mu.z, proportional to exp(kappa w) (1 - w^2)^{(d-3)/2} on [-1, 1]. Every
  round draws proposals for all elements and keeps those of the elements not
  yet accepted (fixed shapes; about log(n) / log(1 / 0.34) rounds for n
  elements at worst).

  Returns:
    eps <float>[shape] and the tangent direction <float>[*shape, d - 1] of
    each accepted proposal.
  """
  m1 = dim - 1.0
  root = jnp.sqrt(4.0 * kappa * kappa + m1 * m1)
  b = m1 / (2.0 * kappa + root)  # = (-2 kappa + root) / m1, without cancelling
  a = (m1 + 2.0 * kappa + root) / 4.0
  d = 4.0 * a * b / (1.0 + b) - m1 * math.log(m1)

  def cond(carry):
    i, _, _, done = carry
    return (i < _MAX_REJECTION_ROUNDS) & ~jnp.all(done)

  def body(carry):
    i, eps, direction, done = carry
    new_eps, new_direction, log_u = _wood_proposal(
        jax.random.fold_in(key, i), dim, shape, kappa.dtype)
    t = 2.0 * a * b / (1.0 - (1.0 - b) * new_eps)
    accept = m1 * jnp.log(t) - t + d >= log_u
    take = accept & ~done
    return (i + 1, jnp.where(take, new_eps, eps),
            jnp.where(take[..., None], new_direction, direction), done | accept)

  init = (jnp.int32(0), jnp.zeros(shape, kappa.dtype),
          jnp.zeros(tuple(shape) + (dim - 1,), kappa.dtype),
          jnp.zeros(shape, bool))
  _, eps, direction, _ = lax.while_loop(cond, body, init)
  return eps, direction


def _reflect_to(mu, w, radius, v):
  """z = w mu + radius * (a unit vector orthogonal to mu built from v).

  z' = (-s w, radius v) is built around the pole -s e_1, s = sign(mu_1), and
  moved by the Householder reflection H = I - 2 u u^T / |u|^2, u = -s e_1 - mu,
  which swaps -s e_1 and mu. Using the pole on the far side of mu keeps
  |u|^2 = 2 (1 + |mu_1|) >= 2, so H is well conditioned for every mu
  (reflecting e_1 itself breaks down as mu -> e_1).

  Args:
    mu: <float>[..., D] unit.
    w, radius: <float>[S, ...] (or [...]).
    v: <float>[S, ..., D - 1] unit.
  """
  s = jnp.where(mu[..., :1] >= 0, 1.0, -1.0).astype(mu.dtype)  # [..., 1]
  z_pole = jnp.concatenate([-s * w[..., None], radius[..., None] * v], axis=-1)
  u = jnp.concatenate([-s - mu[..., :1], -mu[..., 1:]], axis=-1)
  scale = 2.0 * _dot(u, z_pole) / jnp.sum(u * u, axis=-1)
  return z_pole - scale[..., None] * u


def uniform_sphere_sample(key: jax.Array, shape: tuple[int, ...], dim: int, *,
                          dtype=jnp.float32) -> jax.Array:
  """Samples of the prior Uniform(S^{dim-1}), <float>[*shape, dim].

  Normalised standard normals. For generation from the prior of a vMF VAE
  (a Gaussian prior sample is not on the sphere).
  """
  x = _flat_draw(jax.random.normal, key, tuple(shape) + (dim,), dtype)
  norm2 = jnp.sum(x * x, axis=-1, keepdims=True)
  return x * lax.rsqrt(jnp.maximum(norm2, jnp.finfo(dtype).tiny))


@functools.partial(jax.jit, static_argnames='num_samples')
def vmf_sample(key: jax.Array, mu: ArrayLike, kappa: ArrayLike, *,
               num_samples: int | None = None) -> jax.Array:
  """Reparameterized vMF samples z = w mu + sqrt(1 - w^2) v (Wood, 1994).

  w = mu.z is drawn by Wood's rejection sampler inside a fixed-shape
  `lax.while_loop` (each round redraws only the rejected elements); v is
  uniform on the sphere orthogonal to mu, built at a pole +-e_1 (from the
  accepted proposal itself, see `_wood_proposal`) and moved by the
  Householder reflection taking that pole to mu (`_reflect_to`). Gradients
  flow into mu through the reflection and into kappa through
  w = h(eps, kappa) with the accepted eps held fixed (see the module
  docstring).

  Args:
    key: PRNG key.
    mu: <float>[..., D], unit norm, D >= 2.
    kappa: <float>[...] (or scalar), kappa > 0, broadcast to mu.shape[:-1].
    num_samples: if given, a leading sample axis of this size is added.

  Returns:
    <float>[..., D], or <float>[num_samples, ..., D], on the unit sphere.
  """
  mu = jnp.asarray(mu)
  dim = mu.shape[-1]
  _order(dim)
  kappa = jnp.broadcast_to(jnp.asarray(kappa, mu.dtype), mu.shape[:-1])
  shape = mu.shape[:-1] if num_samples is None else (
      (num_samples,) + mu.shape[:-1])
  eps, v = _wood_rejection(key, lax.stop_gradient(kappa), dim, shape)
  # w = h(eps, kappa), written via 1 - w so that w close to 1 keeps its digits.
  m1 = dim - 1.0
  b = m1 / (2.0 * kappa + jnp.sqrt(4.0 * kappa * kappa + m1 * m1))
  one_minus_w = 2.0 * b * eps / (1.0 - (1.0 - b) * eps)
  radius = jnp.sqrt(jnp.maximum(one_minus_w * (2.0 - one_minus_w), 0.0))
  return _reflect_to(mu, 1.0 - one_minus_w, radius, v)


@flax.struct.dataclass
class VMFPosterior:
  """q(z | x) = vMF(mu, kappa) on S^{D-1}, prior Uniform(S^{D-1}).

  Implements `vae_jax.distributions.base.Posterior`.

  Attributes:
    mu: <float>[B, D], unit-norm mean directions.
    kappa: <float>[B] concentrations (a scalar broadcasts over the batch).
  """
  mu: jax.Array
  kappa: jax.Array

  @property
  def dim(self) -> int:
    return self.mu.shape[-1]

  def _kappa(self) -> jax.Array:
    return jnp.broadcast_to(jnp.asarray(self.kappa, self.mu.dtype),
                            self.mu.shape[:-1])

  def sample(self, key: jax.Array, num_samples: int) -> jax.Array:
    """<float>[S, B, D] on the sphere; see `vmf_sample` for the gradients."""
    return vmf_sample(key, self.mu, self._kappa(), num_samples=num_samples)

  def log_prob(self, z: jax.Array) -> jax.Array:
    """log q(z | x) for z <float>[..., B, D] (or [..., 1, D]): [..., B]."""
    return vmf_log_prob(z, self.mu, self._kappa())

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    """-log |S^{D-1}| for every z: <float>[...] = z.shape[:-1]."""
    z = jnp.asarray(z)
    return jnp.full(z.shape[:-1], uniform_sphere_log_prob(self.dim), z.dtype)

  def kl(self) -> jax.Array:
    """KL(vMF(mu, kappa) || Uniform), <float>[B]; independent of mu."""
    return vmf_kl_to_uniform(self._kappa(), self.dim)

  def kl_per_dim(self) -> jax.Array:
    """<float>[B, D]: kl / D in every dimension.

    The vMF KL does not factorise over dimensions; it is spread evenly so that
    per-dimension free bits act as a threshold on the total KL (lambda * D).
    """
    return jnp.broadcast_to((self.kl() / self.dim)[..., None], self.mu.shape)

  def entropy(self) -> jax.Array:
    """<float>[B]: log |S^{D-1}| - KL."""
    return vmf_entropy(self._kappa(), self.dim)

  def mean(self) -> jax.Array:
    """E[z] = A_D(kappa) mu, <float>[B, D].

    This is the actual mean, inside the ball (|E z| = A_D(kappa) < 1), not the
    mean direction mu (the mode). Active-unit counts use it; they are
    unchanged by the factor only when kappa is the same for every example.
    """
    return vmf_mean_resultant(self._kappa(), self.dim)[..., None] * self.mu

  def mode(self) -> jax.Array:
    """The mean direction mu, on the sphere: <float>[B, D]."""
    return self.mu
