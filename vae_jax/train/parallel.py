"""Data parallelism over the local devices: one per-device step, three wrappers.

`steps.train_step` is written for one device's shard of the global batch and,
given `axis_name`, sums gradients and metric sums over that axis. This module
maps that one function over devices without rewriting it, so the forms below
cannot drift apart:

  'none'       jax.jit(step): one device, the behaviour before this module.
  'pmap'       jax.pmap(step): the state carries a leading device axis (a copy
               per device) and the batch is reshaped to [n, B / n, ...].
               (pmap is in maintenance mode; kept for comparison.)
  'shard_map'  jax.jit(jax.shard_map(step)) over a 1-D mesh of the devices:
               the state is replicated (P()), the batch split on its leading
               axis (P('data')).

Several processes (`jax.distributed.initialize`, see
`vae_jax.train.distributed`) run the same program over the devices of all of
them: the mesh (shard_map) or the pmapped axis spans every process's
devices, each process passes its own rows of the global batch (B / processes
of them) and gets back the replicated state and metrics on its own devices.

The batch size is global: each of n devices gets B / n rows, and the update
is that of one device on the whole batch (the step divides the summed
gradient by the number of real sentences over all devices). Metrics come back
as global sums, one copy. `get_state` returns the state on one device without
a device axis, the form checkpoints store, so a run restores onto any number
of devices.
"""

import concurrent.futures
import dataclasses
import functools
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from vae_jax.train import distributed

AXIS = 'data'
KINDS = ('none', 'pmap', 'shard_map')


def data_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all devices of all
  processes; in a single process, all local devices).

  Auto axes: `jax.make_mesh` defaults to Explicit axes, under which `nn.Embed`
  on sharded ids fails to trace.
  """
  devices = list(devices) if devices is not None else jax.devices()
  return jax.make_mesh((len(devices),), (AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices)


def check_divisible(batch_size: int, num_devices: int) -> None:
  """Raises ValueError unless the global batch splits evenly over devices."""
  if batch_size % num_devices:
    raise ValueError(
        f'batch size {batch_size} is not divisible by the device count '
        f'{num_devices}: data-parallel training gives every device the same '
        f'number of rows, so set train.batch_size to a multiple of '
        f'{num_devices} (or train.parallel=\'none\')')


def _check_batch(batch: dict[str, Any], num_devices: int) -> None:
  rows = {x.shape[0] for x in jax.tree.leaves(batch)}
  if len(rows) != 1:
    raise ValueError(f'batch arrays disagree on the batch size: {sorted(rows)}')
  check_divisible(rows.pop(), num_devices)


def _on_first_device(tree):
  """Each leaf's shard on the mesh's first device: no copy, no dispatch."""
  return jax.tree.map(lambda x: x.addressable_data(0), tree)


# One dispatch for a whole tree; the results are new buffers, never views of
# a state that the next step donates (see `ParallelStep.get_state`).
_first = jax.jit(lambda tree: jax.tree.map(lambda x: x[0], tree))
_copy = jax.jit(lambda tree: jax.tree.map(jnp.copy, tree))


@dataclasses.dataclass(frozen=True)
class ParallelStep:
  """A train step mapped over devices, with the state and batch placement.

  Attributes:
    kind: one of `KINDS`.
    devices: the devices the step runs on.
    step: (placed state, placed batch) -> (placed state, metrics); donates
      the state. Metrics are global sums, one copy on the first device.
    put_state: one-device state -> placed state (replicated).
    put_batch: host batch {'ids': [B, L], ...} -> placed batch; raises
      ValueError if B is not a multiple of the device count.
    get_state: placed state -> state on the first device (no device axis),
      on new buffers, so it stays valid after the placed state is donated.
  """
  kind: str
  devices: tuple[jax.Device, ...]
  step: Callable[[Any, Any], tuple[Any, dict[str, jax.Array]]]
  put_state: Callable[[Any], Any]
  put_batch: Callable[[dict[str, Any]], Any]
  get_state: Callable[[Any], Any]

  @property
  def num_devices(self) -> int:
    return len(self.devices)

  def __call__(self, state, batch):
    """Places a host batch and runs the step on an already placed state."""
    return self.step(state, self.put_batch(batch))

  def precompile(self, state, batches, *, max_workers: int | None = None
                 ) -> int:
    """Compiles the step for every batch shape in `batches`, in parallel.

    XLA compiles a shape on one core with Python's lock released, so the
    shapes of an epoch compile side by side; the step's later calls find
    them in JAX's cache. Nothing runs and nothing is donated.

    Args:
      state: a placed state (only its shapes and types are used).
      batches: host batches; one of each shape is compiled.
      max_workers: compiling threads (default: the CPU count).

    Returns:
      The number of shapes compiled.
    """
    firsts = {}
    for b in batches:
      firsts.setdefault(tuple(x.shape for x in jax.tree.leaves(b)), b)
    compile_one = lambda b: self.step.lower(state, self.put_batch(b)).compile()
    with concurrent.futures.ThreadPoolExecutor(
        max_workers or os.cpu_count() or 1) as pool:
      list(pool.map(compile_one, firsts.values()))
    return len(firsts)


def make_parallel_train_step(
    kind: str, step_fn: Callable[..., tuple[Any, dict[str, jax.Array]]], *,
    devices: Sequence[jax.Device] | None = None,
    batch_size: int | None = None) -> ParallelStep:
  """Wraps a per-device step for data parallelism.

  Args:
    kind: 'none' | 'pmap' | 'shard_map' (see the module docstring).
    step_fn: `(state, batch, *, axis_name=None) -> (state, metrics)` with the
      model and optimizer bound, e.g. `functools.partial(steps.train_step,
      model=..., tx=..., kl_schedule=...)`. It must reduce over `axis_name`.
    devices: the devices to use (default: all devices, of every process);
      'none' uses the default device and ignores it.
    batch_size: the global batch size, checked for divisibility now rather
      than at the first step. With several processes each passes its own
      B / (process count) rows to `put_batch`.

  Returns:
    A `ParallelStep`.

  Raises:
    ValueError: an unknown kind, a batch size that is not a multiple of the
      device count, or 'none' with several processes.
  """
  if kind not in KINDS:
    raise ValueError(f'config train.parallel={kind!r}: choose one of {KINDS}')
  if kind == 'none':
    if jax.process_count() > 1:
      raise ValueError(
          f"config train.parallel='none' runs on one device, but this run has "
          f'{jax.process_count()} processes: set train.parallel to '
          "'shard_map' (or 'pmap') to train over the devices of all of them")
    ident = lambda x: x
    return ParallelStep(kind, (jax.devices()[0],),
                        jax.jit(step_fn, donate_argnums=0), ident, ident,
                        ident)
  devices = tuple(devices) if devices is not None else tuple(jax.devices())
  n = len(devices)
  # This process's devices: all of them unless several processes run.
  local = tuple(d for d in devices if d.process_index == jax.process_index())
  multiprocess = len(local) < n
  if batch_size is not None:
    check_divisible(batch_size, n)
  mesh = data_mesh(devices)
  split = NamedSharding(mesh, P(AXIS))
  replicated = NamedSharding(mesh, P())
  per_device = functools.partial(step_fn, axis_name=AXIS)

  if kind == 'pmap':
    pstep = jax.pmap(per_device, axis_name=AXIS, donate_argnums=0,
                     devices=devices)
    # pmap takes and returns each process's part: a leading axis of the
    # local device count.
    nl = len(local)
    local_mesh = data_mesh(local)
    local_split = NamedSharding(local_mesh, P(AXIS))

    def step(state, batch):
      state, metrics = pstep(state, batch)
      # Identical on every device; device 0's [1, ...] shard, unstacked.
      return state, _first(_on_first_device(metrics))

    # One compiled broadcast for the whole tree (not one per leaf shape).
    stack = jax.jit(lambda tree: jax.tree.map(
        lambda x: jnp.broadcast_to(x, (nl,) + x.shape), tree),
                    out_shardings=local_split)

    def put_state(state):
      return stack(jax.device_put(state, NamedSharding(local_mesh, P())))

    def put_batch(batch):
      _check_batch(batch, nl)
      return jax.device_put(
          jax.tree.map(lambda x: x.reshape((nl, -1) + x.shape[1:]), batch),
          local_split)

    def get_state(state):
      return _first(_on_first_device(state))

    return ParallelStep(kind, devices, step, put_state, put_batch, get_state)

  # shard_map without replication checks (check_vma=False), i.e. with
  # pmap's semantics. With the checks on, the recurrent layers' scans fail
  # to trace (their zero initial carries are replicated, the carried state
  # per-device), and the gradient of the replicated parameters would be
  # psummed implicitly, and then again by the step: n times too large,
  # unless the step first marks them per-device with jax.lax.pcast (which
  # in turn fails under vmap with an axis name, as tests/train/test_steps.py
  # uses).
  mapped = jax.jit(jax.shard_map(per_device, mesh=mesh,
                                 in_specs=(P(), P(AXIS)),
                                 out_specs=(P(), P()), check_vma=False),
                   donate_argnums=0)

  def step(state, batch):
    state, metrics = mapped(state, batch)
    # One device's copy, so that metrics merge with host-made accumulators.
    return state, _on_first_device(metrics)

  def put_batch(batch):
    if multiprocess:  # this process's rows of the global batch
      _check_batch(batch, len(local))
      return distributed.global_batch(batch, split)
    _check_batch(batch, n)
    return jax.device_put(batch, split)

  def put_state(state):
    if multiprocess:
      return distributed.replicate(state, replicated)
    return jax.device_put(state, replicated)

  def get_state(state):
    return _copy(_on_first_device(state))

  return ParallelStep(kind, devices, step, put_state, put_batch, get_state)

