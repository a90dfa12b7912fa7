"""Evaluation split over devices, with the numbers of one device.

`ShardedEvaluator` runs the per-batch work of `vae_jax.train.evaluation`
(ELBO sums with the per-minibatch MI, posteriors, IW-NLL) and the whole-set
MI over a 1-D mesh of devices, which may span processes: every process
passes the whole evaluation batch, each device computes its rows, and every
process gets the full result back.

The random draws are those of one device on the whole batch, so the results
equal `evaluation.evaluate_split` / `iw_nll_split` without the evaluator up
to float summation order (and not just in distribution): each device gathers
the posterior parameters of the whole batch (a few numbers a row), draws the
batch's samples with the one-device key and shape, and keeps its own rows.
Drawing is cheap next to the decoder, which sees only the device's rows.

Posterior pytrees are gathered leaf by leaf: leaves with a leading axis of
the device's row count are per-row; others (a shared scalar concentration)
are the same on every device and kept.
"""

import functools
from typing import Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from vae_jax.diagnostics import (importance_weighted_nll,
                                 mutual_information_dataset,
                                 mutual_information_minibatch)
from vae_jax.models import SentenceVAE
from vae_jax.train import distributed
from vae_jax.train.losses import loss_and_metrics
from vae_jax.train.parallel import AXIS, data_mesh
from vae_jax.train.steps import eval_step


def _gather_rows(tree, rows: int):
  """The whole batch's values of a per-device pytree (see module doc)."""
  return jax.tree.map(
      lambda x: (jax.lax.all_gather(x, AXIS, tiled=True)
                 if x.ndim and x.shape[0] == rows else x), tree)


def _my_rows(x, rows: int):
  """This device's `rows` rows of a whole-batch array `x` [B, ...]."""
  return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(AXIS) * rows,
                                      rows)


def _latent_key(module):
  # The key `SentenceVAE.__call__` draws its sample with: the first
  # make_rng('latent') of the top-level module under apply(rngs=...).
  return module.make_rng('latent')


def _decode(module, ids, length, z):
  return module.decoder(ids, length, z, deterministic=True)


class ShardedEvaluator:
  """Per-batch evaluation functions mapped over `devices` (default: all).

  The batch size of every batch must be a multiple of the device count.
  """

  def __init__(self, model, devices: Sequence[jax.Device] | None = None):
    self.model = model
    self.devices = tuple(devices) if devices is not None else tuple(
        jax.devices())
    self.num_devices = len(self.devices)
    self._mesh = data_mesh(self.devices)
    self._split = NamedSharding(self._mesh, P(AXIS))
    self._replicated = NamedSharding(self._mesh, P())
    self._jitted = {}

  # -- placement ------------------------------------------------------------
  def place(self, params):
    """Replicates one-device parameters over the mesh (once per split)."""
    return distributed.replicate(params, self._replicated)

  def _put_rows(self, x):
    x = np.asarray(x)
    check_eval_batch_size(x.shape[0], self.num_devices)
    # Every process holds the whole batch; each device takes its rows.
    return jax.make_array_from_callback(x.shape, self._split,
                                        lambda idx: x[idx])

  def _map(self, name, body, in_specs):
    """jit(shard_map(body)) with replicated outputs, cached by name."""
    if name not in self._jitted:
      self._jitted[name] = jax.jit(jax.shard_map(
          body, mesh=self._mesh, in_specs=in_specs, out_specs=P(),
          check_vma=False))  # check_vma: see parallel.make_parallel_train_step
    return self._jitted[name]

  @staticmethod
  def _local(tree):
    """A replicated result as arrays on this process's first device."""
    return jax.tree.map(lambda x: x.addressable_data(0), tree)

  # -- the per-batch functions of vae_jax.train.evaluation ------------------
  def eval_batch(self, params, batch, rng):
    """`evaluation._eval_batch`: metric sums (+ minibatch MI for a VAE)."""
    model = self.model

    def body(params, ids, length, rng):
      rows = ids.shape[0]
      batch = {'ids': ids, 'length': length}
      if not isinstance(model, SentenceVAE):
        return jax.lax.psum(eval_step(params, batch, rng, model=model), AXIS)
      variables = {'params': params}
      posterior = model.apply(variables, ids, length,
                              method=SentenceVAE.encode)
      whole = _gather_rows(posterior, rows)
      key = model.apply(variables, rngs={'latent': rng}, method=_latent_key)
      z = _my_rows(whole.sample(key, 1)[0], rows)
      out = {'rec': -model.apply(variables, ids, length, z, method=_decode),
             'kl': posterior.kl(), 'kl_per_dim': posterior.kl_per_dim()}
      _, sums = loss_and_metrics(out, length, kl_weight=1.0)
      sums = jax.lax.psum(sums, AXIS)
      mask = jax.lax.all_gather(length > 0, AXIS, tiled=True)
      mi = mutual_information_minibatch(whole, jax.random.fold_in(rng, 1),
                                        mask=mask)
      sums['mi_batch_sum'] = mi * sums['num_sentences']
      return sums

    f = self._map('eval', body, (P(), P(AXIS), P(AXIS), P()))
    return self._local(f(params, self._put_rows(batch['ids']),
                         self._put_rows(batch['length']),
                         distributed.replicate(rng, self._replicated)))

  def encode_batch(self, params, ids, length):
    """The posterior of the whole batch (`evaluation._encode_batch`)."""
    model = self.model

    def body(params, ids, length):
      post = model.apply({'params': params}, ids, length,
                         method=SentenceVAE.encode)
      return _gather_rows(post, ids.shape[0])

    f = self._map('encode', body, (P(), P(AXIS), P(AXIS)))
    return self._local(f(params, self._put_rows(ids), self._put_rows(length)))

  def iw_batch(self, params, ids, length, key, *, num_samples: int,
               chunk_size: int):
    """Per-sentence IW-NLL of the whole batch (`evaluation._iw_batch`)."""
    model = self.model

    def body(params, ids, length, key):
      rows = ids.shape[0]
      variables = {'params': params}
      posterior = model.apply(variables, ids, length,
                              method=SentenceVAE.encode)
      whole = _gather_rows(posterior, rows)

      def log_px_z(z):
        return model.apply(variables, z, ids, length,
                           method=SentenceVAE.log_likelihood)

      nll = importance_weighted_nll(
          log_px_z, posterior, key, num_samples=num_samples,
          chunk_size=chunk_size,
          draw=lambda k: _my_rows(whole.sample(k, 1)[0], rows))
      return jax.lax.all_gather(nll, AXIS, tiled=True)

    f = self._map(f'iw-{num_samples}-{chunk_size}', body,
                  (P(), P(AXIS), P(AXIS), P()))
    return self._local(f(params, self._put_rows(ids), self._put_rows(length),
                         distributed.replicate(key, self._replicated)))

  def mutual_information(self, posterior_all, key) -> jax.Array:
    """Whole-set MI with the density matrix's rows split over devices."""
    f = self._map('mi', functools.partial(mutual_information_dataset,
                                          axis_name=AXIS), (P(), P()))
    return self._local(f(distributed.replicate(posterior_all,
                                               self._replicated),
                         distributed.replicate(key, self._replicated)))


def check_eval_batch_size(batch_size: int, num_devices: int) -> None:
  """Raises ValueError unless evaluation batches split evenly over devices."""
  if batch_size % num_devices:
    raise ValueError(
        f'data.eval_batch_size {batch_size} is not divisible by the device '
        f'count {num_devices}: data-parallel evaluation gives every device '
        f'the same number of rows; set it to a multiple of {num_devices}')
