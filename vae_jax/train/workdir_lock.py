"""One training process a workdir.

Two processes training the same workdir (a run started again while the
first is still alive, e.g. an orphaned child of a killed queue) would both
resume from the same checkpoint and then overwrite each other's
checkpoints and interleave their metrics. `exclusive_workdir` takes an
advisory lock on `<workdir>/.train.lock` for the life of a run; a second
run fails at once with `WorkdirBusyError`, naming the holder, before it
touches anything. The lock is an `flock` on an open file, so the kernel
drops it when its holder exits, however it exits: a crashed run leaves no
stale lock behind. `flock` does not reach across hosts on every network
filesystem; on a platform without `fcntl` the lock is skipped.
"""

import contextlib
import os
import socket
import time

try:
  import fcntl
except ImportError:  # not POSIX
  fcntl = None

LOCK_NAME = '.train.lock'


class WorkdirBusyError(RuntimeError):
  """Another live process is training this workdir."""


@contextlib.contextmanager
def exclusive_workdir(workdir: str):
  """Holds the workdir's training lock for the body (which must exist)."""
  if fcntl is None:
    yield
    return
  path = os.path.join(workdir, LOCK_NAME)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    holder = os.read(fd, 512).decode(errors='replace').strip() or 'unknown'
    os.close(fd)
    raise WorkdirBusyError(
        f'{workdir} is being trained by another process ({holder}); let it '
        'finish or stop it before starting this run again (it will resume '
        'from the latest checkpoint)') from None
  try:
    os.ftruncate(fd, 0)
    os.write(fd, f'pid {os.getpid()} on {socket.gethostname()}, since '
                 f'{time.strftime("%Y-%m-%d %H:%M:%S")}'.encode())
    yield
  finally:
    os.close(fd)  # releases the lock; the file stays, empty of meaning
