"""NVDM: the neural variational document model of Miao et al. (2016).

A document is its bag of words x in N^V (counts over a vocabulary of V
words, N_d = sum_w x_w words). Generative model: z ~ N(0, I_D),
p(w | z) = softmax(R z + b)_w for every word of the document independently,

  log p(x | z) = sum_w x_w log softmax(R z + b)_w.

Inference network: an MLP of the counts (hidden layers of `hidden` units,
tanh as in the authors' released code) to the mean and log-variance of a
diagonal Gaussian q(z | x). The per-document loss is the negative ELBO,
-log p(x | z) + KL(q || p) with one reparameterised sample; the document
perplexity the paper reports is exp(mean_d NLL_d / N_d), with the ELBO in
place of the NLL (`document_perplexity`).

References:
  Miao, Yu and Blunsom (2016), Neural Variational Inference for Text
    Processing, section 3.1 and equation (11); code: github.com/ysmiao/nvdm.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.distributions.gaussian import DiagGaussianPosterior

ACTIVATIONS = {'tanh': jnp.tanh, 'relu': jax.nn.relu}


def bow_log_likelihood(counts: jax.Array, logits: jax.Array) -> jax.Array:
  """sum_w counts_w log softmax(logits)_w: <float>[..., V] -> [...]."""
  return jnp.sum(counts * jax.nn.log_softmax(logits, axis=-1), axis=-1)


class NVDM(nn.Module):
  """Bag-of-words VAE: MLP encoder, Gaussian latent, softmax(R z + b) decoder.

  Attributes:
    vocab_size: V.
    latent_dim: D (Miao et al.: 50 and 200).
    hidden: sizes of the encoder's hidden layers (Miao et al.: one of 500).
    activation: 'tanh' (the authors' code) or 'relu'.
  """
  vocab_size: int
  latent_dim: int = 50
  hidden: Sequence[int] = (500,)
  activation: str = 'tanh'

  def setup(self):
    if self.activation not in ACTIVATIONS:
      raise ValueError(f'NVDM activation={self.activation!r}: choose one of '
                       f'{sorted(ACTIVATIONS)}')
    self.layers = [nn.Dense(h, name=f'enc_{i}')
                   for i, h in enumerate(self.hidden)]
    self.mean = nn.Dense(self.latent_dim, name='mean')
    # log-variance starts at 0 (q = N(mean, I)), as in the authors' code
    self.log_var = nn.Dense(self.latent_dim, name='log_var',
                            kernel_init=nn.initializers.zeros)
    self.decoder = nn.Dense(self.vocab_size, name='decoder')  # R^T, b

  def encode(self, counts: jax.Array) -> DiagGaussianPosterior:
    """q(z | x) for counts <float>[B, V]: batch shape [B], event [D]."""
    h = counts
    for layer in self.layers:
      h = ACTIVATIONS[self.activation](layer(h))
    return DiagGaussianPosterior(loc=self.mean(h), log_var=self.log_var(h))

  def log_likelihood(self, z: jax.Array, counts: jax.Array) -> jax.Array:
    """log p(x | z) for z <float>[..., B, D]: [..., B]."""
    return bow_log_likelihood(counts, self.decoder(z))

  def kl(self, posterior: DiagGaussianPosterior) -> jax.Array:
    """KL(q(z | x) || N(0, I)) per document, <float>[B]."""
    return posterior.kl()

  def __call__(self, counts: jax.Array) -> dict[str, jax.Array]:
    """Per-document ELBO terms with one sample (rng stream 'latent').

    Returns:
      {'rec': <float>[B] -log p(x | z), 'kl': <float>[B],
       'kl_per_dim': <float>[B, D]}.
    """
    posterior = self.encode(counts)
    z = posterior.sample(self.make_rng('latent'), 1)[0]
    return {'rec': -self.log_likelihood(z, counts), 'kl': self.kl(posterior),
            'kl_per_dim': posterior.kl_per_dim()}


def document_perplexity(nll: np.ndarray, num_words: np.ndarray) -> float:
  """exp(mean_d nll_d / N_d) over documents with N_d > 0 (Miao et al. eq. 11).

  Args:
    nll: <float>[N] per-document NLL, or a bound on it (-ELBO, IW-NLL).
    num_words: <float>[N] words per document.
  """
  nll, num_words = np.asarray(nll, np.float64), np.asarray(num_words)
  real = num_words > 0
  return float(np.exp(np.mean(nll[real] / num_words[real])))


def top_words(decoder_kernel: np.ndarray, vocab: Sequence[str], *,
              num_dims: int, num_words: int = 10) -> list[list[str]]:
  """The words with the largest weight in each of the first latent rows.

  Args:
    decoder_kernel: <float>[D, V], R^T (row d: how latent d moves the
      logits of every word).
    vocab: the V words.
    num_dims: how many latent dimensions (rows) to list.
    num_words: words per row.

  Returns:
    `num_dims` lists of `num_words` words, largest weight first.
  """
  kernel = np.asarray(decoder_kernel)
  order = np.argsort(-kernel[:num_dims], axis=1, kind='stable')[:, :num_words]
  return [[vocab[j] for j in row] for row in order]
