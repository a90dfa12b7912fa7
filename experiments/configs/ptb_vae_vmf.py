r"""PTB VAE with von Mises-Fisher latents (Xu and Durrett, 2018).

The configuration of ptb_vae.py with a vMF posterior on the sphere S^31
and a uniform prior, concentration fixed (as Xu and Durrett do) at
kappa = 80, the value of the PTB command in their code's README
(github.com/jiacheng-xu/vmf_vae_nlp: `--dist vmf --kappa 80 --lat_dim 50`,
with their own LSTM, embedding 100 and hidden 400, and inputless decoding,
`--mix_unk 1`). The KL is then the constant 17.86 nats
(`vmf_kl_to_uniform(80., 32)`; 19.52 at their 50 dimensions) and cannot
collapse. The KL-weight schedule is kept but has no effect on the
gradient. `--config.model.latent_kwargs.learn_kappa=True` learns kappa
instead. No agreed published PTB number: our row only.

  python -m experiments.train --config=experiments/configs/ptb_vae_vmf.py \
      --data_dir=../shared/data/ptb --workdir=runs/ptb_vae_vmf
  python -m experiments.evaluate --workdir=runs/ptb_vae_vmf \
      --data_dir=../shared/data/ptb
"""

from experiments.configs import default, ptb_vae


def get_config(arg: str | None = None):
  c = ptb_vae.get_config()
  c.model.latent = 'vmf'
  c.model.latent_kwargs.kappa = 80.0
  return default.apply_arg(c, arg)
