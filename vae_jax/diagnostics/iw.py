"""Importance-weighted NLL: -log p(x) estimated with K posterior samples.

References:
  Burda, Grosse and Salakhutdinov (2016), Importance Weighted Autoencoders.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from vae_jax.distributions.base import Posterior, exact_density


def importance_weighted_nll(log_px_z_fn: Callable[[jax.Array], jax.Array],
                            posterior: Posterior, key: jax.Array, *,
                            num_samples: int,
                            chunk_size: int,
                            draw: Callable[[jax.Array], jax.Array] | None = None
                            ) -> jax.Array:
  """-L_K(x) = -log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ q(z | x).

  The K samples are drawn and scored `chunk_size` at a time (`lax.map` over
  chunks), so the decoder sees [chunk_size, B, D] and memory does not grow
  with K. Sample k is drawn with its own key `split(key, K)[k]`, so the
  result does not depend on `chunk_size` (up to float summation order).
  A last, partial chunk is padded and its padding samples get weight 0.

  Args:
    log_px_z_fn: z <float>[S, B, D] -> log p(x | z) <float>[S, B], the
      decoder's log-likelihood of this batch (sum over tokens).
    posterior: a `Posterior` with batch shape [B]; supplies the samples,
      log q(z | x) and the prior log p(z).
    key: PRNG key.
    num_samples: K (Burda et al. and He et al. report K = 5000 for text).
    chunk_size: samples per decoder call.
    draw: key -> one sample z <float>[B, D] of this batch; default
      `posterior.sample(key, 1)[0]`. Data-parallel evaluation passes this
      device's rows of a sample of the whole batch, so that the samples do
      not depend on how the batch is split (`vae_jax.train.parallel_eval`).

  Discrete latents: the proposal is the discrete q(z | x) and the prior the
  discrete p(z), with the exact probabilities of hard codes (Bernoulli and
  straight-through categorical samples are hard already). A relaxed
  Gumbel-softmax posterior is evaluated with hard codes too
  (`base.exact_density`): the bound is then on the discrete model whose
  relaxation was trained, not on a Concrete-density model.

  Returns:
    <float>[B]: the IW-NLL per example, in nats (>= -log p(x) in
    expectation; divide the sum by the token count for a per-word bound).
  """
  posterior = exact_density(posterior)
  # A chunk larger than K would only score padding samples.
  chunk_size = max(1, min(chunk_size, num_samples))
  num_chunks = -(-num_samples // chunk_size)
  padded = num_chunks * chunk_size
  keys = jax.random.split(key, num_samples)
  keys = keys[jnp.arange(padded) % num_samples]
  keys = keys.reshape((num_chunks, chunk_size) + keys.shape[1:])
  valid = (jnp.arange(padded) < num_samples).reshape(num_chunks, chunk_size)
  if draw is None:
    draw = lambda k: posterior.sample(k, 1)[0]

  def chunk_logsumexp(args):
    chunk_keys, chunk_valid = args
    z = jax.vmap(draw)(chunk_keys)  # [C, B, D]
    log_w = log_px_z_fn(z) + posterior.prior_log_prob(z) - posterior.log_prob(z)
    log_w = jnp.where(chunk_valid[:, None], log_w, -jnp.inf)
    return jax.nn.logsumexp(log_w, axis=0)  # [B]

  per_chunk = jax.lax.map(chunk_logsumexp, (keys, valid))  # [num_chunks, B]
  return -(jax.nn.logsumexp(per_chunk, axis=0) - jnp.log(float(num_samples)))
