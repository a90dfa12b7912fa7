r"""PTB VAE with von Mises-Fisher latents and a learned concentration.

The configuration of ptb_vae_vmf.py (a vMF posterior on the sphere S^31, a
uniform prior) with kappa predicted per example, softplus(Dense(h)) + 1 as
in Davidson et al. (2018), instead of Xu and Durrett's fixed kappa = 80.
The KL now depends on kappa, so, unlike the fixed-kappa row, it can fall
almost to 0: kappa >= 1 here, and at kappa = 1 the KL to the uniform
prior on S^31 is 0.016 nats (0.045 at the initial kappa of about 1.69,
17.86 at 80). The row asks whether the sphere alone keeps the code in use
once the encoder may choose its concentration. The KL weight is annealed 0.1 -> 1 over 10 epochs as in
ptb_vae.py. The gradient with respect to kappa is Davidson et al.'s
reparameterisation term only (their code's choice; BUILD_NOTES, "vMF
latents"). No published PTB number: our row only.

  python -m experiments.train --config=experiments/configs/ptb_vae_vmf_learned.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_vmf_learned
  python -m experiments.evaluate --workdir=runs/ptb_vae_vmf_learned \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.model.latent = 'vmf'
  c.model.latent_kwargs.learn_kappa = True
  return default.apply_arg(c, arg)
