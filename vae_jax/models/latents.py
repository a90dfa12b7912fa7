"""Latent heads: encoder features -> a posterior object.

Each head returns a pytree implementing
`vae_jax.distributions.base.Posterior`; the VAE, the losses and the
diagnostics only use that interface. New families register in `LATENTS`.
"""

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.distributions.bernoulli import BernoulliPosterior
from vae_jax.distributions.categorical import GumbelSoftmaxPosterior
from vae_jax.distributions.gaussian import DiagGaussianPosterior
from vae_jax.distributions.vmf import VMFPosterior, uniform_sphere_sample
from vae_jax.models.initializers import symmetric_uniform


class GaussianLatent(nn.Module):
  """Linear map to the mean and log-variance of a diagonal Gaussian.

  As in He et al. (2019): one bias-free linear layer to 2D outputs.
  """
  latent_dim: int
  init_scale: float = 0.01

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """z ~ N(0, I): <float>[num, D]."""
    return jax.random.normal(key, (num, self.latent_dim))

  @nn.compact
  def __call__(self, features: jax.Array) -> DiagGaussianPosterior:
    """<float>[B, H] -> posterior with batch [B], event [D]."""
    out = nn.Dense(2 * self.latent_dim, use_bias=False,
                   kernel_init=symmetric_uniform(self.init_scale))(features)
    loc, log_var = jnp.split(out, 2, axis=-1)
    return DiagGaussianPosterior(loc=loc, log_var=log_var)


class VMFLatent(nn.Module):
  """von Mises-Fisher posterior on S^{D-1} with a uniform prior.

  mu = Dense(features) / |Dense(features)|. As in Xu and Durrett (2018) the
  concentration is fixed by default (`kappa`), so the KL is a constant and
  cannot collapse; with `learn_kappa` it is predicted per example as
  softplus(Dense(features)) + 1 (Davidson et al. 2018). The decoder receives
  z on the unit sphere.

  Attributes:
    latent_dim: D >= 2.
    kappa: the fixed concentration (ignored with `learn_kappa`).
    learn_kappa: predict kappa from the features instead.
    init_scale: U(-s, s) initialisation of the linear maps, as the Gaussian's.
  """
  latent_dim: int
  kappa: float = 50.0
  learn_kappa: bool = False
  init_scale: float = 0.01

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """z ~ Uniform(S^{D-1}): <float>[num, D]."""
    return uniform_sphere_sample(key, (num,), self.latent_dim)

  @nn.compact
  def __call__(self, features: jax.Array) -> VMFPosterior:
    """<float>[B, H] -> posterior with batch [B], event [D]."""
    if self.latent_dim < 2:
      raise ValueError(f'the vmf latent needs latent_dim >= 2, got '
                       f'{self.latent_dim}')
    if not self.learn_kappa and not self.kappa > 0:
      raise ValueError(f'the vmf latent needs kappa > 0, got {self.kappa}')
    init = symmetric_uniform(self.init_scale)
    direction = nn.Dense(self.latent_dim, use_bias=False, kernel_init=init,
                         name='mu')(features)
    norm2 = jnp.sum(jnp.square(direction), axis=-1, keepdims=True)
    # An all-zero direction (zero features) maps to zero, not NaN.
    mu = direction * jax.lax.rsqrt(jnp.maximum(
        norm2, jnp.finfo(direction.dtype).tiny))
    if self.learn_kappa:
      kappa = nn.softplus(nn.Dense(1, kernel_init=init, name='kappa')(
          features))[..., 0] + 1.0
    else:
      kappa = jnp.full(features.shape[:-1], self.kappa, features.dtype)
    return VMFPosterior(mu=mu, kappa=kappa)


LATENTS: dict[str, Callable[..., nn.Module]] = {
    'gaussian': GaussianLatent,
    'vmf': VMFLatent,
}


def make_latent(name: str, latent_dim: int, **kwargs) -> nn.Module:
  if name not in LATENTS:
    raise ValueError(f'unknown latent family {name!r}: choose one of '
                     f'{sorted(LATENTS)}')
  return LATENTS[name](latent_dim=latent_dim, **kwargs)


# Discrete families.


class BernoulliLatent(nn.Module):
  """Linear map to the logits of D independent Bernoulli codes.

  Posterior `BernoulliPosterior`: z in {0, 1}^D, straight-through samples,
  prior Bernoulli(0.5)^D. Bias-free, like `GaussianLatent`, so q starts at
  the prior (logits ~ 0).
  """
  latent_dim: int
  init_scale: float = 0.01

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """z ~ Bernoulli(0.5)^D: <float>[num, D] of zeros and ones."""
    return jax.random.bernoulli(key, 0.5, (num, self.latent_dim)).astype(
        jnp.float32)

  @nn.compact
  def __call__(self, features: jax.Array) -> BernoulliPosterior:
    """<float>[B, H] -> posterior with batch [B], event [D]."""
    logits = nn.Dense(self.latent_dim, use_bias=False,
                      kernel_init=symmetric_uniform(self.init_scale))(features)
    return BernoulliPosterior(logits=logits)


class CategoricalLatent(nn.Module):
  """Linear map to the logits of D categorical variables with K classes.

  Posterior `GumbelSoftmaxPosterior` with a uniform prior. Its samples, and
  so the decoder's z, have D * K features (flattened one-hot codes), not D.

  Attributes:
    latent_dim: D, the number of categorical variables.
    num_classes: K.
    temperature: Gumbel-softmax tau when `__call__` is given none; the
      training loop passes an annealed tau (`objective.temperature_schedule`)
      as a traced scalar, so it changes without recompiling.
    hard: straight-through one-hot samples ('gumbel_st', 'categorical_st')
      instead of relaxed ones ('gumbel').
    st_gradient: with `hard`, 'gumbel_softmax' (Jang et al.) or 'probs'
      (Bengio et al.'s straight-through to softmax(logits)).
    init_scale: U(-s, s) init of the bias-free linear map.
  """
  latent_dim: int
  num_classes: int = 10
  temperature: float = 1.0
  hard: bool = False
  st_gradient: str = 'gumbel_softmax'
  init_scale: float = 0.01

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """Uniform one-hot codes, flattened: <float>[num, D * K]."""
    codes = jax.random.randint(key, (num, self.latent_dim), 0,
                               self.num_classes)
    return jax.nn.one_hot(codes, self.num_classes).reshape(num, -1)

  @nn.compact
  def __call__(self, features: jax.Array, *,
               temperature: jax.Array | None = None) -> GumbelSoftmaxPosterior:
    """<float>[B, H] -> posterior with batch [B], D variables of K classes.

    Args:
      features: <float>[B, H].
      temperature: <float>[] tau for this call (traced; must be > 0), or
        None for the fixed `self.temperature`. Sown as
        ('intermediates', 'temperature') when that collection is mutable.
    """
    if self.num_classes < 2 or self.temperature <= 0:
      raise ValueError(
          f'CategoricalLatent: need num_classes >= 2 and temperature > 0, got '
          f'num_classes={self.num_classes}, temperature={self.temperature}')
    logits = nn.Dense(self.latent_dim * self.num_classes, use_bias=False,
                      kernel_init=symmetric_uniform(self.init_scale))(features)
    logits = logits.reshape(logits.shape[:-1]
                            + (self.latent_dim, self.num_classes))
    tau = jnp.asarray(self.temperature if temperature is None else temperature,
                      logits.dtype)
    self.sow('intermediates', 'temperature', tau)
    return GumbelSoftmaxPosterior(
        logits=logits, temperature=tau,
        hard=self.hard, st_gradient=self.st_gradient)


LATENTS['bernoulli'] = BernoulliLatent
LATENTS['gumbel'] = CategoricalLatent
LATENTS['gumbel_st'] = functools.partial(CategoricalLatent, hard=True)
LATENTS['categorical_st'] = functools.partial(CategoricalLatent, hard=True,
                                              st_gradient='probs')
