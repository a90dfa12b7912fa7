r"""PTB LSTM VAE with straight-through categorical codes (no temperature).

32 categorical variables of 10 classes, exact one-hot samples forward and
the gradient of softmax(logits) backward (Bengio et al. 2013's estimator for
categorical units), uniform prior, exact KL; otherwise ptb_vae.py.

  python -m experiments.train \
      --config=experiments/configs/ptb_vae_categorical_st.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_categorical_st
  python -m experiments.evaluate --workdir=runs/ptb_vae_categorical_st \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import ptb_vae


def get_config(arg: str | None = None):
  return ptb_vae.discrete_latent(ptb_vae.get_config(arg), 'categorical_st')
