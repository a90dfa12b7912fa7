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

AXIS = 'data'
KINDS = ('none', 'pmap', 'shard_map')


def data_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A 1-D mesh named 'data' over `devices` (default: all local devices).

  Auto axes: `jax.make_mesh` defaults to Explicit axes, under which `nn.Embed`
  on sharded ids fails to trace.
  """
  devices = list(devices) if devices is not None else jax.local_devices()
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
    devices: the devices to use (default: all local devices); 'none' uses
      the default device and ignores it.
    batch_size: the global batch size, checked for divisibility now rather
      than at the first step.

  Returns:
    A `ParallelStep`.

  Raises:
    ValueError: an unknown kind, or a batch size that is not a multiple of
      the device count.
  """
  if kind not in KINDS:
    raise ValueError(f'config train.parallel={kind!r}: choose one of {KINDS}')
  if kind == 'none':
    ident = lambda x: x
    return ParallelStep(kind, (jax.devices()[0],),
                        jax.jit(step_fn, donate_argnums=0), ident, ident,
                        ident)
  devices = tuple(devices) if devices is not None else tuple(
      jax.local_devices())
  n = len(devices)
  if batch_size is not None:
    check_divisible(batch_size, n)
  mesh = data_mesh(devices)
  split = NamedSharding(mesh, P(AXIS))
  replicated = NamedSharding(mesh, P())
  per_device = functools.partial(step_fn, axis_name=AXIS)

  if kind == 'pmap':
    pstep = jax.pmap(per_device, axis_name=AXIS, donate_argnums=0,
                     devices=devices)

    def step(state, batch):
      state, metrics = pstep(state, batch)
      # Identical on every device; device 0's [1, ...] shard, unstacked.
      return state, _first(_on_first_device(metrics))

    # One compiled broadcast for the whole tree (not one per leaf shape).
    stack = jax.jit(lambda tree: jax.tree.map(
        lambda x: jnp.broadcast_to(x, (n,) + x.shape), tree),
                    out_shardings=split)

    def put_state(state):
      return stack(jax.device_put(state, replicated))

    def put_batch(batch):
      _check_batch(batch, n)
      return jax.device_put(
          jax.tree.map(lambda x: x.reshape((n, -1) + x.shape[1:]), batch),
          split)

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
    _check_batch(batch, n)
    return jax.device_put(batch, split)

  def get_state(state):
    return _copy(_on_first_device(state))

  return ParallelStep(kind, devices, step,
                      lambda state: jax.device_put(state, replicated),
                      put_batch, get_state)


def make_sharded_eval(fn: Callable[[Any, Any, jax.Array], Any], *,
                      devices: Sequence[jax.Device] | None = None,
                      per_example: bool = False):
  """Maps a per-batch evaluation function over the batch's shards.

  For evaluation over several devices (`evaluate_split`, IW-NLL): `fn` sees
  one device's rows. Only functions whose outputs are sums over rows
  (`steps.eval_step`) or per-row values (IW-NLL per sentence) split this
  way; a statistic of the whole minibatch (the minibatch MI of
  `evaluation._eval_batch`) does not.

  Args:
    fn: (params, batch, rng) -> pytree. With more than one device each shard
      folds its index into `rng`, so shards draw independent samples.
    devices: default all local devices.
    per_example: outputs are per row (leading axis = rows) and are
      concatenated in row order; otherwise they are sums, added over shards.

  Returns:
    (run, put_params): `run(params, batch, rng)` with the batch on the host
    (B a multiple of the device count) and params from `put_params`, which
    replicates them once instead of on every call.
  """
  devices = tuple(devices) if devices is not None else tuple(
      jax.local_devices())
  n = len(devices)
  mesh = data_mesh(devices)

  def body(params, batch, rng):
    if n > 1:
      rng = jax.random.fold_in(rng, jax.lax.axis_index(AXIS))
    out = fn(params, batch, rng)
    return out if per_example else jax.lax.psum(out, AXIS)

  mapped = jax.jit(jax.shard_map(  # check_vma: see make_parallel_train_step
      body, mesh=mesh, in_specs=(P(), P(AXIS), P()),
      out_specs=P(AXIS) if per_example else P(), check_vma=False))
  split = NamedSharding(mesh, P(AXIS))
  replicated = NamedSharding(mesh, P())

  def run(params, batch, rng):
    _check_batch(batch, n)
    return mapped(params, jax.device_put(batch, split),
                  jax.device_put(rng, replicated))

  return run, lambda params: jax.device_put(params, replicated)
