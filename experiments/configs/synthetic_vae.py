r"""The default job: an LSTM VAE on the generated corpus (no download).

The corpus comes from a small probabilistic grammar whose hidden factors
(topic, sentiment, tense) are known, so one can check what z captured.
A few minutes on a 2-core CPU (2m20s measured, see BUILD_NOTES.md).

With the plain objective this small VAE collapses (KL -> 0.1 nats, every
reconstruction the same sentence); the default therefore uses the free bits
of Li et al. (2019) with a target KL of 8 nats (0.5 per dimension), and the
reconstructions then follow the input's template and tense. Watch the
collapse with --config.objective.kl_mode=standard.

  python -m experiments.train --config=experiments/configs/synthetic_vae.py
"""

from experiments.configs import default


def get_config(arg: str | None = None):
  c = default.get_config()
  c.data.corpus = 'synthetic'
  c.model.kind = 'vae'
  c.model.embed_dim = 64
  c.model.enc_hidden = 128
  c.model.dec_hidden = 128
  c.model.latent_dim = 16
  c.model.dec_dropout_in = 0.0
  c.model.dec_dropout_out = 0.0
  c.model.word_dropout = 0.25
  c.objective.kl_schedule.warmup_epochs = 4.0
  c.objective.kl_mode = 'free_bits_li'
  c.objective.kl_threshold = 8.0
  c.train.optimizer = 'adam'
  c.train.learning_rate = 1e-3
  c.train.max_epochs = 10
  c.train.decay_min_epoch = 1000    # Adam: no plateau halving in this short run
  c.train.log_every_steps = 50
  c.eval.iw_samples = 100
  return default.apply_arg(c, arg)
