r"""PTB VAE with the free bits of Kingma et al. (2016).

The configuration of ptb_vae.py with the KL floor of Kingma et al.: per
latent dimension on the minibatch-averaged KL, lambda = 0.25 nats per
dimension (8 nats over the 32 dimensions, the total of Li et al.'s target,
so the two free-bits rows are comparable). No published PTB number in the
Li et al. (2020) table: our row only. Kingma et al. floor groups of
latents; `--config.objective.kl_groups=G` floors G equal groups of 32 / G
dimensions instead (lambda then per group; the row keeps one group per
dimension).

  python -m experiments.train --config=experiments/configs/ptb_vae_fb_kingma.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_fb_kingma
  python -m experiments.evaluate --workdir=runs/ptb_vae_fb_kingma \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.objective.kl_mode = 'free_bits_kingma'
  c.objective.kl_threshold = 0.25
  return default.apply_arg(c, arg)
