r"""LSTM VAE on PTB with KL annealing, the configuration of Li et al. (2019).

Embedding 256, encoder and decoder LSTM 256, Gaussian latent 32, decoder
dropout 0.5 in and out, batch 32, SGD lr 1.0 with clipping 5 and halving on
plateaus, KL weight annealed linearly 0.1 -> 1 over 10 epochs (He et al.).
The papers find this model collapses (KL ~ 0, AU 0).

  python -m experiments.train --config=experiments/configs/ptb_vae.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae
"""

from experiments.configs import default


def get_config(arg: str | None = None):
  c = default.get_config()
  c.data.corpus = 'ptb'
  c.model.kind = 'vae'
  return default.apply_arg(c, arg)
