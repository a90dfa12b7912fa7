"""Metric records (JSON lines) and progress lines with rate and ETA."""

import json
import math
import os
import time
from typing import Any


class MetricWriter:
  """Appends one JSON object a line to `<workdir>/metrics.jsonl`.

  Each record has `split` ('train', 'train_epoch', 'valid', 'test'), `step`,
  `epoch` and the metrics. On resume, records past the restored step are
  dropped first, so the file never holds the same step twice.
  """

  def __init__(self, path: str, *, enabled: bool = True):
    self.path = path
    self.enabled = enabled

  def truncate_after(self, step: int) -> None:
    if not (self.enabled and os.path.exists(self.path)):
      return
    keep = [r for r in read_metrics(self.path) if r.get('step', 0) <= step]
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      for r in keep:
        f.write(json.dumps(r) + '\n')
    os.replace(tmp, self.path)

  def write(self, split: str, step: int, epoch: float, **metrics: Any) -> None:
    if not self.enabled:
      return
    rec = {'split': split, 'step': int(step), 'epoch': epoch,
           'time': time.time()}
    rec.update({k: _plain(v) for k, v in metrics.items()})
    with open(self.path, 'a') as f:
      f.write(json.dumps(rec) + '\n')


def _plain(v: Any) -> Any:
  try:
    v = float(v)
  except (TypeError, ValueError):
    return v
  return v if math.isfinite(v) else str(v)


def read_metrics(path: str) -> list[dict[str, Any]]:
  """The records of a metrics.jsonl, in order.

  A last line cut short (a run killed while writing it) is skipped, so a
  crashed run still resumes, plots and reports; a bad line before the last
  one is an error naming the file and line.
  """
  with open(path) as f:
    lines = [(i, line) for i, line in enumerate(f, 1) if line.strip()]
  records = []
  for k, (i, line) in enumerate(lines):
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError as e:
      if k == len(lines) - 1 and not line.endswith('\n'):
        break  # the unfinished last write of a killed run
      raise ValueError(f'{path}, line {i}: not a JSON record ({e}); the file '
                       'is damaged: remove the line to go on') from e
  return records


def training_seconds(records: list[dict[str, Any]]) -> list[float]:
  """Seconds of training up to each record, breaks between sessions left out.

  A process logs its first training record without a rate (`Progress`
  measures from there), so such a record marks a (re)start: the time since
  the record before it holds the break, the restore and the compiles, and
  is replaced by its steps at the rate of the next record that has one.
  Every other gap between consecutive records counts as it is; records
  without a time (hand-made ones) add nothing.
  """
  out, total = [], 0.0
  for k, r in enumerate(records):
    prev = records[k - 1] if k else None
    if prev is None or 'time' not in r or 'time' not in prev:
      pass
    elif r.get('split') == 'train' and 'steps_per_sec' not in r:
      rate = next((q['steps_per_sec'] for q in records[k + 1:]
                   if q.get('steps_per_sec')), None)
      if rate:
        total += max(r['step'] - prev['step'], 0) / rate
    else:
      total += max(r['time'] - prev['time'], 0.0)
    out.append(total)
  return out


def format_duration(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


class Progress:
  """Rate and ETA over a known number of steps, measured after warm-up.

  The rate is that of the last `window` log intervals, so a run whose speed
  changes (a machine that gets busy or idle, a resumed run) shows its
  current rate and an ETA from it, not an average since the start.
  """

  def __init__(self, total_steps: int, start_step: int = 0, *,
               window: int = 10, clock=time.perf_counter):
    self.total = total_steps
    self._clock = clock
    self._t0 = None
    self._excluded = 0.0
    self._tokens = 0.0
    self._window = max(1, window)
    self._points = []  # (training seconds, step, tokens so far)
    del start_step  # the clock starts at the first update

  def exclude(self, seconds: float) -> None:
    """Time spent outside training steps (evaluation, checkpoints, plots)."""
    if self._t0 is not None:
      self._excluded += seconds

  def update(self, step: int, tokens: float,
             epoch_steps_left: int | None = None) -> dict[str, float]:
    """Call at log points; the first call starts the clock (after compiles).

    Args:
      step: the step reached.
      tokens: real tokens trained on since the previous call.
      epoch_steps_left: steps to the end of this epoch; if given, the result
        also has `epoch_eta_sec`.
    """
    now = self._clock()
    if self._t0 is None:
      self._t0 = now
      self._points = [(0.0, step, 0.0)]
      return {}
    self._tokens += tokens
    self._points.append((now - self._t0 - self._excluded, step, self._tokens))
    self._points = self._points[-(self._window + 1):]
    (t_a, s_a, n_a), (t_b, s_b, n_b) = self._points[0], self._points[-1]
    dt = max(t_b - t_a, 1e-9)
    steps_per_sec = (s_b - s_a) / dt
    eta = (self.total - step) / steps_per_sec if steps_per_sec > 0 else 0.0
    rates = {'steps_per_sec': steps_per_sec,
             'tokens_per_sec': (n_b - n_a) / dt, 'eta_sec': eta}
    if epoch_steps_left is not None:
      rates['epoch_eta_sec'] = (epoch_steps_left / steps_per_sec
                                if steps_per_sec > 0 else 0.0)
    return rates

  @staticmethod
  def line(step: int, total: int, epoch: int, rates: dict[str, float],
           metrics: dict[str, float], *, eta_is_bound: bool = False) -> str:
    """One progress line; `epoch` counts from 1, as metrics.jsonl does.
    `eta_is_bound`: the run may stop before `total`
    (a plateau rule), so its ETA is shown as an upper bound ("ETA <=").

    In aggressive mode (`encoder_steps` > 0) the ETA assumes the mode lasts
    to the end, so the line also gives the ETA if it ends with this epoch,
    the later steps at this pace times (1 + encoder steps an update): an
    encoder-only step costs about what a joint one does (both take every
    parameter's gradient, for the clipping norm)."""
    pct = 100.0 * step / max(total, 1)
    parts = [f'step {step}/{total} ({pct:.1f}%) epoch {epoch}']
    for k in ('loss', 'rec', 'kl', 'ppl', 'kl_weight', 'grad_norm'):
      if k in metrics:
        parts.append(f'{k} {metrics[k]:.3f}')
    if metrics.get('encoder_steps'):  # aggressive mode: its cost per update
      parts.append(f"encoder steps {metrics['encoder_steps']:.1f} an update")
    if rates:
      rate = f"{rates['tokens_per_sec']:.0f} tok/s"
      if 'epoch_eta_sec' in rates:
        rate += f", epoch ends in {format_duration(rates['epoch_eta_sec'])}"
      bound = '<= ' if eta_is_bound else ''
      eta = f"ETA {bound}{format_duration(rates['eta_sec'])}"
      if metrics.get('encoder_steps') and 'epoch_eta_sec' in rates:
        sps = rates['steps_per_sec']
        after = max(total - step - rates['epoch_eta_sec'] * sps, 0.0)
        early = rates['epoch_eta_sec'] + after / (
            sps * (1.0 + metrics['encoder_steps']))
        eta = (f'ETA {bound}{format_duration(early)} if the aggressive mode '
               f"ends with this epoch, {bound}"
               f"{format_duration(rates['eta_sec'])} if it lasts")
      parts.append(f'{rate}, {eta}')
    return ' | '.join(parts)


def metrics_line(metrics: dict[str, Any]) -> str:
  """'rec 101.250, kl 3.500, ..., au 7': the figures of an evaluation (counts
  of sentences and tokens left out), floats to 3 decimals, integers (the
  active units) as they are."""
  return ', '.join(f'{k} {v:.3f}' if isinstance(v, float) else f'{k} {v}'
                   for k, v in metrics.items()
                   if isinstance(v, (int, float))
                   and k not in ('num_sentences', 'num_tokens'))


def log(msg: str) -> None:
  """Progress lines go to stdout, visible without logging flags; with
  several processes, process 0's only (the others' are the same)."""
  import jax  # pylint: disable=g-import-not-at-top
  if jax.process_index() == 0:
    print(msg, flush=True)
