r"""LSTM VAE on PTB with KL annealing, the configuration of Li et al. (2019).

Embedding 256, encoder and decoder LSTM 256, Gaussian latent 32, decoder
dropout 0.5 in and out, batch 32, SGD lr 1.0 with clipping 5 and halving on
plateaus, KL weight annealed linearly 0.1 -> 1 over 10 epochs (He et al.).
The papers find this model collapses (KL ~ 0, AU 0).

  python -m experiments.train --config=experiments/configs/ptb_vae.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae
"""

from experiments.configs import default


def get_config(arg: str | None = None):
  c = default.get_config()
  c.data.corpus = 'ptb'
  c.model.kind = 'vae'
  return default.apply_arg(c, arg)


# The discrete rows (ptb_vae_bernoulli.py, ptb_vae_gumbel.py, ...): 32 bits,
# or 32 categorical variables of 10 classes; tau annealed as Jang et al.
# (2017), max(0.5, exp(-r t)) with r = 1e-4, for the heads that use one.
DISCRETE_CLASSES = 10
TEMPERATURE_SCHEDULE = {'name': 'exponential_decay', 'start': 1.0, 'end': 0.5,
                        'decay_rate': 1e-4}


def discrete_latent(c, latent: str):
  """`c` (a ptb_vae config, maybe ':smoke'-shrunk) with a discrete latent."""
  c.model.latent = latent
  if latent != 'bernoulli':
    c.model.latent_kwargs.num_classes = DISCRETE_CLASSES
  if latent in ('gumbel', 'gumbel_st'):
    c.objective.temperature_schedule.update(TEMPERATURE_SCHEDULE)
  return c
