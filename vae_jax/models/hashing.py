r"""Semantic hashing with a Bernoulli mixture prior (BMSH, Dong et al. 2019).

Generative model of a bag-of-words document x (counts over V words):

  c ~ Cat(pi),  z | c ~ prod_d Bernoulli(gamma_{c,d}),  z in {0, 1}^m,
  z' = z + sigma(x) * eps, eps ~ N(0, I)   (data-dependent noise, training)
  log p(x | z') = sum_w x_w log softmax(W z' + b)_w,

with learned pi = softmax(prior_logits) [C] and gamma = sigmoid(gamma_logits)
[C, m]. Inference network: an MLP of the counts to the logits of a
mean-field Bernoulli q(z | x), sampled with the straight-through estimator
(forward: the binary sample; backward: identity to the probabilities).
sigma(x) = 0.5 exp(Dense(h)) comes from the encoder's last hidden layer h
(the "data-dependent noise" of the paper, which regularises the decoder);
evaluation decodes the noiseless code.

KL term, exact under the paper's independence assumption. The variational
posterior factorises as q(z, c | x) = q(z | x) q(c | x), so

  KL(q(z, c | x) || p(z, c))
    = sum_c sum_z q(c|x) q(z|x) [log q(c|x) - log pi_c
                                 + log q(z|x) - log p(z | c)]
    = KL(q(c|x) || pi) + sum_c q(c|x) KL(q(z|x) || Bernoulli(gamma_c)),

since the first two logs do not depend on z (sum_z q(z|x) = 1) and, for
each c, the last two summed over z are KL(q(z|x) || p(z|c)). Both q(z|x)
and p(z|c) factorise over the m bits, so the inner KL is a sum of m
two-point KLs (`bernoulli_kl`), and the first term is a categorical KL.

As in VaDE (Jiang et al. 2017), q(c | x) is the component posterior of the
prior at the sampled code,

  q(c | x) = p(c | z) = pi_c p(z | c) / sum_c' pi_c' p(z | c'),

a posterior over components given the code, evaluated at the
straight-through sample z, so gradients reach the encoder through z. The
formula above is the exact KL for *any* q(c | x);
`tests/models/test_hashing.py` checks it against enumerating all (z, c) for
small m and C.

The hash code of a document is its most probable z under the mean-field
posterior: bit d is 1 iff q(z_d = 1 | x) > 0.5.

References:
  Dong, Su, Shen and Chen (2019), Document Hashing with Mixture-Prior
    Generative Models, EMNLP (BMSH, section 3.2).
  Shen, Su, Chapfuwa, Wang, Wang, Henao and Carin (2018), NASH: Toward
    End-to-End Neural Architecture for Generative Semantic Hashing.
  Jiang, Zheng, Tan, Tang and Zhou (2017), Variational Deep Embedding.
"""

from typing import Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from vae_jax.distributions.bernoulli import (bernoulli_entropy, bernoulli_kl,
                                             bernoulli_log_prob,
                                             bernoulli_sample)
from vae_jax.models.nvdm import bow_log_likelihood


def mixture_prior_kl(logits_q: ArrayLike, q_c: ArrayLike,
                     prior_logits: ArrayLike,
                     gamma_logits: ArrayLike) -> jax.Array:
  """KL(q(z|x) q(c|x) || p(c) p(z|c)) per example (see the module doc).

  Args:
    logits_q: <float>[B, m], q(z_d = 1 | x) = sigmoid(logits_q).
    q_c: <float>[B, C], q(c | x) (rows on the simplex).
    prior_logits: <float>[C], pi = softmax(prior_logits).
    gamma_logits: <float>[C, m], p(z_d = 1 | c) = sigmoid(gamma_logits).

  Returns:
    <float>[B]: KL(q(c|x) || pi) + sum_c q(c|x) KL(q(z|x) || p(z|c)).
  """
  q_c = jnp.asarray(q_c)
  # log q(c|x) from probabilities; 0 log 0 = 0 through the where.
  log_q_c = jnp.log(jnp.where(q_c > 0, q_c, 1.0))
  kl_c = jnp.sum(q_c * (log_q_c - jax.nn.log_softmax(prior_logits)), axis=-1)
  kl_z_c = jnp.sum(bernoulli_kl(jnp.asarray(logits_q)[:, None, :],
                                jnp.asarray(gamma_logits)[None]), axis=-1)
  return kl_c + jnp.sum(q_c * kl_z_c, axis=-1)


def component_posterior(z: ArrayLike, prior_logits: ArrayLike,
                        gamma_logits: ArrayLike) -> jax.Array:
  """p(c | z) = pi_c p(z | c) / p(z) for codes z <float>[..., m]: [..., C]."""
  z = jnp.asarray(z)
  log_joint = (jax.nn.log_softmax(prior_logits)
               + bernoulli_log_prob(z[..., None, :], gamma_logits))
  return jax.nn.softmax(log_joint, axis=-1)


def mixture_prior_log_prob(z: ArrayLike, prior_logits: ArrayLike,
                           gamma_logits: ArrayLike) -> jax.Array:
  """log p(z) = log sum_c pi_c prod_d Bernoulli(z_d; gamma_cd): [...]."""
  z = jnp.asarray(z)
  return jax.nn.logsumexp(jax.nn.log_softmax(prior_logits)
                          + bernoulli_log_prob(z[..., None, :], gamma_logits),
                          axis=-1)


@flax.struct.dataclass
class MixturePriorBernoulliPosterior:
  """q(z | x) mean-field Bernoulli, with the Bernoulli mixture prior p(z).

  Implements `vae_jax.distributions.base.Posterior` (the prior is the exact
  mixture marginal, so an IW bound on this posterior is exact-density);
  `kl` is not KL(q(z|x) || p(z)) but the BMSH term `mixture_prior_kl` at
  q(c | x) = p(c | mode of q), used for reporting only: the training loss
  evaluates q(c | x) at the sample (`BernoulliMixtureHashing.__call__`).

  Attributes:
    logits: <float>[B, m].
    prior_logits: <float>[C].
    gamma_logits: <float>[C, m].
  """
  logits: jax.Array
  prior_logits: jax.Array
  gamma_logits: jax.Array

  def sample(self, key: jax.Array, num_samples: int) -> jax.Array:
    return bernoulli_sample(key, self.logits, num_samples=num_samples)

  def log_prob(self, z: jax.Array) -> jax.Array:
    return bernoulli_log_prob(z, self.logits)

  def prior_log_prob(self, z: jax.Array) -> jax.Array:
    return mixture_prior_log_prob(z, self.prior_logits, self.gamma_logits)

  def mean(self) -> jax.Array:
    return jax.nn.sigmoid(self.logits)

  def mode(self) -> jax.Array:
    """The hash code: 1 where q(z_d = 1 | x) > 1/2."""
    return (self.logits > 0).astype(self.logits.dtype)

  def entropy(self) -> jax.Array:
    return bernoulli_entropy(self.logits)

  def kl_per_dim(self) -> jax.Array:
    """The KL does not split over bits: [B, 1]."""
    return self.kl()[:, None]

  def hash_code(self) -> jax.Array:
    """The most probable code, 1[q(z_d = 1 | x) > 0.5]: <int8>[B, m]."""
    return self.mode().astype(jnp.int8)

  def kl(self) -> jax.Array:
    q_c = component_posterior(self.hash_code().astype(self.logits.dtype),
                              self.prior_logits, self.gamma_logits)
    return mixture_prior_kl(self.logits, q_c, self.prior_logits,
                            self.gamma_logits)


class BernoulliMixtureHashing(nn.Module):
  """BMSH: MLP encoder -> Bernoulli code -> noisy code -> softmax decoder.

  Attributes:
    vocab_size: V.
    num_bits: m, the hash code length.
    num_components: C.
    hidden: encoder hidden layer sizes (ReLU), as in NASH.
    noise_scale: sigma(x) = noise_scale * exp(Dense(h)); 0 turns the
      decoder-input noise off.
  """
  vocab_size: int
  num_bits: int = 32
  num_components: int = 10
  hidden: Sequence[int] = (500, 500)
  noise_scale: float = 0.5

  def setup(self):
    self.layers = [nn.Dense(h, name=f'enc_{i}')
                   for i, h in enumerate(self.hidden)]
    self.code = nn.Dense(self.num_bits, name='code')
    self.log_noise = nn.Dense(self.num_bits, name='log_noise',
                              kernel_init=nn.initializers.zeros)
    self.decoder = nn.Dense(self.vocab_size, name='decoder')
    self.prior_logits = self.param('prior_logits', nn.initializers.zeros,
                                   (self.num_components,))
    # Components must differ at the start, or p(c | z) is uniform for ever.
    self.gamma_logits = self.param('gamma_logits',
                                   nn.initializers.normal(1.0),
                                   (self.num_components, self.num_bits))

  def _hidden(self, counts: jax.Array) -> jax.Array:
    h = counts
    for layer in self.layers:
      h = jax.nn.relu(layer(h))
    return h

  def encode(self, counts: jax.Array) -> MixturePriorBernoulliPosterior:
    """q(z | x) for counts <float>[B, V], with the model's mixture prior."""
    return MixturePriorBernoulliPosterior(
        logits=self.code(self._hidden(counts)),
        prior_logits=self.prior_logits, gamma_logits=self.gamma_logits)

  def log_likelihood(self, z: jax.Array, counts: jax.Array) -> jax.Array:
    """log p(x | z) of the noiseless code z <float>[..., B, m]: [..., B]."""
    return bow_log_likelihood(counts, self.decoder(z))

  def kl(self, posterior: MixturePriorBernoulliPosterior) -> jax.Array:
    return posterior.kl()

  def __call__(self, counts: jax.Array) -> dict[str, jax.Array]:
    """Training terms with one sample (rng stream 'latent').

    Returns:
      {'rec': <float>[B] -log p(x | z + sigma(x) eps), 'kl': <float>[B] the
       exact mixture-prior KL at q(c | x) = p(c | z), 'kl_per_dim': [B, 1]}.
    """
    h = self._hidden(counts)
    logits = self.code(h)
    k_z, k_eps = jax.random.split(self.make_rng('latent'))
    z = bernoulli_sample(k_z, logits)
    sigma = self.noise_scale * jnp.exp(self.log_noise(h))
    noisy = z + sigma * jax.random.normal(k_eps, z.shape, z.dtype)
    q_c = component_posterior(z, self.prior_logits, self.gamma_logits)
    kl = mixture_prior_kl(logits, q_c, self.prior_logits, self.gamma_logits)
    return {'rec': -self.log_likelihood(noisy, counts), 'kl': kl,
            'kl_per_dim': kl[:, None]}

  def hash_codes(self, counts: jax.Array) -> jax.Array:
    """<int8>[B, m] hash codes of a batch of documents."""
    return self.encode(counts).hash_code()

