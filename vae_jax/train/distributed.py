"""Multi-process (multi-host) runs: start-up, who writes, global arrays.

One process runs per host (or per GPU); `jax.distributed.initialize` joins
them, after which `jax.devices()` lists every process's devices and a jitted
computation over a mesh of them runs as one SPMD program. The rest of the
library keeps its single-process form; this module holds what differs:

* `maybe_initialize`: joins the processes when asked (explicit coordinator,
  process count and index), or when the environment shows a multi-process
  launch (an srun step of more than one task, Open MPI,
  `JAX_COORDINATOR_ADDRESS`, a multi-host TPU slice), and does nothing
  otherwise, so single-machine use is unchanged.
* `is_chief`: process 0 writes metrics, plots, samples, vocabularies and
  result files; checkpoints are written by orbax from every process.
* `replicate`, `global_batch`: a pytree replicated over a mesh that spans
  processes, and a batch assembled from every process's rows.
* `ProcessShard`: each process reads its own rows of every training batch.
"""

import os
from typing import Any, Mapping

import jax
import numpy as np
from jax.sharding import NamedSharding


def cluster_from_env(env: Mapping[str, str] | None = None) -> str | None:
  """Names the multi-process launcher visible in `env`, or None.

  Only launches of more than one process count: a one-task Slurm job or a
  single-host TPU VM runs as one process, as before.
  """
  env = os.environ if env is None else env

  def count(name):
    try:
      return int(env.get(name, '1'))
    except ValueError:
      return 1

  if env.get('JAX_COORDINATOR_ADDRESS'):
    return 'JAX_COORDINATOR_ADDRESS'
  # The tasks of this job step (srun), not of the allocation: a batch script
  # that runs python directly is one process even with --ntasks=8.
  if 'SLURM_JOB_ID' in env and 'SLURM_PROCID' in env and count(
      'SLURM_STEP_NUM_TASKS' if 'SLURM_STEP_NUM_TASKS' in env
      else 'SLURM_NTASKS') > 1:
    return 'slurm'
  if 'OMPI_MCA_orte_hnp_uri' in env and count('OMPI_COMM_WORLD_SIZE') > 1:
    return 'openmpi'
  hosts = env.get('TPU_WORKER_HOSTNAMES') or env.get('TPU_PROCESS_ADDRESSES')
  if hosts and len(hosts.split(',')) > 1:
    return 'tpu'
  return None


def maybe_initialize(*, coordinator_address: str | None = None,
                     num_processes: int | None = None,
                     process_id: int | None = None, mode: str = 'auto',
                     env: Mapping[str, str] | None = None,
                     initialization_timeout: int = 300) -> bool:
  """Calls `jax.distributed.initialize` when this is a multi-process run.

  Must run before JAX's first computation.

  Args:
    coordinator_address: 'host:port' of process 0's coordinator service.
    num_processes, process_id: this run's process count and this process's
      index; with the address, all three (or none) are given.
    mode: 'auto' initializes when any argument is given or
      `cluster_from_env` finds a launcher; 'on' always (JAX then detects
      the cluster itself, e.g. a TPU pod through its metadata server);
      'off' never.
    env: the environment to inspect (default `os.environ`).
    initialization_timeout: seconds to wait for all processes to join.

  Returns:
    Whether `jax.distributed.initialize` was called.

  Raises:
    ValueError: an unknown mode, or only some of the three arguments given.
  """
  if mode not in ('auto', 'on', 'off'):
    raise ValueError(f'distributed mode {mode!r}: choose auto, on or off')
  given = [coordinator_address, num_processes, process_id]
  if mode == 'off':
    return False
  if any(x is not None for x in given) and None in given:
    raise ValueError(
        'give all of --coordinator_address, --num_processes and '
        '--process_id (got coordinator_address='
        f'{coordinator_address!r}, num_processes={num_processes!r}, '
        f'process_id={process_id!r}), or none of them to read the cluster '
        'environment (Slurm, Open MPI, TPU pods)')
  if mode == 'auto' and None in given and cluster_from_env(env) is None:
    return False
  jax.distributed.initialize(
      coordinator_address=coordinator_address, num_processes=num_processes,
      process_id=process_id, initialization_timeout=initialization_timeout)
  return True


def is_chief() -> bool:
  """Process 0: the one that writes metrics, plots and result files."""
  return jax.process_index() == 0


def _is_key(x) -> bool:
  return hasattr(x, 'dtype') and jax.dtypes.issubdtype(
      x.dtype, jax.dtypes.prng_key)


def replicate(tree: Any, sharding: NamedSharding) -> Any:
  """`tree` (the same values on every process) replicated on `sharding`.

  Works when the sharding spans devices of other processes, where
  `jax.device_put` of a typed key or of a committed array is refused: each
  leaf goes through host memory, keys as key data.
  """
  def put(x):
    if _is_key(x):
      data = jax.make_array_from_callback(
          jax.random.key_data(x).shape, sharding,
          lambda idx, d=np.asarray(jax.random.key_data(x)): d[idx])
      return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    value = np.asarray(x)
    return jax.make_array_from_callback(value.shape, sharding,
                                        lambda idx: value[idx])

  return jax.tree.map(put, tree)


def global_batch(batch: Mapping[str, Any], sharding: NamedSharding):
  """A process's rows of the global batch, as one global array per key.

  Each process's rows go to its own devices' slices of the batch axis; with
  the mesh's devices in process order (`data_mesh()` on CPU and GPU hosts)
  the global batch is the per-process batches concatenated in process order.
  The update does not depend on the order: the step sums over rows.
  """
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


class ProcessShard:
  """This process's rows of every global training batch.

  The global batch of `global_batch_size` rows is split into one block per
  process (`BucketedBatcher.epoch(shard_index=, num_shards=)`): process p
  reads rows p * b .. (p + 1) * b - 1 of each batch, b = global batch /
  processes, so all of them read batches of the same shape at each step and
  the same number of batches an epoch. Unlike one process, which pads a
  bucket's last batch, the sentences of a bucket's last incomplete global
  batch are left out of that epoch (different ones each epoch).
  """

  def __init__(self, sequences, *, global_batch_size: int,
               boundaries, pad_id: int, bos_id: int,
               index: int | None = None, count: int | None = None):
    self.index = jax.process_index() if index is None else index
    self.count = jax.process_count() if count is None else count
    if global_batch_size % self.count:
      raise ValueError(
          f'train.batch_size {global_batch_size} is not divisible by the '
          f'process count {self.count}: each process reads the same number '
          'of rows of every batch; set it to a multiple of '
          f'{self.count}')
    # pylint: disable=g-import-not-at-top
    from vae_jax.data import BucketedBatcher
    self.batcher = BucketedBatcher(
        sequences, batch_size=global_batch_size // self.count,
        boundaries=boundaries, pad_id=pad_id, bos_id=bos_id)

  def epoch(self, seed: int, epoch: int, *, shuffle: bool = True):
    return self.batcher.epoch(seed, epoch, shuffle=shuffle,
                              shard_index=self.index, num_shards=self.count)

  @property
  def num_batches(self) -> int:
    """Batches of an epoch (the same every epoch: whole groups only)."""
    return len(self.epoch(0, 0, shuffle=False))
