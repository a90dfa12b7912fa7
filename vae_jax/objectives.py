"""Per-example ELBO terms, the importance-weighted bound and free bits.

Every function returns one value per example (`# [B]`) unless it is a
batch-level regulariser (`free_bits_kingma`, `masked_mean`); those take an
optional `mask` <bool|float>[B] so the padding rows of fixed-shape batches
never change the result. Losses are combined outside the model (as in
google-research/vdm): `weighted_loss(rec_nll, kl, kl_weight=beta)`.

References:
  Kingma and Welling (2014), Auto-Encoding Variational Bayes.
  Burda, Grosse and Salakhutdinov (2016), Importance Weighted Autoencoders.
  Kingma, Salimans, Jozefowicz, Chen, Sutskever and Welling (2016), Improved
    Variational Inference with Inverse Autoregressive Flow, section C.8.
  Li, He, Neubig, Berg-Kirkpatrick and Yang (2019), A Surprisingly Effective
    Fix for Deep Latent Variable Modeling of Text.
"""

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def masked_mean(x: ArrayLike, *, mask: ArrayLike | None = None) -> jax.Array:
  """Mean of `x` over its leading (batch) axis, counting only real rows.

  Args:
    x: <float>[B, ...].
    mask: optional <bool|float>[B]; 1 for real examples, 0 for padding.

  Returns:
    <float>[...]: sum_b mask_b x_b / max(sum_b mask_b, 1). With no mask, the
    plain mean over axis 0.
  """
  x = jnp.asarray(x)
  if mask is None:
    return jnp.mean(x, axis=0)
  mask = jnp.asarray(mask, x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
  # where() rather than a product so a NaN/inf in a padding row cannot leak.
  total = jnp.sum(jnp.where(mask > 0, x * mask, 0.0), axis=0)
  return total / jnp.maximum(jnp.sum(mask), 1.0)


def log_mean_exp(x: ArrayLike, *, axis: int = 0) -> jax.Array:
  """log(mean(exp(x), axis)) computed stably: logsumexp(x) - log(n)."""
  x = jnp.asarray(x)
  return jax.nn.logsumexp(x, axis=axis) - math.log(x.shape[axis])


def iw_log_likelihood(log_px_z: ArrayLike, log_pz: ArrayLike,
                      log_qz: ArrayLike) -> jax.Array:
  """The K-sample importance-weighted lower bound on log p(x) (Burda et al.).

  L_K(x) = log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x),  z_k ~ q(z | x).

  L_1 is the (single-sample Monte Carlo) ELBO; E[L_K] rises with K and tends
  to log p(x) as K -> infinity.

  Args:
    log_px_z: <float>[K, B], log p(x | z_k).
    log_pz: <float>[K, B], log p(z_k).
    log_qz: <float>[K, B], log q(z_k | x).

  Returns:
    <float>[B]: L_K per example (the IW-NLL is its negation).
  """
  log_w = jnp.asarray(log_px_z) + jnp.asarray(log_pz) - jnp.asarray(log_qz)
  return log_mean_exp(log_w, axis=0)


def elbo(log_px_z: ArrayLike, kl: ArrayLike) -> jax.Array:
  """ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)), per example.

  Args:
    log_px_z: <float>[B], the (Monte Carlo) reconstruction log-likelihood;
      average a sample axis away first if there is one.
    kl: <float>[B].

  Returns:
    <float>[B].
  """
  return jnp.asarray(log_px_z) - jnp.asarray(kl)


def weighted_loss(rec_nll: ArrayLike, kl: ArrayLike, *,
                  kl_weight: ArrayLike) -> jax.Array:
  """rec_nll + beta * kl per example (beta-VAE / KL annealing).

  Args:
    rec_nll: <float>[B], -log p(x | z).
    kl: <float>[B] (or anything broadcastable, e.g. a free-bits term).
    kl_weight: scalar beta, e.g. a schedule's value at the current step.

  Returns:
    <float>[B]. With kl_weight = 1 this is the negative ELBO.
  """
  return jnp.asarray(rec_nll) + jnp.asarray(kl_weight) * jnp.asarray(kl)


def kl_group_sums(kl_per_dim: ArrayLike, groups: int = 0) -> jax.Array:
  """KL summed over `groups` contiguous, equal groups of the last axis.

  Args:
    kl_per_dim: <float>[..., D].
    groups: number of groups G, a divisor of D; 0 (the default): each
      dimension is its own group (the input is returned as it is).

  Returns:
    <float>[..., G] (<float>[..., D] for groups = 0): group g sums the
    dimensions g * D / G to (g + 1) * D / G - 1.

  Raises:
    ValueError: `groups` is negative or does not divide D.
  """
  kl_per_dim = jnp.asarray(kl_per_dim)
  if not groups:
    return kl_per_dim
  d = kl_per_dim.shape[-1]
  if groups < 0 or d % groups:
    raise ValueError(f'free bits over groups: objective.kl_groups={groups} '
                     f'must be a positive divisor of the latent size {d} '
                     '(or 0: one group per dimension)')
  return jnp.sum(kl_per_dim.reshape(kl_per_dim.shape[:-1]
                                    + (groups, d // groups)), axis=-1)


def free_bits_kingma(kl_per_dim: ArrayLike, *, threshold: ArrayLike,
                     mask: ArrayLike | None = None,
                     groups: int = 0) -> jax.Array:
  """Free bits (Kingma et al. 2016): a minibatch-level KL floor per group.

  KL_fb = sum_j max(threshold, (1 / |M|) sum_{b in M} sum_{d in G_j} KL_bd),

  where M is the set of real (unmasked) examples of the minibatch and G_j
  the j-th of `groups` contiguous, equal groups of latent dimensions
  (Kingma et al. split the latents into groups and floor each group's KL;
  with `groups` = 0, the default, each dimension is its own group). A group
  whose batch-averaged KL is below `threshold` nats contributes the
  constant `threshold` and so no gradient; above it the term is the
  group's ordinary batch-mean KL.

  Args:
    kl_per_dim: <float>[B, D], KL(q(z_d | x_b) || p(z_d)).
    threshold: scalar lambda, in nats per group (per dimension by default).
    mask: optional <bool|float>[B]; padding rows are left out of the mean.
    groups: number of groups, a divisor of D; 0: one per dimension.

  Returns:
    <float>[] scalar on the per-example scale: add it to the batch-mean
    reconstruction NLL (in place of the batch-mean KL).
  """
  batch_kl = kl_group_sums(masked_mean(kl_per_dim, mask=mask), groups)  # [G]
  return jnp.sum(jnp.maximum(batch_kl, jnp.asarray(threshold)))


def free_bits_li(kl_per_dim: ArrayLike, *, target_kl: ArrayLike) -> jax.Array:
  """Free bits as in Li et al. (2019): a floor per example and per dimension.

  With lambda = target_kl / D (target_kl is the total target rate, spread
  evenly over the D dimensions), this returns

    KL_fb(x_b) = sum_d KL_bd * [KL_bd > lambda],

  where the indicator is constant (no gradient). This is exactly their code
  (`dim_target_kl = target_kl / nz; kl_mask = (loss_kl > dim_target_kl);
  loss_kl = (kl_mask * loss_kl).sum(1)`, `fb == 2`). The paper writes the
  term as sum_d max(lambda, KL_bd); that differs from this only by a
  constant (lambda for every clamped position), so the gradients are the
  same: zero for a position below lambda, unchanged above it. Note the
  strict `>`: a position exactly at lambda is clamped.

  Args:
    kl_per_dim: <float>[B, D].
    target_kl: scalar total target KL per example, in nats.

  Returns:
    <float>[B]. Report the true KL (`kl_per_dim.sum(-1)`) as the metric; this
    is only the training surrogate.
  """
  kl_per_dim = jnp.asarray(kl_per_dim)
  dim_target_kl = jnp.asarray(target_kl) / kl_per_dim.shape[-1]
  keep = jax.lax.stop_gradient(
      (kl_per_dim > dim_target_kl).astype(kl_per_dim.dtype))
  return jnp.sum(keep * kl_per_dim, axis=-1)


def free_bits_total(kl: ArrayLike, *, threshold: ArrayLike) -> jax.Array:
  """A floor on each example's total KL: max(KL(x_b), threshold).

  Args:
    kl: <float>[B], KL summed over latent dimensions.
    threshold: scalar, in nats.

  Returns:
    <float>[B]; zero gradient for examples whose KL is below the threshold.
  """
  return jnp.maximum(jnp.asarray(kl), jnp.asarray(threshold))
