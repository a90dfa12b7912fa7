r"""PTB LSTM VAE with relaxed categorical codes (Gumbel-softmax), annealed tau.

ptb_vae.py with 32 categorical variables of 10 classes (the decoder reads
the 320 relaxed one-hot features), uniform prior, exact categorical KL, and
the Gumbel-softmax relaxation (Jang et al. 2017) at
tau = max(0.5, exp(-1e-4 t)) per step t. Evaluation (ELBO, IW-NLL) scores
the discrete model with hard codes.

  python -m experiments.train --config=experiments/configs/ptb_vae_gumbel.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_gumbel
  python -m experiments.evaluate --workdir=runs/ptb_vae_gumbel \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import ptb_vae


def get_config(arg: str | None = None):
  return ptb_vae.discrete_latent(ptb_vae.get_config(arg), 'gumbel')
