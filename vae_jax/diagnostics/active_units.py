"""Active units: latent dimensions whose posterior mean varies with x.

A dimension d is active when Var_x(E_{q(z|x)}[z_d]) exceeds a threshold
(Burda et al. 2016 use 0.01). As in He et al.'s `calc_au`, the variance is
the unbiased one across the evaluation set and a dimension counts when
`var >= delta`.

References:
  Burda, Grosse and Salakhutdinov (2016), Importance Weighted Autoencoders.
  He, Spokoyny, Neubig and Berg-Kirkpatrick (2019), Lagging Inference
    Networks and Posterior Collapse in Variational Autoencoders.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def active_units(means: ArrayLike, *, threshold: float = 0.01,
                 mask: ArrayLike | None = None) -> tuple[jax.Array, jax.Array]:
  """Counts the dimensions whose posterior mean has variance >= threshold.

  Args:
    means: <float>[N, D], E_{q(z|x_n)}[z] for every evaluation example
      (`posterior.mean()`).
    threshold: delta; a dimension with variance >= delta is active.
    mask: optional <bool|float>[N]; padding rows are ignored.

  Returns:
    (count, variances): <int32>[] number of active units, and <float>[D]
    the unbiased variance (divisor n - 1) of each dimension's mean.
  """
  means = jnp.asarray(means)
  real = (jnp.ones(means.shape[:1], means.dtype) if mask is None
          else (jnp.asarray(mask) > 0).astype(means.dtype))[:, None]
  n = jnp.sum(real)
  mean_of_means = jnp.sum(jnp.where(real > 0, means, 0.0), axis=0) / n
  sq_dev = jnp.where(real > 0, jnp.square(means - mean_of_means), 0.0)
  variances = jnp.sum(sq_dev, axis=0) / (n - 1.0)
  return jnp.sum(variances >= threshold).astype(jnp.int32), variances
