r"""Trains and evaluates the rows of the PTB results table, one after another.

Each row is the config `experiments/configs/<row>.py` trained into
`<runs_dir>/<row>` and evaluated on the test set, as the configs'
docstrings say; this binary runs those two commands for every row that has
no `eval_test.json` yet, in the order given, and stops at the first that
fails. Started again after an interruption it goes on where it stopped: an
evaluated row is skipped and a half-trained one resumes from its latest
checkpoint. Then `python -m experiments.results_table --runs_dir=<runs_dir>`
prints the table.

  python -m experiments.train_rows --data_dir=../shared/data/ptb \
      --runs_dir=runs --rows=ptb_lm,ptb_vae,ptb_vae_pretrain_fb

Every row of the table takes hours on a CPU (BUILD_NOTES.md, "PTB runs"):
order `--rows` by what you need first, or cap them with `--max_epochs`.
`--status` prints where each row stands (with an ETA for a training row
from the pace of its last epochs) without running anything. A row that
was evaluated after stopping at such a cap goes on with `--extend` (and a
larger `--max_epochs`, or none for the configs' own schedule): its capped
evaluation moves to `<workdir>/capped_at_<N>_epochs/` and the run resumes
from its latest checkpoint.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import time

from absl import app, flags

from experiments import ptb_rows
from vae_jax.train import interrupt
from vae_jax.train.logging_utils import (format_duration, read_metrics,
                                         training_seconds)

ALL_ROWS = [name for name, _, _ in ptb_rows.ROWS]

flags.DEFINE_string('runs_dir', 'runs', 'Directory holding one workdir a row.')
flags.DEFINE_string('data_dir', None, 'Directory of the PTB files (needed '
                    'unless --status).')
flags.DEFINE_list('rows', ALL_ROWS, 'Rows to run, in this order (config '
                  'names; default: every row of the table).')
flags.DEFINE_list('extra_flags', [], 'More flags for experiments.train, '
                  'e.g. --extra_flags=--compilation_cache_dir=/tmp/cache.')
flags.DEFINE_string('config_arg', '', 'Passed to every config (`<row>.py:ARG`);'
                    ' `smoke` gives seconds-long runs to check the set-up.')
flags.DEFINE_integer('max_epochs', 0, 'A budget: train each row for at most '
                     'this many epochs (and its encoder-pretraining stage, if '
                     'it has one, too), where the papers\' schedule runs to '
                     '100 or to the fifth halving; 0: the configs\' own. '
                     'Recorded in each run\'s config.json; a run stopped by '
                     'it goes on when trained again with a larger value '
                     '(--extend, once it has been evaluated).')
flags.DEFINE_integer('pretrain_max_epochs', 0, 'A budget for the encoder-'
                     'pretraining stage alone (Li et al.\'s autoencoder), '
                     'e.g. to fit both stages of a row into one sitting; 0: '
                     'the --max_epochs cap.')
flags.DEFINE_bool('extend', False, 'Train on the evaluated rows that stopped '
                  'at an epoch cap (final.json: epochs == max_epochs), up to '
                  '--max_epochs or the configs\' own schedule: their '
                  'evaluation (eval_test.*, final.json, samples.txt, plots) '
                  'moves to <workdir>/capped_at_<N>_epochs/ and the run '
                  'resumes from its latest checkpoint. Rows that ended by '
                  'their own schedule (the last halving) stay as they are.')
flags.DEFINE_bool('dry_run', False, 'Print the commands instead of running '
                  'them.')
flags.DEFINE_bool('status', False, 'Print where each row stands (evaluated, '
                  'epochs trained and its last validation figures, or not '
                  'started) and run nothing.')
FLAGS = flags.FLAGS

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'configs')


def _train_config(row: str, config_arg: str):
  """The `train` part of the row's config (with its argument applied)."""
  module = importlib.import_module(f'experiments.configs.{row}')
  return module.get_config(config_arg or None).train


def budget_flags(row: str, config_arg: str, max_epochs: int,
                 pretrain_max_epochs: int = 0) -> list[str]:
  """experiments.train flags capping the row's main run at max_epochs and
  its encoder-pretraining stage at pretrain_max_epochs (0: max_epochs)."""
  pretrain_max_epochs = pretrain_max_epochs or max_epochs
  if not pretrain_max_epochs:   # neither cap given
    return []
  train = _train_config(row, config_arg)
  out = []
  if max_epochs and max_epochs < train.max_epochs:
    out.append(f'--config.train.max_epochs={max_epochs}')
  if pretrain_max_epochs < train.get('pretrain_encoder_epochs', 0):
    out.append('--config.train.pretrain_encoder_epochs='
               f'{pretrain_max_epochs}')
  return out


def epoch_limit(row: str, config_arg: str, max_epochs: int) -> int:
  """The epochs the row's main run may train: the cap or the config's."""
  own = _train_config(row, config_arg).max_epochs
  return min(max_epochs, own) if max_epochs else own


def why_not_extend(row: str, runs_dir: str, config_arg: str = '',
                   max_epochs: int = 0) -> str | None:
  """None if the evaluated row stopped at an epoch cap below today's limit;
  otherwise why it cannot go on."""
  final = os.path.join(runs_dir, row, 'final.json')
  if not os.path.exists(final):
    return f'no {final} (was it trained by experiments.train?)'
  with open(final) as f:
    rec = json.load(f)
  epochs, cap = rec['epochs'], rec.get('max_epochs')
  if cap is None or epochs < cap:
    return (f'it ended by its own schedule after epoch {epochs}'
            + (f' of at most {cap}' if cap is not None else ''))
  limit = epoch_limit(row, config_arg, max_epochs)
  if limit <= epochs:
    return (f'it trained {epochs} epochs, and the limit now is {limit} '
            '(give a larger --max_epochs)')
  return None


def commands(row: str, runs_dir: str, data_dir: str, extra_flags=(),
             config_arg: str = '', max_epochs: int = 0,
             pretrain_max_epochs: int = 0,
             skip_evaluated: bool = True) -> list[list[str]]:
  """The train and evaluate commands of one row; [] if it is evaluated
  (unless not skip_evaluated)."""
  workdir = os.path.abspath(os.path.join(runs_dir, row))
  data_dir = os.path.abspath(data_dir)
  if skip_evaluated and os.path.exists(os.path.join(workdir,
                                                    'eval_test.json')):
    return []
  config = os.path.join(CONFIG_DIR, f'{row}.py')
  if config_arg:
    config += f':{config_arg}'
  return [
      [sys.executable, '-m', 'experiments.train', f'--config={config}',
       f'--data_dir={data_dir}', f'--workdir={workdir}',
       *budget_flags(row, config_arg, max_epochs, pretrain_max_epochs),
       *extra_flags],
      [sys.executable, '-m', 'experiments.evaluate', f'--workdir={workdir}',
       f'--data_dir={data_dir}'],
  ]


def row_status(row: str, runs_dir: str) -> str:
  """One line: the row's state from its workdir (eval_test.json, metrics)."""
  workdir = os.path.join(runs_dir, row)
  result = os.path.join(workdir, 'eval_test.json')
  if os.path.exists(result):
    with open(result) as f:
      res = json.load(f)
    keys = [('iw_nll', 'IW-NLL'), ('nll', 'NLL'), ('iw_ppl', 'PPL'),
            ('ppl', 'PPL'), ('kl', 'KL'), ('mi', 'MI'), ('au', 'AU')]
    shown, seen = [], set()
    for key, label in keys:
      if key in res and label not in seen:
        seen.add(label)
        shown.append(f'{label} {ptb_rows.two_decimals(res[key])}'
                     if isinstance(res[key], float)
                     else f'{label} {res[key]}')
    return f'{row}: evaluated: ' + ', '.join(shown)
  metrics = os.path.join(workdir, 'metrics.jsonl')
  stage1 = os.path.join(workdir, 'pretrain_encoder')
  if not os.path.exists(metrics):
    if os.path.exists(os.path.join(stage1, 'metrics.jsonl')):
      # Li et al.'s encoder pretraining, before the main run starts
      return (f'{row}: pretraining the encoder: '
              + _training_status(stage1, then='the main run')
              .removeprefix('training, '))
    return f'{row}: not started'
  return f'{row}: ' + _training_status(workdir)


def _first_epoch_progress(records) -> str:
  """', 30 % of epoch 1 (ends about 22:38 at the last logged pace; 39.3
  encoder steps an update)' from the last train record: a long first epoch
  (aggressive training's takes hours on a CPU) says where it stands. The
  end is the record's time plus its epoch ETA, on this machine's clock;
  '' without a train record."""
  train = [r for r in records if r.get('split') == 'train']
  if not train:
    return ''
  last = train[-1]
  epoch = float(last.get('epoch', 0.0))  # 0-based, fractional
  out = f', {100 * (epoch % 1):.0f} % of epoch {int(epoch) + 1}'
  notes = []
  if last.get('epoch_eta_sec') is not None and last.get('time') is not None:
    ends = time.localtime(last['time'] + last['epoch_eta_sec'])
    notes.append(f'ends about {time.strftime("%H:%M", ends)} at the last '
                 'logged pace')
  if last.get('encoder_steps'):
    notes.append(f'{last["encoder_steps"]:.1f} encoder steps an update')
  return out + (f' ({"; ".join(notes)})' if notes else '')


def _training_status(workdir: str, then: str = 'its evaluation') -> str:
  """'training, N of at most M epochs (step S), last valid loss ...'.

  `then` names what follows the run, after its ETA.
  """
  metrics = os.path.join(workdir, 'metrics.jsonl')
  valid, last_step, lr, ends = [], 0, None, [0.0]
  limit = None  # the epoch limit the run was last trained under
  records = read_metrics(metrics)
  for rec, seconds in zip(records, training_seconds(records)):
    last_step = max(last_step, int(rec.get('step', 0)))
    lr = rec.get('lr', lr)
    limit = rec.get('max_epochs', limit)
    if rec.get('split') == 'valid':
      valid.append(rec)
      ends.append(seconds)  # hours trained when each epoch ended
  if not valid:
    return (f'training, step {last_step}, no epoch finished yet'
            + _first_epoch_progress(records))
  last = valid[-1]
  epochs = f'{last["epoch"]} epoch' + ('s' if last['epoch'] != 1 else '')
  train = {}
  try:
    with open(os.path.join(workdir, 'config.json')) as f:
      train = json.load(f)['train']
  except (OSError, ValueError, KeyError):
    pass
  if limit is not None:  # config.json keeps the value the run started with
    train['max_epochs'] = int(limit)  # logged as a float
  if 'max_epochs' in train:
    epochs = f'{last["epoch"]} of at most {train["max_epochs"]} epochs'
  # The metric the run picks its best checkpoint by: 'rec' for the
  # autoencoder of the pretraining stage, whose -ELBO grows with its KL.
  key = train.get('model_selection', 'loss')
  if key not in last:
    key = 'loss'
  best = min(valid, key=lambda r: r.get(key, float('inf')))
  name = 'reconstruction' if key == 'rec' else key
  parts = [f'training, {epochs} (step {last_step})',
           f'last valid {name} {last[key]:.2f}',
           f'best {best[key]:.2f} (epoch {best["epoch"]})']
  if lr is not None:
    parts.append(f'lr {lr:g}')
  for key in ('kl', 'mi', 'au'):
    if key in last:
      parts.append(f'{key.upper()} {ptb_rows.two_decimals(last[key])}'
                   if key != 'au'
                   else f'AU {int(last[key])}')
  # the pace of the last (up to) 3 epochs, for the epochs the cap leaves
  recent = [b - a for a, b in zip(ends, ends[1:])][-3:]
  left = train.get('max_epochs', 0) - last['epoch']
  if left > 0 and recent and min(recent) > 0:
    pace = sum(recent) / len(recent)
    parts.append(f'ETA <= {format_duration(left * pace)} at '
                 f'{pace / 60:.1f} min an epoch, then {then}')
  return ', '.join(parts)


# Signals that stop a row, passed on to it; `experiments.train` saves a
# checkpoint and exits 128 + N on those of `interrupt.HANDLED`.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_child(cmd, cwd) -> int:
  """Runs `cmd`; returns its exit status, or -N after signal N.

  SIGTERM, SIGHUP or SIGINT sent to this process is passed on to the child
  (else `kill <queue pid>` would leave the training running, orphaned,
  beside the queue started again, and Ctrl-C would return to the shell
  while the training still saves its checkpoint), and the result is then
  -N whatever the child made of it. The training takes a copy arriving
  with the signal a process group got directly as the same request
  (vae_jax/train/interrupt.py).
  """
  child = subprocess.Popen(cmd, cwd=cwd)
  forwarded = []

  def forward(signum, frame):
    del frame
    forwarded.append(signum)
    child.send_signal(signum)
  handled = STOP_SIGNALS
  previous = {s: signal.signal(s, forward) for s in handled}
  try:
    rc = child.wait()
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
  return -forwarded[0] if forwarded else rc


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  unknown = [r for r in FLAGS.rows
             if not os.path.exists(os.path.join(CONFIG_DIR, f'{r}.py'))]
  if unknown:
    print(f'error: no config for rows {unknown} in {CONFIG_DIR}; rows of the '
          f'table: {",".join(ALL_ROWS)}', file=sys.stderr)
    sys.exit(2)
  if FLAGS.status:
    for row in FLAGS.rows:
      print(row_status(row, FLAGS.runs_dir), flush=True)
    return
  if not FLAGS.data_dir:
    print('error: --data_dir (the directory of the PTB files) is required',
          file=sys.stderr)
    sys.exit(2)
  if not os.path.isdir(FLAGS.data_dir):
    print(f'error: --data_dir={FLAGS.data_dir!r} is not a directory',
          file=sys.stderr)
    sys.exit(2)
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for row in FLAGS.rows:
    evaluated = os.path.join(FLAGS.runs_dir, row, 'eval_test.json')
    extend_dry = False
    if FLAGS.extend and os.path.exists(evaluated):
      why = why_not_extend(row, FLAGS.runs_dir, FLAGS.config_arg,
                           FLAGS.max_epochs)
      if why:
        print(f'{row}: not extended: {why}', flush=True)
        continue
      if FLAGS.dry_run:
        print(f'{row}: would move its evaluation to '
              f'{os.path.join(FLAGS.runs_dir, row)}/capped_at_<N>_epochs and '
              'train on', flush=True)
        extend_dry = True
      else:
        dest = ptb_rows.archive_evaluation(
            os.path.join(FLAGS.runs_dir, row))
        print(f'{row}: its capped evaluation moved to {dest}; training on',
              flush=True)
    todo = commands(row, FLAGS.runs_dir, FLAGS.data_dir, FLAGS.extra_flags,
                    FLAGS.config_arg, FLAGS.max_epochs,
                    FLAGS.pretrain_max_epochs, skip_evaluated=not extend_dry)
    if not todo:
      print(f'{row}: evaluated already ({FLAGS.runs_dir}/{row}/eval_test.json)',
            flush=True)
      continue
    for cmd in todo:
      print(f'{row}: {" ".join(cmd)}', flush=True)
      if FLAGS.dry_run:
        continue
      rc = run_child(cmd, repo)
      if rc - 128 in interrupt.HANDLED:  # the training's checkpointed stop
        rc = 128 - rc
      if rc < 0:
        print(f'{row}: stopped by signal {-rc}; rerun to resume it',
              file=sys.stderr)
        sys.exit(128 - rc)
      if rc:
        print(f'error: {row} failed (exit {rc}); rerun to resume it',
              file=sys.stderr)
        sys.exit(rc)
  print(f'done; the table: python -m experiments.results_table '
        f'--runs_dir={FLAGS.runs_dir}', flush=True)


if __name__ == '__main__':
  app.run(main)
