"""Samples from the prior and reconstructions, written as text."""

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.analysis.decoding import decode
from vae_jax.models import SentenceVAE


def ids_to_text(vocab, ids) -> list[str]:
  return [' '.join(vocab.decode(row)) for row in np.asarray(ids)]


def banned_ids(vocab, ban_unk: bool) -> tuple[int, ...]:
  """The `decode(banned_ids=...)` of a --ban_unk setting."""
  return (vocab.unk_id,) if ban_unk else ()


def prior_samples(params, model, vocab, key, *, num: int, max_length: int,
                  greedy: bool, ban_unk: bool = False):
  """Sentences from p(z) p(x|z) (or from the LM when the model has no z)."""
  k_z, k_dec = jax.random.split(key)
  z = None
  if isinstance(model, SentenceVAE):
    z = model.apply({'params': params}, k_z, num,
                    method=SentenceVAE.prior_sample)
  ids = decode(params, model, z, k_dec, batch=num, max_length=max_length,
               bos_id=vocab.bos_id, eos_id=vocab.eos_id, pad_id=vocab.pad_id,
               greedy=greedy, banned_ids=banned_ids(vocab, ban_unk))
  return ids_to_text(vocab, ids)


def interpolate(a: jax.Array, b: jax.Array, steps: int, *,
                spherical: bool = False) -> jax.Array:
  """`steps` points from a to b (<float>[D] each), ends included: [steps, D].

  On a straight line, or with `spherical` along the great circle between
  two unit vectors (slerp), so that every point stays on the sphere a vMF
  decoder was trained on.
  """
  t = jnp.linspace(0.0, 1.0, steps)[:, None]
  if not spherical:
    return (1 - t) * a + t * b
  omega = jnp.arccos(jnp.clip(jnp.dot(a, b), -1.0, 1.0))
  if float(omega) < 1e-6:   # the same direction: nothing to interpolate
    return jnp.broadcast_to(a, (steps,) + a.shape)
  return (jnp.sin((1 - t) * omega) * a + jnp.sin(t * omega) * b) / jnp.sin(
      omega)


def reconstructions(params, model, vocab, batch, key, *, max_length: int,
                    greedy: bool, use_mode: bool, ban_unk: bool = False):
  """Decodes the posterior's mode (use_mode: the mean of a Gaussian, the
  mean direction of a vMF, the most probable discrete code) or z ~ q(z|x)
  for a batch of sentences."""
  post = model.apply({'params': params}, batch['ids'], batch['length'],
                     method=SentenceVAE.encode)
  k_z, k_dec = jax.random.split(key)
  z = post.mode() if use_mode else post.sample(k_z, 1)[0]
  ids = decode(params, model, z, k_dec, batch=z.shape[0],
               max_length=max_length, bos_id=vocab.bos_id,
               eos_id=vocab.eos_id, pad_id=vocab.pad_id, greedy=greedy,
               banned_ids=banned_ids(vocab, ban_unk))
  return ids_to_text(vocab, ids)


def write_samples(path: str, model, params, inputs, config, *, seed: int) -> None:
  """Writes prior samples (greedy and sampled) and, for a VAE,
  reconstructions of test sentences from the posterior's mode (the mean of
  a Gaussian) and from a sample.

  With `eval.ban_unk` (default) greedy decodings never emit <unk>: a PTB
  model's argmax path otherwise repeats it to the length limit. Sampled
  decodings keep it.
  """
  vocab = inputs.vocab
  ban = bool(config.eval.get('ban_unk', True))
  n = config.eval.num_generate
  max_len = config.eval.max_decode_length
  key = jax.random.key(seed + 7)
  lines = []
  is_vae = isinstance(model, SentenceVAE)
  for greedy in (True, False):
    title = 'sampled decoding' if not greedy else (
        'greedy decoding, <unk> excluded' if ban else 'greedy decoding')
    src = f'prior z ~ p(z) ({config.model.latent})' if is_vae else 'language model'
    lines.append(f'== {src}, {title} ==')
    lines += prior_samples(params, model, vocab, jax.random.fold_in(key, greedy),
                           num=n, max_length=max_len, greedy=greedy,
                           ban_unk=ban and greedy)
    lines.append('')
  if is_vae:
    batch = inputs.batchers['test'].epoch(0, 0, shuffle=False)[0]
    real = np.asarray(batch['length']) > 0
    rows = np.nonzero(real)[0][:n]
    small = {k: np.asarray(v)[rows] for k, v in batch.items()}
    originals = ids_to_text(vocab, small['ids'][:, 1:])
    mode_greedy = reconstructions(params, model, vocab, small, key,
                                  max_length=max_len, greedy=True,
                                  use_mode=True, ban_unk=ban)
    sample_greedy = reconstructions(params, model, vocab, small,
                                    jax.random.fold_in(key, 3),
                                    max_length=max_len, greedy=True,
                                    use_mode=False, ban_unk=ban)
    mode_sampled = reconstructions(params, model, vocab, small,
                                   jax.random.fold_in(key, 4),
                                   max_length=max_len, greedy=False,
                                   use_mode=True)
    lines.append('== reconstructions of test sentences' +
                 (' (greedy: <unk> excluded) ==' if ban else ' =='))
    for o, a, b, c in zip(originals, mode_greedy, sample_greedy, mode_sampled):
      lines += [f'x           : {o}', f'mode, greedy: {a}',
                f'z~q, greedy : {b}', f'mode, sample: {c}', '']
  with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
