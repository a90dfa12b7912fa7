"""Exact sums over every discrete code, for small D and K.

E_q[f(z)] = sum_c q(c) f(c) over all K^D codes c. Differentiable in whatever
`f` and `log_q_fn` close over, so `jax.grad` of `exact_expectation` is the
exact gradient that Monte Carlo estimators (REINFORCE, Gumbel-softmax,
straight-through) are checked against.
"""

import itertools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

MAX_CODES = 1 << 20


def enumerate_codes(d: int, k: int, *, one_hot: bool = False) -> jax.Array:
  """All K^D codes in lexicographic order.

  Args:
    d: number of variables D.
    k: classes per variable K (2 for binary codes).
    one_hot: return flattened one-hot codes (the layout of
      `GumbelSoftmaxPosterior` samples) instead of class indices.

  Returns:
    <int32>[K^D, D] class indices (for K = 2 these are the binary codes of
    `BernoulliPosterior`), or <float32>[K^D, D * K] flattened one-hot codes.

  Raises:
    ValueError: if K^D exceeds `MAX_CODES`.
  """
  if d < 1 or k < 1:
    raise ValueError(f'enumerate_codes: need d >= 1 and k >= 1, got d={d}, '
                     f'k={k}')
  if k ** d > MAX_CODES:
    raise ValueError(f'enumerate_codes: {k}^{d} = {k ** d} codes is more '
                     f'than {MAX_CODES}; exact enumeration is for small '
                     'codes, use a Monte Carlo estimate instead')
  codes = jnp.asarray(np.array(list(itertools.product(range(k), repeat=d)),
                               np.int32))
  if one_hot:
    return jax.nn.one_hot(codes, k, dtype=jnp.float32).reshape(k ** d, d * k)
  return codes


def exact_expectation(f: Callable[[jax.Array], jax.Array],
                      log_q_fn: Callable[[jax.Array], jax.Array],
                      codes: jax.Array) -> jax.Array:
  """sum_c exp(log q(c)) f(c) over the enumerated codes.

  Args:
    f: codes <[N, ...code]> -> values <float>[N, ...]. Called once on all
      codes.
    log_q_fn: codes -> log q(c), <float>[N] or [N, B] (e.g.
      `lambda c: posterior.log_prob(c[:, None, :])` for a batch of B
      posteriors).
    codes: [N, ...] from `enumerate_codes` (all codes, so q sums to one).

  Returns:
    f's value shape without the leading N: the exact expectation. If log q
    has more axes than f's values (a batch of posteriors), f's values are
    broadcast against it, e.g. [N] values and [N, B] weights give [B].
  """
  weights = jnp.exp(log_q_fn(codes))
  values = f(codes)
  extra = values.ndim - weights.ndim
  if extra > 0:
    weights = weights.reshape(weights.shape + (1,) * extra)
  elif extra < 0:
    values = values.reshape(values.shape + (1,) * -extra)
  return jnp.sum(weights * values, axis=0)
