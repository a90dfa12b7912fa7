r"""Trains a language model or a VAE: `python -m experiments.train`.

With no arguments it trains a small LSTM VAE on the generated corpus (no
download, a few minutes on a CPU) and prints where its metrics, checkpoint,
plots and samples are. Examples:

  python -m experiments.train --config=experiments/configs/ptb_lm.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_lm
  python -m experiments.train --config=experiments/configs/ptb_vae.py:smoke

Starting again with the same --workdir resumes from the latest checkpoint.

On several devices set --config.train.parallel=shard_map; on several hosts
start one process per host with --coordinator_address, --num_processes and
--process_id (or under srun / on a TPU pod, where they are read from the
environment): see "Multi-device and cluster runs" in README.md.
"""

import os
import sys

from absl import app, flags

from experiments import flags_common

flags_common.define_config_flags('synthetic_vae.py')
flags_common.define_distributed_flags()
flags_common.define_runtime_flags()
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  flags_common.apply_runtime_flags()  # before the first computation
  from vae_jax.data import DataError  # pylint: disable=g-import-not-at-top
  from vae_jax.train.loop import (ConfigError,  # pylint: disable=g-import-not-at-top
                                  NonFiniteLossError, train_and_evaluate)
  from vae_jax.train.interrupt import TrainingInterrupted  # pylint: disable=g-import-not-at-top
  from vae_jax.train.workdir_lock import WorkdirBusyError  # pylint: disable=g-import-not-at-top
  config, workdir = flags_common.resolve(FLAGS.config)
  flags_common.initialize_distributed()
  try:
    train_and_evaluate(config, workdir)
  except (ConfigError, DataError, NonFiniteLossError,
          WorkdirBusyError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  except TrainingInterrupted as e:
    print(str(e), file=sys.stderr)
    sys.exit(e.exit_code)
  from vae_jax.train.distributed import is_chief  # pylint: disable=g-import-not-at-top
  if not is_chief():
    return
  workdir = os.path.abspath(workdir)
  print('\nrun finished. outputs in', workdir)
  for name in ('final.json', 'metrics.jsonl', 'samples.txt', 'plots/loss.png',
               'plots/latent.png', 'checkpoints/best'):
    path = os.path.join(workdir, name)
    if os.path.exists(path):
      print('  ', path)


if __name__ == '__main__':
  app.run(main)
