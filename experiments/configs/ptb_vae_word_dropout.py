r"""PTB VAE with word dropout (Bowman et al., 2016).

The configuration of ptb_vae.py with 25 % of the decoder's input words
replaced by <unk> during training (Bowman et al.'s word keep rate 0.75);
`--config.model.word_dropout=1.0` gives their inputless decoder. No
published number in the Li et al. (2020) table: our row only.

  python -m experiments.train --config=experiments/configs/ptb_vae_word_dropout.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_word_dropout
  python -m experiments.evaluate --workdir=runs/ptb_vae_word_dropout \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.model.word_dropout = 0.25
  return default.apply_arg(c, arg)
