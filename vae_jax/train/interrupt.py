"""Stop a training run on SIGTERM or Ctrl-C with a checkpoint of where it was.

A preempted job (a cluster's SIGTERM, a session's end, `kill <pid>`) or a
user's Ctrl-C would otherwise lose every step since the last periodic
checkpoint: up to `train.checkpoint_every_steps` steps, an hour of
aggressive training on a CPU. Inside `StopRequest` the first SIGTERM or
SIGINT only records itself; the loop finishes the step it is in, saves the
latest checkpoint and raises `TrainingInterrupted`, and the same command
resumes the run bit-identically. A second signal acts at once (SIGINT
raises KeyboardInterrupt, SIGTERM ends the process), unless it is the same
signal within `REPEAT_WINDOW_SEC` of the first: a SIGTERM sent to a process
group (`kill -- -PGID`, a cluster's or service manager's stop) reaches the
run both directly and through a parent that passes signals on, such as
`experiments.train_rows`, and both copies are one request to stop.

With several processes a signal reaches them at different steps, while a
checkpoint is a collective save that all of them must enter at the same
one. There JAX's preemption service (started by `jax.distributed.
initialize`) takes SIGTERM: a SIGTERM to any process (a cluster's
preemption notice, `scancel`, a session's end) is passed to all, which
agree on a step a little ahead (`multihost_utils.
reached_preemption_sync_point`, asked at every step by `StopRequest.check`);
at that step every process saves the checkpoint and raises
`TrainingInterrupted`. Ctrl-C is not caught there (it stops at once), and
with the service off (`jax_enable_preemption_service=False`) the periodic
checkpoints are what a resume starts from.
"""

import os
import signal
import threading
import time

HANDLED = (signal.SIGTERM, signal.SIGINT)
REPEAT_WINDOW_SEC = 1.0


class TrainingInterrupted(Exception):
  """The run stopped on a signal after saving its latest checkpoint."""

  def __init__(self, signum: int, step: int, directory: str):
    self.signum = signum
    self.step = step
    self.directory = directory
    super().__init__(
        f'stopped by {signal.Signals(signum).name} at step {step}; the '
        f'checkpoint is in {directory}: run the same command to resume')

  @property
  def exit_code(self) -> int:
    return 128 + self.signum  # what the shell reports for the signal


def preemption_sync_point(step: int) -> bool:
  """Whether all processes of a multi-process run have reached the step at
  which to save after a SIGTERM to any of them (False when JAX's preemption
  service does not run: one process, or the service turned off)."""
  # pylint: disable=g-import-not-at-top
  from jax.experimental import multihost_utils
  try:
    return multihost_utils.reached_preemption_sync_point(step)
  except RuntimeError:  # jax_enable_preemption_service=False
    return False


class StopRequest:
  """Context manager: `signum` is the signal to stop on, or None.

  A single-process run (`enabled`, in the main thread) installs handlers for
  SIGTERM and SIGINT: `signum` is the first received. With several processes
  (`multiprocess`) no handler is installed (JAX's preemption service holds
  SIGTERM) and `check(step)` sets `signum` to SIGTERM at the step that all
  processes agreed on. Otherwise it does nothing and `signum` stays None.
  The previous handlers come back on exit.
  """

  def __init__(self, enabled: bool = True, *, multiprocess: bool = False):
    self.enabled = enabled and not multiprocess
    self.multiprocess = multiprocess
    self.signum = None
    self._first_at = None
    self._previous = {}

  def check(self, step: int) -> int | None:
    """`signum` after training step `step` (the same on every process of a
    multi-process run, which must call this at every step)."""
    if (self.multiprocess and self.signum is None
        and preemption_sync_point(step)):
      self.signum = signal.SIGTERM
      os.write(2, (f'\npreemption notice (SIGTERM to one of the processes): '
                   f'all save a checkpoint at step {step}, then stop\n'
                   ).encode())
    return self.signum

  def __enter__(self):
    if self.enabled and threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._handle) for s in HANDLED}
    return self

  def __exit__(self, *exc):
    self._restore()
    return False

  def _restore(self):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None:
      if (signum == self.signum and
          time.monotonic() - self._first_at < REPEAT_WINDOW_SEC):
        return  # the same request, passed on by a parent
      # a second request: act at once
      self._restore()
      if signum == signal.SIGINT:
        raise KeyboardInterrupt
      signal.signal(signum, signal.SIG_DFL)
      os.kill(os.getpid(), signum)
      return
    self.signum = signum
    self._first_at = time.monotonic()
    # os.write, not print: a handler can run inside another print
    os.write(2, (f'\n{signal.Signals(signum).name} received: saving a '
                 'checkpoint after this step, then stopping (send it again a '
                 'second later to stop at once, without one)\n').encode())
