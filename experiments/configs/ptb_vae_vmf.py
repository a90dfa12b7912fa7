r"""PTB VAE with von Mises-Fisher latents (Xu and Durrett, 2018).

The configuration of ptb_vae.py with a vMF posterior on the sphere S^31
and a uniform prior, concentration fixed (as Xu and Durrett do) at the
library default kappa = 50: the KL is then the constant 12.25 nats
(`vmf_kl_to_uniform(50., 32)`) and cannot collapse. Xu and Durrett tune
kappa per corpus and latent size; 50 is not taken from their PTB row. The
KL-weight schedule is kept but has no effect on the gradient.
`--config.model.latent_kwargs.learn_kappa=True` learns kappa instead. No
agreed published PTB number: our row only.

  python -m experiments.train --config=experiments/configs/ptb_vae_vmf.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_vmf
  python -m experiments.evaluate --workdir=runs/ptb_vae_vmf \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.model.latent = 'vmf'
  c.model.latent_kwargs.kappa = 50.0
  return default.apply_arg(c, arg)
