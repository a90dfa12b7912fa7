"""The training objective: per-example terms from a model, combined here.

Models return per-example terms (`rec` [B], and for VAEs `kl` [B] and
`kl_per_dim` [B, D]); this module turns them into the scalar that is
differentiated and into metric *sums* (normalised only after aggregation).
Padding rows of fixed-shape batches (length 0) are masked out everywhere.
"""

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from vae_jax import objectives

KL_MODES = ('standard', 'free_bits_kingma', 'free_bits_li', 'free_bits_total')


def kl_objective_term(out: Mapping[str, jax.Array], mask: jax.Array, *,
                      mode: str, threshold: float, groups: int = 0,
                      axis_name: str | None = None) -> jax.Array:
  """Sum over the batch of the KL term that enters the loss (before beta).

  Args:
    out: the model's per-example outputs.
    mask: <bool>[B], real examples.
    mode: 'standard' (plain KL), 'free_bits_kingma' (Kingma et al. 2016,
      per dimension or group on the minibatch mean), 'free_bits_li' (Li et al. 2019,
      per example and dimension at threshold / D), 'free_bits_total' (per
      example on the total KL).
    threshold: lambda of the free-bits variant (target KL for 'free_bits_li').
    groups: 'free_bits_kingma' only: the floor is on each of this many
      contiguous, equal groups of latent dimensions (threshold nats a
      group); 0: on each dimension.
    axis_name: mapped device axis the batch is split over, if any. Only
      'free_bits_kingma' needs it (its floor is on the minibatch mean); the
      other modes are sums over examples.

  Returns:
    A scalar: the batch *sum* of the KL term (this device's share of it when
    `axis_name` is set: the shares add up to the whole batch's term).
  """
  if groups and mode != 'free_bits_kingma':
    raise ValueError(f'config objective.kl_groups={groups} groups the '
                     "dimensions of kl_mode='free_bits_kingma' only (got "
                     f'kl_mode={mode!r}); set kl_groups=0')
  m = mask.astype(jnp.float32)
  if mode == 'standard':
    return jnp.sum(out['kl'] * m)
  if mode == 'free_bits_kingma' and axis_name is not None:
    # The floor is on the mean over the global minibatch: pick the groups
    # above it from the summed statistics; each device then contributes its
    # rows' KL in those and threshold per row in the others. The shares add
    # up to n * sum_j max(mean_j, threshold), with its gradient.
    per_group = objectives.kl_group_sums(
        jnp.sum(out['kl_per_dim'] * m[:, None], axis=0), groups)  # [G]
    total = jax.lax.psum(jax.lax.stop_gradient(per_group), axis_name)
    count = jax.lax.psum(jnp.sum(m), axis_name)
    active = total / jnp.maximum(count, 1.0) > threshold
    return jnp.sum(jnp.where(active, per_group, threshold * jnp.sum(m)))
  if mode == 'free_bits_kingma':
    n = jnp.maximum(jnp.sum(m), 1.0)
    # the helper returns the per-example average; scale back to a sum
    return objectives.free_bits_kingma(out['kl_per_dim'], threshold=threshold,
                                       mask=mask, groups=groups) * n
  if mode == 'free_bits_li':
    per_ex = objectives.free_bits_li(out['kl_per_dim'], target_kl=threshold)
    return jnp.sum(per_ex * m)
  if mode == 'free_bits_total':
    return jnp.sum(objectives.free_bits_total(out['kl'], threshold=threshold)
                   * m)
  raise ValueError(f'config objective.kl_mode={mode!r}: choose one of '
                   f'{KL_MODES}')


def loss_and_metrics(out: Mapping[str, jax.Array], length: jax.Array, *,
                     kl_weight: jax.Array | float, kl_mode: str = 'standard',
                     kl_threshold: float = 0.0, kl_groups: int = 0,
                     axis_name: str | None = None
                     ) -> tuple[jax.Array, dict[str, Any]]:
  """The per-sentence mean loss and metric sums for one batch.

  The loss is mean over sentences of (rec + kl_weight * KL-term), the
  normalisation of He et al. (2019) and Li et al. (2019).

  Args:
    out: per-example model outputs.
    length: <int32>[B] predicted tokens per example (0: padding row).
    kl_weight: beta.
    kl_mode, kl_threshold, kl_groups, axis_name: see `kl_objective_term`
      (`kl_groups` is its `groups`).

  Returns:
    (loss scalar, metric sums): `rec_sum`, `kl_sum` (true KL), `loss_sum`
    (objective actually minimised), `num_sentences`, `num_tokens`.
  """
  mask = length > 0
  m = mask.astype(jnp.float32)
  n = jnp.sum(m)
  rec_sum = jnp.sum(out['rec'] * m)
  if 'kl' in out:
    kl_sum = jnp.sum(out['kl'] * m)
    kl_term = kl_objective_term(out, mask, mode=kl_mode,
                                threshold=kl_threshold, groups=kl_groups,
                                axis_name=axis_name)
  else:
    kl_sum = kl_term = jnp.zeros(())
  loss_sum = rec_sum + kl_weight * kl_term
  metrics = {
      'rec_sum': rec_sum, 'kl_sum': kl_sum, 'loss_sum': loss_sum,
      'num_sentences': n,
      'num_tokens': jnp.sum(length.astype(jnp.float32)),
  }
  return loss_sum / jnp.maximum(n, 1.0), metrics
