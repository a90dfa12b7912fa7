"""Mutual information I(x; z) under the aggregate posterior q(z).

Both estimators compute

  I_q(x; z) = E_x E_{q(z|x)}[log q(z | x)] - E_x E_{q(z|x)}[log q(z)]
            = E_x[-H(q(z | x))] - E_x E_{q(z|x)}[log q(z)],

with one sample z_n ~ q(z | x_n) per example and the aggregate posterior
q(z) = (1/M) sum_m q(z | x_m) approximated by a finite mixture. They differ
only in which mixture:

* `mutual_information_minibatch` (He et al. 2019, `calc_mi_q`): the mixture
  of the M posteriors of the same minibatch. The number in He et al.'s
  tables is the size-weighted average of this over the test minibatches
  (`calc_mi`); it is capped at log M, so it depends on the batch size.
* `mutual_information_dataset` (Li et al. 2020, Optimus `calc_mi`, "v3"):
  the mixture of all N posteriors of the evaluation set, the negative
  entropy averaged over all N examples. This is the number Optimus reports;
  it is capped at log N.

Both are generic over `vae_jax.distributions.base.Posterior`: they use only
`sample`, `entropy` and `log_prob(z[:, None, :])` (the [N, B] matrix of
log q(z_n | x_b)).

References:
  He, Spokoyny, Neubig and Berg-Kirkpatrick (2019), Lagging Inference
    Networks and Posterior Collapse in Variational Autoencoders.
  Li, Gao, Li, Li, Peng, Zhang and Gao (2020), Optimus: Organizing Sentences
    via Pre-trained Modeling of a Latent Space.
  Hoffman and Johnson (2016), ELBO surgery.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vae_jax.distributions.base import Posterior


def _real(mask: ArrayLike | None, n: int) -> jax.Array:
  return (jnp.ones((n,), bool) if mask is None
          else jnp.asarray(mask).reshape((n,)) > 0)


def _log_aggregate(posterior: Posterior, z: jax.Array,
                   real: jax.Array) -> jax.Array:
  """log q(z_c) = log (1/M) sum_{m real} q(z_c | x_m): [C] for z [C, D]."""
  log_q = posterior.log_prob(z[:, None, :])  # [C, N]
  log_q = jnp.where(real[None, :], log_q, -jnp.inf)
  return (jax.nn.logsumexp(log_q, axis=1)
          - jnp.log(jnp.sum(real).astype(log_q.dtype)))


def mutual_information_minibatch(posterior: Posterior, key: jax.Array, *,
                                 mask: ArrayLike | None = None) -> jax.Array:
  """He et al.'s `calc_mi_q` on one minibatch.

  Args:
    posterior: a `Posterior` with batch shape [B].
    key: PRNG key for the one sample z_b ~ q(z | x_b) per example.
    mask: optional <bool|float>[B]; padding rows are neither averaged over
      nor components of the mixture q(z).

  Returns:
    <float>[] scalar, in nats. Weight by the number of real examples when
    averaging over minibatches (as He et al. do).
  """
  z = posterior.sample(key, 1)[0]  # [B, D]
  real = _real(mask, z.shape[0])
  count = jnp.sum(real).astype(z.dtype)
  neg_entropy = jnp.sum(jnp.where(real, -posterior.entropy(), 0.0)) / count
  log_qz = _log_aggregate(posterior, z, real)  # [B]
  return neg_entropy - jnp.sum(jnp.where(real, log_qz, 0.0)) / count


def mutual_information_dataset(posterior_all: Posterior, key: jax.Array, *,
                               chunk_size: int = 1024,
                               mask: ArrayLike | None = None,
                               axis_name: str | None = None) -> jax.Array:
  """Optimus `calc_mi` (v3): q(z) is the mixture over the whole set.

  log q(z_n) needs all N x N densities log q(z_n | x_m); they are computed
  chunk_size rows at a time (`lax.map`), so memory is chunk_size x N (XLA
  fuses the [chunk_size, N, D] elementwise terms into the sum over D: for
  N = 4000, D = 32, chunk_size = 1024 the compiled temp memory is 18 MB).

  Args:
    posterior_all: a `Posterior` with batch shape [N] (e.g. the encoder
      outputs of the whole test set, concatenated).
    key: PRNG key for the one sample z_n ~ q(z | x_n) per example.
    chunk_size: rows of the density matrix held at once.
    mask: optional <bool|float>[N]; padding rows are left out everywhere.
    axis_name: a mapped device axis (shard_map, pmap) over which the rows of
      the density matrix are split: every device gets the whole (replicated)
      `posterior_all` and key, draws the same z, scores its contiguous block
      of about N / devices rows, and the row sums are psummed. The result
      equals the unmapped one up to float summation order.

  Returns:
    <float>[] scalar, in nats.
  """
  z = posterior_all.sample(key, 1)[0]  # [N, D]
  n, d = z.shape
  real = _real(mask, n)
  count = jnp.sum(real).astype(z.dtype)
  neg_entropy = jnp.sum(jnp.where(real, -posterior_all.entropy(), 0.0)) / count

  z_rows, rows_real = z, real
  if axis_name is not None:  # this device's block of rows
    per = -(-n // jax.lax.axis_size(axis_name))
    start = jax.lax.axis_index(axis_name) * per
    pad = per * jax.lax.axis_size(axis_name) - n
    z_rows = jax.lax.dynamic_slice_in_dim(
        jnp.pad(z, ((0, pad), (0, 0))), start, per)
    rows_real = jax.lax.dynamic_slice_in_dim(jnp.pad(real, (0, pad)), start,
                                             per)
  rows = z_rows.shape[0]
  chunk_size = min(chunk_size, rows) if axis_name is not None else chunk_size
  num_chunks = -(-rows // chunk_size)
  pad = num_chunks * chunk_size - rows
  z_chunks = jnp.pad(z_rows, ((0, pad), (0, 0))).reshape(num_chunks,
                                                         chunk_size, d)
  row_real = jnp.pad(rows_real, (0, pad)).reshape(num_chunks, chunk_size)

  def chunk_sum(args):
    z_c, real_c = args
    log_qz = _log_aggregate(posterior_all, z_c, real)  # [chunk_size]
    return jnp.sum(jnp.where(real_c, log_qz, 0.0))

  log_qz_sum = jnp.sum(jax.lax.map(chunk_sum, (z_chunks, row_real)))
  if axis_name is not None:
    log_qz_sum = jax.lax.psum(log_qz_sum, axis_name)
  return neg_entropy - log_qz_sum / count
