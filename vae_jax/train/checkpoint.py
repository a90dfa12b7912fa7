"""Orbax checkpoints: the latest state (for resuming) and the best by validation.

Layout under the workdir:
  checkpoints/latest/<step>/{state,meta}   newest only (max_to_keep=1)
  checkpoints/best/<step>/{state,meta}     best validation loss only

`meta` is a JSON dict of host-side loop state (epoch, position in the epoch,
learning-rate plateau counters, accumulated epoch metrics, vocabulary
fingerprint), so that a restarted run continues exactly where it stopped.

Several processes (`vae_jax.train.distributed`): every process calls `save`
and `restore`, as orbax requires for multi-host arrays. The one-device state
each process holds (the same values everywhere) is first made one array
replicated over all processes' devices; orbax then writes each array once
(from its primary replica), process 0 writes `meta`, and `save` returns on
every process once the checkpoint is complete. The stored arrays do not
record a device count, so a checkpoint restores onto any number of devices
and processes.
"""

import os
import time
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from vae_jax.train import distributed
from vae_jax.train.parallel import data_mesh


class Checkpointer:
  """Saves and restores (TrainState, meta) pairs under `directory`."""

  def __init__(self, directory: str, *, max_to_keep: int = 1):
    self.directory = os.path.abspath(directory)
    self._mngr = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             create=True))

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    if jax.process_count() > 1:
      state = distributed.replicate(state, NamedSharding(data_mesh(), P()))
    self._mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                    force=True)
    self._mngr.wait_until_finished()

  def restore(self, abstract_state: Any, step: int | None = None
              ) -> tuple[Any, dict[str, Any]]:
    """Restores onto the structure, shapes and shardings of `abstract_state`."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'no checkpoint under {self.directory}')
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
    out = self._mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    return out['state'], dict(out['meta'])

  def restore_meta(self, step: int | None = None) -> dict[str, Any]:
    step = self.latest_step() if step is None else step
    out = self._mngr.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore()))
    return dict(out['meta'])

  def close(self) -> None:
    self._mngr.close()


class SaveTimer:
  """Whether `every_sec` seconds of wall time have passed since the last save
  (`train.checkpoint_every_minutes`): it bounds the work a crash can lose
  when steps are slow (aggressive training: 10 s a step on a CPU), where a
  step count would be hours.

  With several processes every process must decide the same (the save is
  collective): process 0's clock decides, broadcast to all at the steps
  where `due` is asked with `sync=True` (the log steps); it is never due in
  between. `every_sec` 0 turns it off.
  """

  def __init__(self, every_sec: float,
               clock: Callable[[], float] = time.monotonic):
    self.every_sec = every_sec
    self._clock = clock
    self._last = clock()

  def saved(self) -> None:
    self._last = self._clock()

  def due(self, sync: bool) -> bool:
    if not self.every_sec:
      return False
    late = self._clock() - self._last >= self.every_sec
    if jax.process_count() == 1:
      return late
    if not sync:
      return False
    # pylint: disable=g-import-not-at-top
    import numpy as np
    from jax.experimental import multihost_utils
    return bool(multihost_utils.broadcast_one_to_all(np.asarray(late)))
