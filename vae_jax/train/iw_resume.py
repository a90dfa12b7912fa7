"""An interrupted IW-NLL evaluation goes on where it stopped.

The K = 500 bound over the PTB test set takes about 35 minutes on two CPU
cores; a run stopped half-way (a session's end, a crash) would start over.
`PartialIW` keeps the values of each finished batch in a small JSON file
beside the results, keyed by everything the values depend on (checkpoint,
K, seed, the batches' sentences and shapes, the samples a decoder pass), and
gives them back to `evaluation.iw_nll_split(completed=...)` when the same
evaluation is started again. A file with another key is ignored (and
replaced as the new evaluation goes), never mixed in.
"""

import hashlib
import json
import os
from typing import Any, Sequence

import numpy as np


def batches_fingerprint(batches: Sequence[dict[str, Any]]) -> str:
  """A hash of the sentences (indices), lengths and shapes of the batches."""
  h = hashlib.sha256()
  for b in batches:
    h.update(np.asarray(b['ids'].shape, np.int64).tobytes())
    h.update(np.asarray(b['index'], np.int64).tobytes())
    h.update(np.asarray(b['length'], np.int64).tobytes())
  return h.hexdigest()


class PartialIW:
  """The finished batches of one IW evaluation, in `path` (JSON).

  Args:
    path: the file, e.g. `<workdir>/eval_test.iw_partial.json`.
    key: what the values depend on (JSON-serialisable); a file written
      under another key is not used.
    enabled: False on the processes that do not write (multi-host runs:
      they read the same file, process 0 writes it).
  """

  def __init__(self, path: str, key: dict[str, Any], *, enabled: bool = True):
    self.path = path
    self.key = json.loads(json.dumps(key))  # as it reads back from the file
    self.enabled = enabled
    self.done: dict[int, list[float]] = {}
    self.ignored = None  # why an existing file was not used, if it was not

  def load(self) -> dict[int, list[float]]:
    """The batches finished before under the same key ({} if none)."""
    try:
      with open(self.path) as f:
        saved = json.load(f)
    except FileNotFoundError:
      return {}
    except (OSError, ValueError) as e:
      self.ignored = f'unreadable ({e})'
      return {}
    if saved.get('key') != self.key:
      self.ignored = 'written for another evaluation'
      return {}
    self.done = {int(i): v for i, v in saved.get('batches', {}).items()}
    return dict(self.done)

  def save(self, batch: int, values: Sequence[float]) -> None:
    """Records a finished batch (the file is replaced atomically)."""
    self.done[batch] = list(values)
    if not self.enabled:
      return
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump({'key': self.key,
                 'batches': {str(i): v for i, v in sorted(self.done.items())}},
                f)
    os.replace(tmp, self.path)

  def remove(self) -> None:
    """Drops the file once the evaluation's results are written."""
    if self.enabled and os.path.exists(self.path):
      os.remove(self.path)
