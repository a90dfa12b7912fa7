"""Atomic file writes: a reader sees the old file or the new one, never half."""

import os
import tempfile


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
  """Writes `data` to a temp file beside `path`, then os.replace()s it.

  The parent directory is created if needed. On any failure the temp file is
  removed and `path` is left as it was.
  """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path),
                             suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
