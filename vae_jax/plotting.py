"""Figures from a run's metrics.jsonl. Imports no model code.

`plot_run(workdir)` writes, under <workdir>/plots/:
  loss.png     training and validation loss per epoch (NLL for the LM;
               -ELBO, reconstruction and KL for a VAE)
  latent.png   KL, mutual information and active units over training (VAE)
  steps.png    the training loss at every logged step, with the KL weight
               (aggressive training: and its encoder steps per update)
Epochs where the learning rate changed (plateau halvings, or every epoch
with `train.lr_cycle`) are marked by dotted vertical lines in the per-epoch
figures.

`plot_runs(runs, path)` draws several runs in one figure (validation loss,
KL, MI and AU per epoch, a line per run), e.g. the rows of the PTB table.
"""

import math
import os
from typing import Any, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib.ticker import MaxNLocator  # pylint: disable=g-import-not-at-top

from vae_jax.train.logging_utils import read_metrics


def _series(records: Sequence[dict[str, Any]], split: str, key: str):
  xs, ys = [], []
  for r in records:
    if r.get('split') == split and isinstance(r.get(key), (int, float)):
      xs.append(r['epoch'])
      ys.append(r[key])
  return xs, ys


def test_points(records: Sequence[dict[str, Any]], key: str):
  """The test figures, each at the epoch of the parameters it evaluates
  (the best checkpoint's `best_epoch`; older runs' records lack it and
  stand at the epoch the run ended)."""
  test = [r for r in records
          if r.get('split') == 'test' and isinstance(r.get(key), (int, float))]
  return [r.get('best_epoch', r['epoch']) for r in test], [r[key] for r in test]


def lr_change_epochs(records: Sequence[dict[str, Any]]) -> list[float]:
  """Epochs (fractional, as logged) of the first training log line after
  each change of the learning rate."""
  out, last = [], None
  for r in records:
    if r.get('split') != 'train' or not isinstance(r.get('lr'), (int, float)):
      continue
    if last is not None and r['lr'] != last:
      out.append(float(r['epoch']))
    last = r['lr']
  return out


def _decorate(ax, lr_changes: Sequence[float], label: str, *,
              legend: bool = True) -> None:
  """Axis label, integer epoch ticks, grid, the lr-change lines, legend."""
  ax.set_xlabel('epoch')
  ax.set_ylabel(label)
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  ax.grid(alpha=0.3)
  for i, e in enumerate(lr_changes):
    ax.axvline(e, color='0.5', ls=':', lw=1,
               label='learning rate changed' if i == 0 else None)
  if legend and ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=8)


def _count_axis(ax) -> None:
  """Integer ticks from 0 (active units): 0 stays visible when all are 0."""
  ax.set_ylim(bottom=-0.5, top=max(2.0, ax.get_ylim()[1]))
  ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _nats_axis(ax, min_span: float = 0.1) -> None:
  """Plain tick labels (no '+1.786e1' offset) and at least min_span nats of
  range, so that a constant (the fixed KL of a vMF latent) is drawn as the
  flat line it is, not as its float rounding blown up to fill the panel."""
  ax.ticklabel_format(axis='y', useOffset=False, style='plain')
  lo, hi = ax.get_ylim()
  if hi - lo < min_span:
    mid = (lo + hi) / 2
    ax.set_ylim(mid - min_span / 2, mid + min_span / 2)


def mi_ceiling(records: Sequence[dict[str, Any]]) -> float | None:
  """log N of the validation set: the whole-set MI estimator cannot exceed it
  (its aggregate posterior is a mixture of the N posteriors; see
  `vae_jax.diagnostics.mutual_info`), so an MI curve flat at this line is at
  the estimator's ceiling, not a measured plateau. None without a count."""
  counts = [r['num_sentences'] for r in records
            if r.get('split') == 'valid'
            and isinstance(r.get('num_sentences'), (int, float))
            and r['num_sentences'] > 1]
  return math.log(max(counts)) if counts else None


def _is_vae(records: Sequence[dict[str, Any]]) -> bool:
  """A VAE's evaluation always has `mi_batch`; its KL may be exactly 0 (a
  collapsed posterior, or an autoencoder stage), so that is no test. An
  LM's records have kl = 0 and no `mi_batch`."""
  return any('mi_batch' in r or r.get('kl', 0) for r in records
             if r.get('split') == 'valid')


def latent_panels(records: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
  """The latent figure's panels: KL, MI, AU, and the concentration where the
  validation records carry one (a learned-kappa vMF run)."""
  panels = [('kl', 'KL (nats)'), ('mi', 'mutual information (nats)'),
            ('au', 'active units')]
  if any('kappa_mean' in r for r in records if r.get('split') == 'valid'):
    panels.append(('kappa_mean', 'vMF concentration kappa'))
  return panels


def aggressive_mode_ends(records: Sequence[dict[str, Any]]) -> list[int]:
  """Steps of the first train record without encoder steps after one with
  (where aggressive training ended; once, unless the log was edited)."""
  steps = [r for r in records if r.get('split') == 'train']
  return [r['step'] for r, prev in zip(steps[1:], steps)
          if prev.get('encoder_steps') and not r.get('encoder_steps')]


def plot_run(workdir: str, *, title: str | None = None) -> list[str]:
  """Writes the run's figures; returns their paths (none if no metrics yet)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  records = read_metrics(path)
  out_dir = os.path.join(workdir, 'plots')
  os.makedirs(out_dir, exist_ok=True)
  title = title or os.path.basename(os.path.normpath(workdir))
  is_vae = _is_vae(records)
  written = []
  lr_changes = lr_change_epochs(records)

  panels = [('neg_elbo', '-ELBO (nats / sentence)'),
            ('rec', 'reconstruction (nats / sentence)'),
            ('kl', 'KL (nats / sentence)')] if is_vae else [
                ('rec', 'NLL (nats / sentence)'), ('ppl', 'perplexity')]
  fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6))
  for ax, (key, label) in zip(axes, panels):
    for split, style in (('train_epoch', 'o-'), ('valid', 's-')):
      xs, ys = _series(records, split, key)
      if xs:
        ax.plot(xs, ys, style, ms=3,
                label='train' if split == 'train_epoch' else 'valid')
    xs, ys = test_points(records, key)
    if xs:
      ax.plot(xs, ys, '*', ms=10, label='test (best)')
    _nats_axis(ax)
    _decorate(ax, lr_changes, label)
  fig.suptitle(f'{title}: loss per epoch')
  fig.tight_layout()
  written.append(_save(fig, out_dir, 'loss.png'))

  if is_vae:
    panels = latent_panels(records)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6))
    for ax, (key, label) in zip(axes, panels):
      if key == 'kappa_mean':
        xs, ys = _series(records, 'valid', key)
        ax.plot(xs, ys, 's-', ms=3, label='valid mean')
        _, lo = _series(records, 'valid', 'kappa_p10')
        _, hi = _series(records, 'valid', 'kappa_p90')
        if len(lo) == len(xs) == len(hi):
          ax.fill_between(xs, lo, hi, alpha=0.25,
                          label='10th-90th percentile')
        _decorate(ax, lr_changes, label)
        continue
      for split, style in (('train_epoch', 'o-'), ('valid', 's-')):
        xs, ys = _series(records, split, key)
        if xs:
          ax.plot(xs, ys, style, ms=3, label=split.replace('_epoch', ''))
      if key == 'mi':
        xs, ys = _series(records, 'valid', 'mi_batch')
        if xs:
          ax.plot(xs, ys, '^--', ms=3, label='valid (per-minibatch)')
        ax.axhline(0.0, color='k', lw=0.8)  # MI estimates scatter around 0
        cap = mi_ceiling(records)
        if cap is not None:
          ax.axhline(cap, color='0.4', ls='-.', lw=0.8,
                     label=f'log N = {cap:.2f} (the estimator\'s ceiling)')
      if key == 'au':
        _count_axis(ax)
      else:
        _nats_axis(ax)
      _decorate(ax, lr_changes, label)
    fig.suptitle(f'{title}: is the latent used? (collapse: KL, MI, AU -> 0)')
    fig.tight_layout()
    written.append(_save(fig, out_dir, 'latent.png'))

  steps = [r for r in records if r.get('split') == 'train']
  if steps:
    aggressive = any(r.get('encoder_steps') for r in steps)
    if aggressive:  # its cost and when the mode ended, under the loss
      fig, (ax, ax_enc) = plt.subplots(2, 1, figsize=(6.5, 6.0), sharex=True)
      xs = [r['step'] for r in steps]
      ax_enc.plot(xs, [r.get('encoder_steps', 0.0) for r in steps], lw=1)
      ended = aggressive_mode_ends(records)
      for x in ended:
        ax_enc.axvline(x, color='0.4', ls=':', lw=1,
                       label='aggressive mode ends')
      ax_enc.set_ylabel('encoder steps an update')
      ax_enc.set_xlabel('step')
      ax_enc.grid(alpha=0.3)
      if ended:
        ax_enc.legend(fontsize=8)
    else:
      fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.plot([r['step'] for r in steps], [r['loss'] for r in steps], lw=1,
            label='training objective')
    if not aggressive:
      ax.set_xlabel('step')
    ax.set_ylabel('loss (nats / sentence)')
    ax.grid(alpha=0.3)
    if is_vae:
      ax2 = ax.twinx()
      ax2.plot([r['step'] for r in steps],
               [r.get('kl_weight', 0) for r in steps], 'r--', lw=1)
      ax2.set_ylabel('KL weight', color='r')
    ax.set_title(f'{title}: training loss per logged step')
    fig.tight_layout()
    written.append(_save(fig, out_dir, 'steps.png'))
  return written


COMPARED = (('loss', 'validation loss (nats / sentence)'),
            ('kl', 'validation KL (nats)'),
            ('mi', 'validation mutual information (nats)'),
            ('au', 'validation active units'))


def compared_series(runs: dict[str, str]) -> dict[str, dict[str, tuple]]:
  """{panel key: {run label: (epochs, values)}} of the runs' validation
  records; runs without metrics, keys a run never logged, and an LM's
  (zero) KL are left out."""
  out = {key: {} for key, _ in COMPARED}
  for label, workdir in runs.items():
    path = os.path.join(workdir, 'metrics.jsonl')
    if not os.path.exists(path):
      continue
    records = read_metrics(path)
    is_vae = _is_vae(records)
    for key, _ in COMPARED:
      xs, ys = _series(records, 'valid', key)
      if xs and (is_vae or key == 'loss'):
        out[key][label] = (xs, ys)
  return out


def plot_runs(runs: dict[str, str], path: str, *,
              title: str = 'runs compared') -> str | None:
  """One figure of several runs (label -> workdir): validation loss, KL, MI
  and AU per epoch, a line per run. Returns the path, or None if no run has
  metrics."""
  series = compared_series(runs)
  if not any(series.values()):
    return None
  fig, axes = plt.subplots(2, 2, figsize=(12, 8))
  colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
  labels = [l for l in runs if any(l in v for v in series.values())]
  for ax, (key, label) in zip(axes.flat, COMPARED):
    for i, run in enumerate(labels):
      if run in series[key]:
        xs, ys = series[key][run]
        ax.plot(xs, ys, marker='.', ms=3, lw=1, color=colors[i % len(colors)],
                ls='-' if i < len(colors) else '--', label=run)
    if key == 'mi':
      ax.axhline(0.0, color='k', lw=0.8)
    if key == 'au':
      _count_axis(ax)
    _decorate(ax, (), label, legend=False)  # one legend for the figure
  handles, names = axes.flat[0].get_legend_handles_labels()
  for ax in axes.flat[1:]:  # runs missing from the first panel
    for h, n in zip(*ax.get_legend_handles_labels()):
      if n not in names:
        handles.append(h)
        names.append(n)
  fig.legend(handles, names, loc='lower center', ncol=min(4, len(names)),
             fontsize=8)
  fig.suptitle(title)
  fig.tight_layout(rect=(0, 0.04 + 0.025 * ((len(names) - 1) // 4), 1, 1))
  out_dir = os.path.dirname(os.path.abspath(path))
  os.makedirs(out_dir, exist_ok=True)
  return _save(fig, out_dir, os.path.basename(path))


def _save(fig, out_dir: str, name: str) -> str:
  path = os.path.join(out_dir, name)
  tmp = path + '.tmp.png'
  fig.savefig(tmp, dpi=110)
  plt.close(fig)
  os.replace(tmp, path)
  return path
