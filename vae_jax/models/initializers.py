"""Parameter initializers used by the papers' code."""

import jax
import jax.numpy as jnp


def symmetric_uniform(scale: float):
  """U(-scale, scale), the `uniform_initializer` of He et al. (2019).

  Their code initialises every LSTM and linear parameter with scale 0.01 and
  the embeddings with scale 0.1. (`flax.linen.initializers.uniform(s)` is
  U(0, s), which is not the same thing.)
  """
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init
