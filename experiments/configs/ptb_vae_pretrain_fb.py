r"""PTB VAE with encoder pretraining and free bits (Li et al., 2019).

Stage 1 trains the model of ptb_vae.py as an autoencoder (KL weight 0; at
most 100 epochs with the usual halving, best by validation
reconstruction) in <workdir>/pretrain_encoder; stage 2 keeps its encoder,
re-initialises the decoder and trains with the KL weight annealed 0 -> 1
over 10 epochs and Li et al.'s free bits (per example and dimension, target
KL 8 nats, i.e. 0.25 per dimension): their `text_anneal_fb.py --reset_dec
--kl_start 0 --warm_up 10 --target_kl 8 --fb 2`. Published (Li et al. 2019
as quoted in Li et al. 2020, table 8): -ELBO 102.41, PPL 96.86, KL 6.54,
MI 5.31, AU 32.

  python -m experiments.train --config=experiments/configs/ptb_vae_pretrain_fb.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_pretrain_fb
  python -m experiments.evaluate --workdir=runs/ptb_vae_pretrain_fb \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.train.pretrain_encoder_epochs = 100
  c.objective.kl_schedule.start = 0.0
  c.objective.kl_mode = 'free_bits_li'
  c.objective.kl_threshold = 8.0
  c = default.apply_arg(c, arg)
  if arg == 'smoke':
    c.train.pretrain_encoder_epochs = 1
  return c
