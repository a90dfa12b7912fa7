r"""PTB VAE with aggressive inference-network training (He et al., 2019).

The configuration of ptb_vae.py (256/256/32, batch 32, SGD lr 1.0 for the
encoder and for the decoder, clip 5 on all gradients together, KL weight
0.1 -> 1 over 10 epochs: their `--aggressive 1 --warm_up 10 --kl_start
0.1`) with the aggressive inner loop: before each decoder update, encoder-
only updates on random training batches until the objective stops
improving (checked every 15, at most 99), until the first epoch whose
validation MI is lower than the previous one (see vae_jax/train/
aggressive.py). Published (Li et al. 2019 as quoted in Li et al. 2020,
table 8): -ELBO 101.19, PPL 99.83, KL 0.93, MI 0.83, AU 4.

  python -m experiments.train --config=experiments/configs/ptb_vae_aggressive.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_aggressive
  python -m experiments.evaluate --workdir=runs/ptb_vae_aggressive \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.train.aggressive = True
  # An aggressive step costs ~35 plain ones early on: a checkpoint every 200
  # decoder updates (~15 minutes on a 2-core CPU, not the default 500's 40).
  c.train.checkpoint_every_steps = 200
  return default.apply_arg(c, arg)
