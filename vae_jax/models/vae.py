"""Sentence VAE (Bowman et al., 2016) with a pluggable latent family."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.distributions.base import exact_density
from vae_jax.models.decoder import Decoder
from vae_jax.models.encoder import Encoder


class SentenceVAE(nn.Module):
  """Encoder -> latent head -> posterior q(z|x); decoder p(x|z); prior p(z).

  Attributes:
    encoder: features of x, <float>[B, H].
    latent: head mapping features to a `Posterior` pytree.
    decoder: `Decoder` conditioned on z.
  """
  encoder: Encoder
  latent: nn.Module
  decoder: Decoder

  @property
  def uses_batch_statistics(self) -> bool:
    """True when a sentence's posterior depends on the rest of its batch
    (BN-VAE's head normalises the means with the batch's statistics)."""
    return bool(getattr(self.latent, 'uses_batch_statistics', False))

  def encode(self, ids: jax.Array, length: jax.Array, *,
             temperature: jax.Array | None = None):
    """The posterior q(z | x) for a batch: batch shape [B].

    Args:
      ids, length: the batch.
      temperature: <float>[] Gumbel-softmax tau for a relaxed head ('gumbel',
        'gumbel_st'), traced so an annealed value does not recompile; None
        uses the head's configured `temperature`. Other heads take none.
    """
    features = self.encoder(ids, length)
    kwargs = {}
    if self.uses_batch_statistics:  # BN-VAE
      kwargs['mask'] = length > 0
    if temperature is not None:
      kwargs['temperature'] = temperature
    return self.latent(features, **kwargs)

  def log_likelihood(self, z: jax.Array, ids: jax.Array, length: jax.Array, *,
                     deterministic: bool = True) -> jax.Array:
    """log p(x | z) for z <float>[..., B, D]; leading sample axes allowed.

    Deterministically (evaluation), the samples share the decoder's
    z-independent work (`Decoder.score_samples`); with dropout each sample
    is a separate row.

    Returns:
      <float>[..., B].
    """
    lead = z.shape[:-2]
    n = 1
    for d in lead:
      n *= d
    b = ids.shape[0]
    if deterministic:
      ll = self.decoder.score_samples(ids, length,
                                      z.reshape((n, b, z.shape[-1])))
      return ll.reshape(lead + (b,))
    flat_z = z.reshape((n * b, z.shape[-1]))
    flat_ids = jnp.broadcast_to(ids, (n,) + ids.shape).reshape(n * b, -1)
    flat_len = jnp.broadcast_to(length, (n, b)).reshape(n * b)
    ll = self.decoder(flat_ids, flat_len, flat_z, deterministic=deterministic)
    return ll.reshape(lead + (b,))

  def __call__(self, ids: jax.Array, length: jax.Array, *,
               deterministic: bool = True,
               temperature: jax.Array | None = None) -> dict[str, jax.Array]:
    """Per-example ELBO terms with one posterior sample (rng stream 'latent').

    In evaluation (`deterministic`), a relaxed head is scored as the discrete
    model it relaxes: the sample is the hard code
    (`distributions.base.exact_density`), so rec + KL is the -ELBO of the
    discrete model, the same model the IW-NLL bounds.

    Args:
      ids, length: the batch.
      deterministic: no dropout (evaluation).
      temperature: see `encode` (the training loop passes the annealed tau).

    Returns:
      {'rec': <float>[B] -log p(x|z), 'kl': <float>[B] KL(q||p),
       'kl_per_dim': <float>[B, D]}.
    """
    posterior = self.encode(ids, length, temperature=temperature)
    if deterministic:
      posterior = exact_density(posterior)
    z = posterior.sample(self.make_rng('latent'), 1)[0]
    rec = -self.decoder(ids, length, z, deterministic=deterministic)
    return {'rec': rec, 'kl': posterior.kl(),
            'kl_per_dim': posterior.kl_per_dim()}

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """z ~ p(z) in the decoder's input format, <float>[num, D_z]."""
    return self.latent.prior_sample(key, num)

  def step(self, token, state, z):
    return self.decoder.step(token, state, z)

  def initial_state(self, z, batch: int):
    return self.decoder.initial_state(z, batch)
