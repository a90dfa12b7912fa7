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

Only a single-process run handles the signals this way: with several
processes a signal reaches them at different steps, and a checkpoint is a
collective save that all of them must enter together; there the periodic
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


class StopRequest:
  """Context manager: `signum` is the first SIGTERM/SIGINT received, or None.

  Installs its handlers only in the main thread of a single-process run
  (`enabled`); elsewhere it does nothing and `signum` stays None. The
  previous handlers come back on exit.
  """

  def __init__(self, enabled: bool = True):
    self.enabled = enabled
    self.signum = None
    self._first_at = None
    self._previous = {}

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
