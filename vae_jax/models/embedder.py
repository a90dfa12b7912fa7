"""Token embedding with word dropout (Bowman et al., 2016) and embedding dropout."""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.models.initializers import symmetric_uniform


def word_dropout(key: jax.Array, ids: jax.Array, *, rate: float, unk_id: int,
                 protected_ids: Sequence[int] = ()) -> jax.Array:
  """Replaces each token id by `unk_id` with probability `rate`.

  Bowman et al. (2016), section 3.2: the decoder's *inputs* are replaced by
  the unknown token, which weakens the decoder and forces information into
  z. Protected ids (bos, pad) are never replaced. rate = 1 is inputless
  decoding.

  Args:
    key: PRNG key.
    ids: <int32>[B, T].
    rate: replacement probability.
    unk_id: the replacement.
    protected_ids: ids kept as they are.

  Returns:
    <int32>[B, T].
  """
  if rate <= 0.0:
    return ids
  drop = jax.random.bernoulli(key, rate, ids.shape)
  for pid in protected_ids:
    drop = drop & (ids != pid)
  return jnp.where(drop, unk_id, ids)


class Embedder(nn.Module):
  """Embeds ids; optional word dropout on the ids and dropout on the vectors.

  Attributes:
    vocab_size: V.
    features: E.
    word_dropout_rate: Bowman word dropout (ids -> unk), training only.
    dropout_rate: dropout on the embedding vectors (the `dropout_in` of the
      He et al. / Li et al. decoders), training only.
    unk_id: id used by word dropout.
    protected_ids: ids word dropout never replaces.
  """
  vocab_size: int
  features: int
  word_dropout_rate: float = 0.0
  dropout_rate: float = 0.0
  unk_id: int = 3
  protected_ids: Sequence[int] = (0, 1)
  embedding_init: Callable[..., jax.Array] = symmetric_uniform(0.1)

  @nn.compact
  def __call__(self, ids: jax.Array, *, deterministic: bool) -> jax.Array:
    """<int32>[B, T] -> <float>[B, T, E]."""
    if not deterministic and self.word_dropout_rate > 0.0:
      ids = word_dropout(self.make_rng('dropout'), ids,
                         rate=self.word_dropout_rate, unk_id=self.unk_id,
                         protected_ids=self.protected_ids)
    table = nn.Embed(self.vocab_size, self.features,
                     embedding_init=self.embedding_init, name='embedding')
    x = table(ids)
    return nn.Dropout(self.dropout_rate)(x, deterministic=deterministic)
