r"""PTB VAE with batch-normalised posterior means: BN-VAE (Zhu et al., 2020).

The configuration of ptb_vae.py (KL annealing kept) with the Gaussian
head's means batch-normalised with a fixed scale gamma = 0.6 and a learned
shift (their code: `BatchNorm1d(nz)`, weight filled with gamma and frozen),
which keeps the expected KL at least 32 * 0.6^2 / 2 = 5.8 nats. Zhu et al.
report Yahoo and Yelp, not PTB: our row only.

  python -m experiments.train --config=experiments/configs/ptb_vae_bn.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_bn
  python -m experiments.evaluate --workdir=runs/ptb_vae_bn \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.model.latent_kwargs.bn_gamma = 0.6
  return default.apply_arg(c, arg)
