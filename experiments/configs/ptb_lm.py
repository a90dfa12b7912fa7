r"""LSTM language model on PTB, the configuration of Li et al. (2019).

Embedding 256, LSTM 256, decoder dropout 0.5 in and out, batch 32, SGD with
learning rate 1.0, gradient clipping 5, halving on validation plateaus.
Published (Li et al. 2019 as quoted in Li et al. 2020, table 8): NLL 101.04,
PPL 100.47.

  python -m experiments.train --config=experiments/configs/ptb_lm.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_lm
"""

from experiments.configs import default


def get_config(arg: str | None = None):
  c = default.get_config()
  c.data.corpus = 'ptb'
  c.model.kind = 'lm'
  return default.apply_arg(c, arg)
