"""Evaluation over a whole split: ELBO/NLL sums, posteriors, IW-NLL, MI, AU.

All functions take one model and its parameters and iterate the split's
fixed-shape batches in a stable order; each batch shape compiles once. Given
an `evaluator` (`vae_jax.train.parallel_eval.ShardedEvaluator`) the batches
are split over its devices, with the same numbers up to float rounding.
"""

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.data import BucketedBatcher
from vae_jax.data.batching import Batch
from vae_jax.diagnostics import (active_units, importance_weighted_nll,
                                 mutual_information_dataset,
                                 mutual_information_minibatch)
from vae_jax.distributions import VMFPosterior
from vae_jax.models import SentenceVAE
from vae_jax.train.steps import eval_step, merge_metrics, summarize


def is_vae(model) -> bool:
  return isinstance(model, SentenceVAE)


@functools.partial(jax.jit, static_argnames=('model',))
def _eval_batch(params, batch, rng, *, model):
  sums = eval_step(params, batch, rng, model=model)
  if is_vae(model):
    posterior = model.apply({'params': params}, batch['ids'], batch['length'],
                            method=SentenceVAE.encode)
    mask = batch['length'] > 0
    k = jax.random.fold_in(rng, 1)
    mi = mutual_information_minibatch(posterior, k, mask=mask)
    sums['mi_batch_sum'] = mi * sums['num_sentences']
  return sums


@functools.partial(jax.jit, static_argnames=('model',))
def _encode_batch(params, ids, length, *, model):
  return model.apply({'params': params}, ids, length, method=SentenceVAE.encode)


def evaluate_split(params, model, batcher: BucketedBatcher, rng: jax.Array, *,
                   diagnostics: bool = True,
                   evaluator=None) -> dict[str, float]:
  """-ELBO (or NLL), reconstruction, KL, PPL; for a VAE also MI and AU.

  `mi_batch` is the per-minibatch MI of He et al. (2019) (`calc_mi`, batch
  weighted); `mi` is the whole-set aggregate-posterior estimator (Li et al.
  2020 code, `calc_mi` v3); `au` counts active units (threshold 0.01).
  """
  acc = None
  placed = params if evaluator is None else evaluator.place(params)
  for i, batch in enumerate(batcher.epoch(0, 0, shuffle=False)):
    key = jax.random.fold_in(rng, i)
    sums = (_eval_batch(params, batch, key, model=model) if evaluator is None
            else evaluator.eval_batch(placed, batch, key))
    acc = merge_metrics(acc, sums)
  out = summarize(acc)
  if is_vae(model):
    out['mi_batch'] = float(acc['mi_batch_sum']) / max(out['num_sentences'], 1)
    if diagnostics:
      posterior = encode_split(placed, model, batcher, evaluator=evaluator)
      out.update(latent_diagnostics(
          posterior, jax.random.fold_in(rng, 2**31 - 1), evaluator=evaluator,
          learned_kappa=getattr(model.latent, 'learn_kappa', False)))
  return out


def encode_split(params, model, batcher: BucketedBatcher, *, evaluator=None):
  """Posteriors of every real sentence, batch axis in sentence-index order.

  Scalar leaves (a Gumbel-softmax posterior's temperature) have no batch
  axis: they are kept as they are. With an `evaluator`, `params` are those
  it placed (`evaluator.place`).
  """
  parts, order = [], []
  for batch in batcher.epoch(0, 0, shuffle=False):
    post = (_encode_batch(params, batch['ids'], batch['length'], model=model)
            if evaluator is None else
            evaluator.encode_batch(params, batch['ids'], batch['length']))
    real = np.asarray(batch['index']) >= 0
    parts.append(jax.tree.map(
        lambda x: np.asarray(x)[real] if np.ndim(x) else np.asarray(x), post))
    order.append(np.asarray(batch['index'])[real])
  order = np.argsort(np.concatenate(order))
  return jax.tree.map(
      lambda *xs: jnp.asarray(np.concatenate(xs)[order] if np.ndim(xs[0])
                              else xs[0]), *parts)


def latent_diagnostics(posterior, key: jax.Array, *, evaluator=None,
                       learned_kappa: bool = False) -> dict[str, float]:
  """MI and AU of a split's posteriors; with `learned_kappa` (the vMF head's
  option) also `concentration_summary`."""
  mi = (mutual_information_dataset(posterior, key) if evaluator is None
        else evaluator.mutual_information(posterior, key))
  au, variances = active_units(posterior.mean())
  out = {'mi': float(mi), 'au': int(au)}
  if learned_kappa:
    out.update(concentration_summary(posterior))
  return out


def concentration_summary(posterior) -> dict[str, float]:
  """`kappa_mean`, `kappa_p10`, `kappa_p90` over the sentences of a vMF
  posterior; {} for any other family."""
  if not isinstance(posterior, VMFPosterior):
    return {}
  kappa = np.asarray(posterior.kappa, np.float64).reshape(-1)
  p10, p90 = np.percentile(kappa, [10, 90])
  return {'kappa_mean': float(kappa.mean()), 'kappa_p10': float(p10),
          'kappa_p90': float(p90)}


@functools.partial(jax.jit,
                   static_argnames=('model', 'num_samples', 'chunk_size'))
def _iw_batch(params, ids, length, key, *, model, num_samples, chunk_size):
  variables = {'params': params}
  posterior = model.apply(variables, ids, length, method=SentenceVAE.encode)

  def log_px_z(z):
    return model.apply(variables, z, ids, length,
                       method=SentenceVAE.log_likelihood)

  return importance_weighted_nll(log_px_z, posterior, key,
                                 num_samples=num_samples,
                                 chunk_size=chunk_size)


# Bytes the decoder pass of the IW bound holds per sample, per position of
# the batch and unit of the decoder state, beyond a fixed part: fitted to
# XLA's temp size of `_iw_batch` for the PTB VAE (H 256, V 10,002), batch
# 50, chunks 10 to 50: 2.1 to 2.5 float32 [S, B, T, H] arrays (the LSTM's
# outputs and their time-major copy) plus ~50 MB (the vocabulary block).
_IW_BYTES_PER_STATE = 4 * 2.5


def iw_chunk_size(num_samples: int, max_chunk: int, batch: int, length: int,
                  hidden_size: int, *, memory_mb: float) -> int:
  """Samples per decoder pass for a batch shape, within a memory budget.

  At most `max_chunk`, and small enough that the chunk's decoder states,
  about `_IW_BYTES_PER_STATE * chunk * batch * length * hidden_size` bytes,
  fit in `memory_mb` (at least 1); then evened out over the chunks so that
  the last one is nearly full (few padding samples).

  Args:
    num_samples: K.
    max_chunk: the largest chunk wanted (`config.eval.iw_chunk`).
    batch, length: the batch shape (sentences, positions).
    hidden_size: the decoder's state size.
    memory_mb: the budget; <= 0 means no budget.

  Returns:
    The chunk size, 1 <= chunk <= min(max_chunk, K).
  """
  chunk = max(1, min(max_chunk, num_samples))
  if memory_mb > 0:
    per_sample = _IW_BYTES_PER_STATE * batch * length * hidden_size
    chunk = max(1, min(chunk, int(memory_mb * 2**20 // per_sample)))
  num_chunks = -(-num_samples // chunk)
  return -(-num_samples // num_chunks)


def iw_batcher(sequences, *, batch_size: int, num_buckets: int, pad_id: int = 0,
               bos_id: int = 1, rows_multiple_of: int = 1) -> BucketedBatcher:
  """Batches for the IW-NLL, with less padding than the evaluation batches.

  The IW bound runs the decoder K times per sentence, so its padded
  positions cost K times what they cost the ELBO; K = 500 over the PTB test
  set takes half an hour on two cores, against ~30 s more compilation for
  more shapes. Its batches therefore have their own size and bucket count
  (`eval.batch_size`, `eval.iw_buckets`), boundaries chosen to minimise the
  padded positions including the empty rows of each bucket's last batch
  (`boundaries.optimal_boundaries`). PTB test, 3,761 sentences: 64 rows in
  6 buckets pad 17.4 % of the positions, 20 rows in 16 buckets 6.5 %.

  Args:
    sequences: the split's token id sequences.
    batch_size: sentences per batch, rounded up to a multiple of
      `rows_multiple_of` (the device count of a sharded evaluation).
    num_buckets: at most this many length buckets (batch shapes).
    pad_id, bos_id: the vocabulary's ids.
    rows_multiple_of: see `batch_size`.
  """
  rows = -(-max(1, batch_size) // rows_multiple_of) * rows_multiple_of
  return BucketedBatcher(sequences, batch_size=rows,
                         num_buckets=max(1, num_buckets), pad_id=pad_id,
                         bos_id=bos_id)


def iw_nll_split(params, model, batches: list[Batch], key: jax.Array, *,
                 num_samples: int, chunk_size: int, memory_mb: float = 0.0,
                 progress=None, evaluator=None, completed=None,
                 on_batch=None) -> dict[str, Any]:
  """Importance-weighted NLL (Burda et al. 2016) over a split.

  `batches` are the split's batches in evaluation order, as
  `iw_batcher(...).epoch(0, 0, shuffle=False)` gives them: the caller holds
  the list, so what it fingerprints for a resumed evaluation is what is
  scored here.
  Each batch shape gets its own number of samples per decoder pass
  (`iw_chunk_size`: at most `chunk_size`, within `memory_mb` if > 0), so
  long buckets do not raise the memory; the result does not depend on it
  (up to float summation order).

  Returns per-sentence `iw_nll`, `iw_ppl` = exp(sum NLL / tokens) with eos
  counted and bos not, the token and sentence counts, the per-sentence
  values in sentence order, and the chunk used for each batch shape. With
  an `evaluator` each batch is split over its devices (the same values up to
  float rounding). `progress(batches_done, num_batches, fraction)` is called
  after each batch; `fraction` is the share of the split's tokens scored so
  far, the measure of the work done (the batches run from the shortest
  bucket to the longest, so their count is not).

  An interrupted evaluation goes on where it stopped (`vae_jax.train.
  iw_resume`): `completed` maps batch indices to the values of their real
  rows from before, which are used as they are, and `on_batch(i, values)`
  is called after each batch computed here. Each batch draws its samples
  from `fold_in(key, i)`, so the result is the uninterrupted one, exactly.
  """
  completed = completed or {}
  total, tokens, n = 0.0, 0.0, 0
  per_sentence = {}
  placed = params if evaluator is None else evaluator.place(params)
  iw_batch = (functools.partial(_iw_batch, model=model) if evaluator is None
              else evaluator.iw_batch)
  chunks = {}
  # The decoder passes scale with the tokens (buckets run short to long).
  total_tokens = sum(int(np.sum(b['length'])) for b in batches)
  for i, batch in enumerate(batches):
    b, l = batch['ids'].shape
    chunk = chunks.setdefault((b, l), iw_chunk_size(
        num_samples, chunk_size, b, l - 1, model.decoder.hidden_size,
        memory_mb=memory_mb))
    real = np.asarray(batch['length']) > 0
    if i in completed:  # float32 values kept exactly: the same sums
      values = np.asarray(completed[i], np.float32)
    else:
      nll = np.asarray(iw_batch(placed, batch['ids'], batch['length'],
                                jax.random.fold_in(key, i),
                                num_samples=num_samples, chunk_size=chunk))
      values = nll[real]
      if on_batch is not None:
        on_batch(i, [float(v) for v in values])
    total += float(values.sum())
    tokens += float(np.asarray(batch['length'])[real].sum())
    n += int(real.sum())
    for idx, v in zip(np.asarray(batch['index'])[real], values):
      per_sentence[int(idx)] = float(v)
    if progress is not None and i not in completed:
      progress(i + 1, len(batches), tokens / max(total_tokens, 1))
  return {'iw_nll': total / max(n, 1), 'iw_ppl': math.exp(total / max(tokens, 1)),
          'num_sentences': n, 'num_tokens': tokens,
          'chunks': {f'{b}x{l}': c for (b, l), c in sorted(chunks.items())},
          'per_sentence': [per_sentence[k] for k in sorted(per_sentence)]}
