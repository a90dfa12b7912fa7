r"""PTB LSTM VAE with straight-through Gumbel-softmax codes, annealed tau.

As ptb_vae_gumbel.py (32 categorical variables of 10 classes, tau =
max(0.5, exp(-1e-4 t))), but the decoder reads exact one-hot codes and the
gradient is that of the relaxed sample (Jang et al. 2017, section 2.2).

  python -m experiments.train --config=experiments/configs/ptb_vae_gumbel_st.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_gumbel_st
  python -m experiments.evaluate --workdir=runs/ptb_vae_gumbel_st \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import ptb_vae


def get_config(arg: str | None = None):
  return ptb_vae.discrete_latent(ptb_vae.get_config(arg), 'gumbel_st')
