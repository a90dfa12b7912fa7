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

  With `bn_gamma > 0` it is the BN-VAE head of Zhu et al. (2020): the means
  are batch-normalised per dimension with a *fixed* scale gamma and a
  learned shift beta (`mu_bn_bias`, initialised at 0), as in their code
  (`BatchNorm1d(nz)` whose weight is filled with gamma and frozen). Over a
  batch the means then have mean beta_d and variance gamma^2 (up to eps),
  so the batch-mean KL is at least sum_d (gamma^2 + beta_d^2) / 2 > 0.
  Deviation: the statistics are always those of the batch's real rows
  (padding rows masked), in evaluation too; their code evaluates with
  running averages. A batch-dependent q is still a valid proposal, so -ELBO
  and the IW-NLL remain upper bounds on the NLL.

  Attributes:
    latent_dim: D.
    init_scale: U(-s, s) initialisation of the linear map.
    bn_gamma: fixed BN scale of the means; 0 disables BN (no extra
      parameter, so the parameter tree is the plain head's).
    bn_eps: added to the batch variance.
  """
  latent_dim: int
  init_scale: float = 0.01
  bn_gamma: float = 0.0
  bn_eps: float = 1e-5

  @property
  def uses_batch_statistics(self) -> bool:
    """True when the posterior of a row depends on the batch (`mask` used)."""
    return self.bn_gamma > 0

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """z ~ N(0, I): <float>[num, D]."""
    return jax.random.normal(key, (num, self.latent_dim))

  @nn.compact
  def __call__(self, features: jax.Array,
               mask: jax.Array | None = None) -> DiagGaussianPosterior:
    """<float>[B, H] -> posterior with batch [B], event [D].

    `mask` <bool>[B] marks the real rows; only BN (`bn_gamma > 0`) uses it.
    """
    if self.bn_gamma < 0:
      raise ValueError(f'GaussianLatent: bn_gamma must be >= 0 (0: no BN), '
                       f'got {self.bn_gamma}')
    out = nn.Dense(2 * self.latent_dim, use_bias=False,
                   kernel_init=symmetric_uniform(self.init_scale))(features)
    loc, log_var = jnp.split(out, 2, axis=-1)
    if self.bn_gamma > 0:
      beta = self.param('mu_bn_bias', nn.initializers.zeros,
                        (self.latent_dim,))
      loc = batch_normalize(loc, mask=mask, eps=self.bn_eps) * self.bn_gamma
      loc = loc + beta
    return DiagGaussianPosterior(loc=loc, log_var=log_var)


def batch_normalize(x: jax.Array, *, mask: jax.Array | None = None,
                    eps: float = 1e-5) -> jax.Array:
  """(x - mean) / sqrt(var + eps) per column over the rows where `mask`.

  The biased variance, as batch normalisation in training mode. Rows outside
  the mask are normalised with the same statistics (and ignored later).
  """
  m = (jnp.ones(x.shape[:1], x.dtype) if mask is None
       else jnp.asarray(mask, x.dtype))[:, None]
  n = jnp.maximum(jnp.sum(m), 1.0)
  mean = jnp.sum(x * m, axis=0) / n
  var = jnp.sum(jnp.square(x - mean) * m, axis=0) / n
  return (x - mean) * jax.lax.rsqrt(var + eps)


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


def _learned_prior_logits(module: nn.Module, shape: tuple[int, ...],
                          like: jax.Array) -> jax.Array:
  """The head's `prior_logits` parameter (zeros at init: the uniform prior),
  broadcast to the batch shape of `like`, so that every leaf of a posterior
  has the batch axis (`vae_jax.train.evaluation.encode_split` relies on it).

  It lives in the latent head's parameters, which aggressive training
  (`vae_jax.train.aggressive`) and encoder pretraining count as the
  inference network's: there the prior moves with the encoder's updates.
  """
  prior = module.param('prior_logits', nn.initializers.zeros, shape)
  return jnp.broadcast_to(prior.astype(like.dtype), like.shape)


def _prior_params(module: nn.Module) -> jax.Array | None:
  """A bound head's learned prior logits, or None (the fixed uniform prior)."""
  if not module.learned_prior:
    return None
  return module.variables['params']['prior_logits']


class BernoulliLatent(nn.Module):
  """Linear map to the logits of D independent Bernoulli codes.

  Posterior `BernoulliPosterior`: z in {0, 1}^D, straight-through samples,
  prior Bernoulli(0.5)^D, or with `learned_prior` Bernoulli(sigmoid(a_d))
  with a learned a [D] (initialised at 0), trained by the KL term. Bias-free,
  like `GaussianLatent`, so q starts at the prior (logits ~ 0).
  """
  latent_dim: int
  init_scale: float = 0.01
  learned_prior: bool = False

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """z ~ p(z): <float>[num, D] of zeros and ones."""
    prior = _prior_params(self)
    p = 0.5 if prior is None else jax.nn.sigmoid(prior)
    return jax.random.bernoulli(key, p, (num, self.latent_dim)).astype(
        jnp.float32)

  @nn.compact
  def __call__(self, features: jax.Array) -> BernoulliPosterior:
    """<float>[B, H] -> posterior with batch [B], event [D]."""
    logits = nn.Dense(self.latent_dim, use_bias=False,
                      kernel_init=symmetric_uniform(self.init_scale))(features)
    prior = (_learned_prior_logits(self, (self.latent_dim,), logits)
             if self.learned_prior else None)
    return BernoulliPosterior(logits=logits, prior_logits=prior)


class CategoricalLatent(nn.Module):
  """Linear map to the logits of D categorical variables with K classes.

  Posterior `GumbelSoftmaxPosterior` with a uniform prior, or with
  `learned_prior` Categorical(softmax(a_d)) for each variable d, with learned
  logits a [D, K] (initialised at 0), trained by the KL term. Its samples,
  and so the decoder's z, have D * K features (flattened one-hot codes), not
  D.

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
    learned_prior: learn the prior's logits instead of a uniform prior.
  """
  latent_dim: int
  num_classes: int = 10
  temperature: float = 1.0
  hard: bool = False
  st_gradient: str = 'gumbel_softmax'
  init_scale: float = 0.01
  learned_prior: bool = False

  def prior_sample(self, key: jax.Array, num: int) -> jax.Array:
    """One-hot codes z ~ p(z), flattened: <float>[num, D * K]."""
    prior = _prior_params(self)
    if prior is None:
      codes = jax.random.randint(key, (num, self.latent_dim), 0,
                                 self.num_classes)
    else:
      codes = jax.random.categorical(key, prior, shape=(num, self.latent_dim))
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
    prior = (_learned_prior_logits(
        self, (self.latent_dim, self.num_classes), logits)
             if self.learned_prior else None)
    return GumbelSoftmaxPosterior(
        logits=logits, temperature=tau, prior_logits=prior,
        hard=self.hard, st_gradient=self.st_gradient)


LATENTS['bernoulli'] = BernoulliLatent
LATENTS['gumbel'] = CategoricalLatent
LATENTS['gumbel_st'] = functools.partial(CategoricalLatent, hard=True)
LATENTS['categorical_st'] = functools.partial(CategoricalLatent, hard=True,
                                              st_gradient='probs')
