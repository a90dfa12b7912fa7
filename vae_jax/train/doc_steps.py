"""Pure train and evaluation steps for bag-of-words document models.

A document model (`vae_jax.models.nvdm.NVDM`, `vae_jax.models.hashing`)
maps counts <float>[B, V] to per-document terms {'rec', 'kl', ...}; the
objective and the metric sums are those of the sentence models
(`vae_jax.train.losses.loss_and_metrics`) with the document's number of
words in place of the sentence length, so an empty (padding) row is masked
and `num_tokens` counts words.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vae_jax.diagnostics.iw import importance_weighted_nll
from vae_jax.train.losses import loss_and_metrics
from vae_jax.train.state import TrainState
from vae_jax.train.steps import step_keys


def num_words(counts: jax.Array) -> jax.Array:
  """Words per document, <float>[B] (0 for padding rows)."""
  return jnp.sum(counts, axis=-1)


def doc_train_step(state: TrainState, batch: dict[str, jax.Array], *, model,
                   tx: optax.GradientTransformation,
                   kl_weight: float = 1.0) -> tuple[TrainState, dict[str, Any]]:
  """One update on the batch mean over real documents of rec + beta KL.

  Args:
    state: the train state (randomness from fold_in(state.rng, step)).
    batch: {'counts': <float32>[B, V]}.
    model: a document model.
    tx: the optimizer of `state.opt_state`.
    kl_weight: beta.

  Returns:
    (new state, metric sums of `loss_and_metrics` plus `grad_norm`).
  """
  counts = batch['counts']
  rngs = step_keys(state.rng, state.step)

  def objective(params):
    out = model.apply({'params': params}, counts, rngs=rngs)
    _, sums = loss_and_metrics(out, num_words(counts), kl_weight=kl_weight)
    return sums['loss_sum'] / jnp.maximum(sums['num_sentences'], 1.0), sums

  grads, sums = jax.grad(objective, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  metrics = dict(sums, grad_norm=optax.tree.norm(grads))
  return state.replace(step=state.step + 1,
                       params=optax.apply_updates(state.params, updates),
                       opt_state=opt_state), metrics


def doc_eval_batch(params, counts: jax.Array, key: jax.Array, *, model,
                   elbo_samples: int, iw_samples: int) -> dict[str, jax.Array]:
  """Per-document bounds on -log p(x) for one batch, <float>[B] each.

  The model provides `encode(counts)` (a `Posterior` whose `prior_log_prob`
  is the model's prior), `log_likelihood(z, counts)` and `kl(posterior)`
  (the KL term of its ELBO).

  Returns:
    {'neg_elbo': rec averaged over `elbo_samples` posterior samples + KL,
     'rec', 'kl', and 'iw_nll' (K = `iw_samples`; 0 skips it)}. Padding rows
    hold finite junk; mask them with `num_words(counts) > 0`.
  """
  variables = {'params': params}
  posterior = model.apply(variables, counts, method=model.encode)

  def log_px_z(z):
    return model.apply(variables, z, counts, method=model.log_likelihood)

  k_elbo, k_iw = jax.random.split(key)
  rec = -jnp.mean(log_px_z(posterior.sample(k_elbo, elbo_samples)), axis=0)
  kl = model.apply(variables, posterior, method=model.kl)
  out = {'rec': rec, 'kl': kl, 'neg_elbo': rec + kl}
  if iw_samples:
    out['iw_nll'] = importance_weighted_nll(
        log_px_z, posterior, k_iw, num_samples=iw_samples,
        chunk_size=min(iw_samples, 100))
  return out


def evaluate_documents(params, model, batches, key: jax.Array, *,
                       elbo_samples: int = 20, iw_samples: int = 0,
                       eval_fn=None) -> dict[str, np.ndarray]:
  """`doc_eval_batch` over fixed-shape batches: per-document arrays [N].

  Args:
    batches: from `vae_jax.data.bow.bow_batches` (stored order).
    eval_fn: a jitted `doc_eval_batch` with model and sample counts bound
      (built here if None; pass one to reuse its compilation).

  Returns:
    {'neg_elbo', 'rec', 'kl', ['iw_nll'], 'num_words'}, in document order.
  """
  if eval_fn is None:
    eval_fn = jax.jit(lambda p, c, k: doc_eval_batch(
        p, c, k, model=model, elbo_samples=elbo_samples,
        iw_samples=iw_samples))
  parts = []
  for i, batch in enumerate(batches):
    real = batch['index'] >= 0
    out = eval_fn(params, batch['counts'], jax.random.fold_in(key, i))
    out = {k: np.asarray(v)[real] for k, v in out.items()}
    out['num_words'] = batch['counts'][real].sum(-1)
    out['index'] = batch['index'][real]
    parts.append(out)
  merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  order = np.argsort(merged.pop('index'))
  return {k: v[order] for k, v in merged.items()}
