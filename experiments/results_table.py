r"""The PTB table of collapse remedies, from the runs' evaluation files.

Reads <runs_dir>/<run>/eval_<split>.json (written by experiments.evaluate)
for every row and prints a markdown table: -ELBO, reconstruction, IW-NLL
(K = 500), PPL, KL, MI, AU, each as "ours (published)", and the epochs
trained. Published values: Li et al. (2019) as quoted in Li et al. (2020),
table 8; the published IW-NLL of a VAE row is the one its PPL implies on
the PTB test set (82,430 tokens, 3,761 sentences). A run whose
workdir is missing is shown as "not run", one without the evaluation file
as "not evaluated". A row trained on past an epoch cap (`train_rows
--extend`) shows its capped evaluation (`<run>/capped_at_<N>_epochs/`)
until the longer run is evaluated, its epochs marked "training on".

  python -m experiments.results_table --runs_dir=runs [--out=table.md] \
      [--plot=rows.png]

One run's validation figures per epoch, as a markdown table (with the
learning rate and the hours of training so far), instead of the rows:

  python -m experiments.results_table --epochs_of=runs/ptb_vae [--epochs=1,5,10]

The runs and their evaluation (one pair per row; the configs' docstrings
hold the same commands):

  python -m experiments.train --config=experiments/configs/<run>.py \
      --data_dir=../shared/data/ptb --workdir=runs/<run>
  python -m experiments.evaluate --workdir=runs/<run> --data_dir=../shared/data/ptb

Columns: PPL is exp(NLL / tokens) with the IW-NLL for a VAE (the LM's exact
NLL for the LM); MI is the whole-test-set estimator (`mi` of evaluate.py;
the per-minibatch one is capped at log(batch size), below the published
5.31); AU counts dimensions with Cov_x(E_q[z]) > 0.01.
"""

import json
import math
import os
import sys

from absl import app, flags

from experiments import ptb_rows
from vae_jax import plotting
from vae_jax.train.logging_utils import read_metrics, training_seconds

flags.DEFINE_string('runs_dir', 'runs', 'Directory holding one workdir a row.')
flags.DEFINE_enum('split', 'test', ['valid', 'test'], 'Evaluated split.')
flags.DEFINE_string('out', None, 'Also write the table to this file.')
flags.DEFINE_string('plot', None, 'Also draw the rows\' validation loss, KL, '
                    'MI and AU per epoch into this PNG file.')
flags.DEFINE_string('epochs_of', None, 'Print this workdir\'s validation '
                    'figures per epoch instead of the rows\' table.')
flags.DEFINE_list('epochs', [], 'With --epochs_of: only these epochs '
                  '(1-based, as in metrics.jsonl); default all.')
FLAGS = flags.FLAGS

ROWS = ptb_rows.ROWS

COLUMNS = [('neg_elbo', '-ELBO'), ('rec', 'rec'),
           ('iw_nll', 'IW-NLL (K=500)'), ('ppl', 'PPL'), ('kl', 'KL'),
           ('mi', 'MI'), ('au', 'AU'), ('epochs', 'epochs')]

# PTB test set: sentences and tokens (eos counted, bos not), to turn a
# published perplexity into the NLL a sentence it implies.
PTB_TEST_SENTENCES, PTB_TEST_TOKENS = 3761, 82430


def _published(values: dict, split: str) -> dict:
  """The published (test) cells, plus the IW-NLL a published PPL implies."""
  if split != 'test':
    return {}
  out = dict(values)
  if 'ppl' in out and 'iw_nll' not in out:
    out['iw_nll'] = (math.log(out['ppl']) * PTB_TEST_TOKENS
                     / PTB_TEST_SENTENCES)
  return out


def _epochs(workdir: str, main_dir: str | None = None):
  """Epochs trained ('a+b' with an encoder-pretraining stage), or None;
  'N (limit)' for a stage that ended at its config's train.max_epochs
  rather than by its learning-rate schedule. The main run's final.json is
  read from main_dir (default: the workdir)."""
  def read(d):
    try:
      with open(os.path.join(d, 'final.json')) as f:
        final = json.load(f)
    except (OSError, ValueError):
      return None
    epochs, limit = final.get('epochs'), final.get('max_epochs')
    if limit is None:  # a run from before final.json recorded it
      try:
        with open(os.path.join(d, 'config.json')) as f:
          limit = json.load(f)['train']['max_epochs']
      except (OSError, ValueError, KeyError, TypeError):
        return epochs
    return f'{epochs} (limit)' if epochs is not None and epochs >= limit \
        else epochs
  main = read(main_dir or workdir)
  pre = read(os.path.join(workdir, 'pretrain_encoder'))
  if main is None or pre is None:
    return main
  return f'{pre}+{main}'


def _ours(results: dict) -> dict:
  """The table's columns from an evaluation file (LM or VAE)."""
  if 'nll' in results:      # an LM: its NLL is exact
    return {'iw_nll': results['nll'], 'ppl': results['ppl']}
  out = {k: results.get(k) for k in ('neg_elbo', 'rec', 'iw_nll', 'kl', 'mi',
                                     'au')}
  out['ppl'] = results.get('iw_ppl')
  return out


def _cell(ours, published) -> str:
  def fmt(v):
    if v is None:
      return '–'
    return ptb_rows.two_decimals(v) if isinstance(v, float) else str(v)
  return fmt(ours) + (f' ({fmt(published)})' if published is not None else '')


def build_table(runs_dir: str, split: str = 'test') -> str:
  """The markdown table (a header note, then one line a row)."""
  head = '| model | ' + ' | '.join(label for _, label in COLUMNS) + ' |'
  lines = [f'PTB {split} set; each cell: ours (published: Li et al. 2019 as '
           'quoted in Li et al. 2020, table 8; a published IW-NLL is the NLL '
           'a sentence implied by the published PPL). epochs: trained, '
           'pretraining stage + main run where there is one; (limit): the '
           'stage ended at its epoch limit (train.max_epochs), before its '
           'learning-rate schedule did.', '', head,
           '|' + ' --- |' * (len(COLUMNS) + 1)]
  for name, label, published in ROWS:
    published = _published(published, split)
    workdir = os.path.join(runs_dir, name)
    path = os.path.join(workdir, f'eval_{split}.json')
    capped = None
    if not os.path.exists(path):
      capped = ptb_rows.latest_capped_dir(workdir, split)
    if not os.path.isdir(workdir):
      status = 'not run'
    elif capped:
      status, path = None, os.path.join(capped, f'eval_{split}.json')
    elif not os.path.exists(path):
      status = 'not evaluated'
    else:
      status = None
    if status:
      cells = [_cell(None, published.get(k)) for k, _ in COLUMNS]
      cells[0] = status + cells[0][1:]    # '– (101.28)' -> 'not run (101.28)'
      lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
      continue
    with open(path) as f:
      ours = _ours(json.load(f))
    ours['epochs'] = _epochs(workdir, capped)
    if capped:
      ours['epochs'] = f'{ours["epochs"]}, training on'
    cells = [_cell(ours.get(k), published.get(k)) for k, _ in COLUMNS]
    lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def epoch_table(workdir: str, epochs=None) -> str:
  """A run's validation figures per epoch (metrics.jsonl) as markdown.

  Columns: -ELBO, reconstruction, KL, MI and AU for a VAE (NLL and PPL for
  the LM; the mean kappa where a vMF concentration is learned), the
  learning rate of the epoch's last training record, and the hours trained
  by the end of the epoch (`training_seconds`).
  """
  records = read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  valid = [r for r in records if r.get('split') == 'valid']
  if not valid:
    raise ValueError(f'{workdir}: no validation record yet')
  columns = ([('neg_elbo', '-ELBO'), ('rec', 'rec'), ('kl', 'KL'),
              ('mi', 'MI'), ('au', 'AU')] if 'mi_batch' in valid[0]  # a VAE
             else [('rec', 'NLL'), ('ppl', 'PPL')])
  if any('kappa_mean' in r for r in valid):  # a learned vMF concentration
    columns.append(('kappa_mean', 'kappa (mean)'))
  lines = ['| epoch | ' + ' | '.join(l for _, l in columns)
           + ' | lr | hours |', '| --- ' * (len(columns) + 3) + '|']
  wanted = {int(e) for e in epochs} if epochs else None
  lr = None
  for r, seconds in zip(records, training_seconds(records)):
    if r.get('split') == 'train':
      lr = r.get('lr', lr)
    if r.get('split') != 'valid' or (wanted and r['epoch'] not in wanted):
      continue
    cells = [('–' if k not in r else str(int(r[k])) if k == 'au'
              else ptb_rows.two_decimals(r[k])) for k, _ in columns]
    lines.append(f'| {r["epoch"]:g} | ' + ' | '.join(cells)
                 + f' | {"–" if lr is None else f"{lr:g}"}'
                 + f' | {seconds / 3600:.2f} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if FLAGS.epochs_of:
    if not os.path.exists(os.path.join(FLAGS.epochs_of, 'metrics.jsonl')):
      print(f'error: --epochs_of={FLAGS.epochs_of!r} has no metrics.jsonl',
            file=sys.stderr)
      sys.exit(1)
    print(epoch_table(FLAGS.epochs_of, FLAGS.epochs), end='')
    return
  if not os.path.isdir(FLAGS.runs_dir):
    print(f'error: --runs_dir={FLAGS.runs_dir!r} is not a directory',
          file=sys.stderr)
    sys.exit(1)
  table = build_table(FLAGS.runs_dir, FLAGS.split)
  print(table)
  if FLAGS.out:
    with open(FLAGS.out, 'w') as f:
      f.write(table)
  if FLAGS.plot:
    runs = {label: os.path.join(FLAGS.runs_dir, name)
            for name, label, _ in ROWS}
    path = plotting.plot_runs(runs, FLAGS.plot,
                              title='PTB rows: validation per epoch')
    print(f'figure: {path}' if path else 'figure: no run has metrics yet')


if __name__ == '__main__':
  app.run(main)
