r"""PTB LSTM VAE with a Bernoulli code: z in {0, 1}^32, straight-through.

ptb_vae.py (Li et al. 2019's configuration: LSTM 256, SGD 1.0, KL weight
0.1 -> 1 over 10 epochs) with the Gaussian latent replaced by 32 mean-field
Bernoulli bits, prior Bernoulli(0.5), exact KL, straight-through gradient
(Bengio et al. 2013). The IW-NLL uses the exact code probabilities.

  python -m experiments.train --config=experiments/configs/ptb_vae_bernoulli.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_bernoulli
  python -m experiments.evaluate --workdir=runs/ptb_vae_bernoulli \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import ptb_vae


def get_config(arg: str | None = None):
  return ptb_vae.discrete_latent(ptb_vae.get_config(arg), 'bernoulli')
