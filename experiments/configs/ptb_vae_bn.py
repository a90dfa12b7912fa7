r"""PTB VAE with batch-normalised posterior means: BN-VAE (Zhu et al., 2020).

The configuration of ptb_vae.py (KL annealing kept) with the Gaussian
head's means batch-normalised with a fixed scale gamma = 0.6 and a learned
shift (their code: `BatchNorm1d(nz)`, weight filled with gamma and frozen),
which keeps the expected KL at least 32 * 0.6^2 / 2 = 5.76 nats. Zhu et al.
report Yahoo and Yelp, not PTB: our row only.

BN's eps is 1e-12 here, not PyTorch's 1e-5: with the U(-0.01, 0.01)
initialisation of this configuration the raw means' batch variance is
about 1.2e-9 at the start (their code leaves the encoder at PyTorch's
larger default initialisation), and eps = 1e-5 would shrink the
normalised means to E[mu^2] = 0.000 instead of gamma^2 = 0.36: KL 0.001
at initialisation instead of 5.76 (measured on this model, BUILD_NOTES.md).

  python -m experiments.train --config=experiments/configs/ptb_vae_bn.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_bn
  python -m experiments.evaluate --workdir=runs/ptb_vae_bn \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.model.latent_kwargs.bn_gamma = 0.6
  c.model.latent_kwargs.bn_eps = 1e-12
  return default.apply_arg(c, arg)
