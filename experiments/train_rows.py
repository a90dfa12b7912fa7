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
order `--rows` by what you need first.
"""

import os
import subprocess
import sys

from absl import app, flags

from experiments import ptb_rows

ALL_ROWS = [name for name, _, _ in ptb_rows.ROWS]

flags.DEFINE_string('runs_dir', 'runs', 'Directory holding one workdir a row.')
flags.DEFINE_string('data_dir', None, 'Directory of the PTB files.',
                    required=True)
flags.DEFINE_list('rows', ALL_ROWS, 'Rows to run, in this order (config '
                  'names; default: every row of the table).')
flags.DEFINE_list('extra_flags', [], 'More flags for experiments.train, '
                  'e.g. --extra_flags=--compilation_cache_dir=/tmp/cache.')
flags.DEFINE_string('config_arg', '', 'Passed to every config (`<row>.py:ARG`);'
                    ' `smoke` gives seconds-long runs to check the set-up.')
flags.DEFINE_bool('dry_run', False, 'Print the commands instead of running '
                  'them.')
FLAGS = flags.FLAGS

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'configs')


def commands(row: str, runs_dir: str, data_dir: str, extra_flags=(),
             config_arg: str = '') -> list[list[str]]:
  """The train and evaluate commands of one row; [] if it is evaluated."""
  workdir = os.path.abspath(os.path.join(runs_dir, row))
  data_dir = os.path.abspath(data_dir)
  if os.path.exists(os.path.join(workdir, 'eval_test.json')):
    return []
  config = os.path.join(CONFIG_DIR, f'{row}.py')
  if config_arg:
    config += f':{config_arg}'
  return [
      [sys.executable, '-m', 'experiments.train', f'--config={config}',
       f'--data_dir={data_dir}', f'--workdir={workdir}', *extra_flags],
      [sys.executable, '-m', 'experiments.evaluate', f'--workdir={workdir}',
       f'--data_dir={data_dir}'],
  ]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  unknown = [r for r in FLAGS.rows
             if not os.path.exists(os.path.join(CONFIG_DIR, f'{r}.py'))]
  if unknown:
    print(f'error: no config for rows {unknown} in {CONFIG_DIR}; rows of the '
          f'table: {",".join(ALL_ROWS)}', file=sys.stderr)
    sys.exit(2)
  if not os.path.isdir(FLAGS.data_dir):
    print(f'error: --data_dir={FLAGS.data_dir!r} is not a directory',
          file=sys.stderr)
    sys.exit(2)
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for row in FLAGS.rows:
    todo = commands(row, FLAGS.runs_dir, FLAGS.data_dir, FLAGS.extra_flags,
                    FLAGS.config_arg)
    if not todo:
      print(f'{row}: evaluated already ({FLAGS.runs_dir}/{row}/eval_test.json)',
            flush=True)
      continue
    for cmd in todo:
      print(f'{row}: {" ".join(cmd)}', flush=True)
      if FLAGS.dry_run:
        continue
      rc = subprocess.call(cmd, cwd=repo)
      if rc:
        print(f'error: {row} failed (exit {rc}); rerun to resume it',
              file=sys.stderr)
        sys.exit(rc)
  print(f'done; the table: python -m experiments.results_table '
        f'--runs_dir={FLAGS.runs_dir}', flush=True)


if __name__ == '__main__':
  app.run(main)
