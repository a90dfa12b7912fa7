r"""PTB VAE with the free bits of Li et al. (2019), without pretraining.

The configuration of ptb_vae.py (KL weight annealed 0.1 -> 1 over 10
epochs, no encoder pretraining) with Li et al.'s free bits: per example
and per latent dimension, the KL term of a dimension is dropped (no value,
no gradient) where it is below target_kl / 32 = 0.25 nats; their
`text_anneal_fb.py --fb 2 --target_kl 8` without `--load_path`. It differs
from ptb_vae_fb_kingma.py only in where the floor applies (each example's
KL, not the minibatch mean), and from ptb_vae_pretrain_fb.py in the
missing autoencoder stage and the annealing's start (0.1, not 0): the
ablation that tells the two halves of Li et al.'s remedy apart. No
published PTB number: our row only.

  python -m experiments.train --config=experiments/configs/ptb_vae_fb_li.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_fb_li
  python -m experiments.evaluate --workdir=runs/ptb_vae_fb_li \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.objective.kl_mode = 'free_bits_li'
  c.objective.kl_threshold = 8.0
  return default.apply_arg(c, arg)
