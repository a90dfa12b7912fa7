"""Decoding from a recurrent decoder: greedy and ancestral sampling.

One jitted `lax.scan` over a fixed number of steps; finished rows keep
emitting pad. Works for the LM (z = None) and for any VAE latent.
"""

import functools

import jax
import jax.numpy as jnp


@functools.partial(jax.jit, static_argnames=('model', 'batch', 'max_length',
                                             'greedy', 'banned_ids'))
def decode(params, model, z: jax.Array | None, key: jax.Array, *,
           batch: int, max_length: int, bos_id: int, eos_id: int, pad_id: int,
           greedy: bool, temperature: float = 1.0,
           banned_ids: tuple[int, ...] = ()) -> jax.Array:
  """Generates token ids.

  Args:
    params: model parameters.
    model: `RNNLanguageModel` or `SentenceVAE` (uses `initial_state`, `step`).
    z: <float>[N, D] latent codes, or None for the LM.
    key: PRNG key for sampling.
    batch: N.
    max_length: number of generated tokens.
    bos_id, eos_id, pad_id: special ids.
    greedy: argmax decoding instead of sampling.
    temperature: softmax temperature when sampling.
    banned_ids: ids never generated (besides pad and bos), e.g. unk: greedy
      decoding of a PTB model otherwise often loops on `<unk>`.

  Returns:
    <int32>[N, max_length]: tokens, eos included, pad after it.
  """
  variables = {'params': params}
  state = model.apply(variables, z, batch, method=type(model).initial_state)
  token = jnp.full((batch,), bos_id, jnp.int32)
  done = jnp.zeros((batch,), bool)

  def body(carry, k):
    token, state, done = carry
    logits, state = model.apply(variables, token, state, z,
                                method=type(model).step)
    never = jnp.asarray((pad_id, bos_id) + tuple(banned_ids), jnp.int32)
    logits = logits.at[:, never].set(-jnp.inf)
    if greedy:
      nxt = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    else:
      nxt = jax.random.categorical(k, logits / temperature).astype(jnp.int32)
    nxt = jnp.where(done, pad_id, nxt)
    done = done | (nxt == eos_id)
    return (nxt, state, done), nxt

  keys = jax.random.split(key, max_length)
  _, tokens = jax.lax.scan(body, (token, state, done), keys)
  return tokens.T
