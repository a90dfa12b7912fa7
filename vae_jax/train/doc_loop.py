"""Training loop for bag-of-words document models (NVDM, hashing).

`fit_document_model` trains on count matrices for a number of epochs (or a
time budget), evaluates a held-out set after every epoch, keeps the
parameters with the best held-out -ELBO, and writes `metrics.jsonl` records
that `vae_jax.plotting.plot_run` understands ('train_epoch', 'valid').
Documents are small fixed-shape rows, so one step shape compiles once.
"""

import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.data.bow import bow_batches
from vae_jax.models.nvdm import document_perplexity
from vae_jax.train.doc_steps import (doc_eval_batch, doc_train_step,
                                     evaluate_documents)
from vae_jax.train.logging_utils import MetricWriter, log
from vae_jax.train.state import TrainState, make_optimizer
from vae_jax.train.steps import merge_metrics_jit


def heldout_summary(per_doc: dict[str, np.ndarray]) -> dict[str, float]:
  """Per-document means and the document perplexities of each bound."""
  out = {k: float(np.mean(per_doc[k])) for k in ('neg_elbo', 'rec', 'kl')}
  out['ppl'] = document_perplexity(per_doc['neg_elbo'], per_doc['num_words'])
  out['ppl_corpus'] = float(np.exp(per_doc['neg_elbo'].sum()
                                   / per_doc['num_words'].sum()))
  if 'iw_nll' in per_doc:
    out['iw_nll'] = float(np.mean(per_doc['iw_nll']))
    out['iw_ppl'] = document_perplexity(per_doc['iw_nll'],
                                        per_doc['num_words'])
  out['num_docs'] = int(len(per_doc['neg_elbo']))
  return out


def fit_document_model(model, train_counts: np.ndarray,
                       heldout_counts: np.ndarray, *, workdir_metrics: str,
                       seed: int = 0, batch_size: int = 64,
                       learning_rate: float = 5e-4, max_epochs: int = 100,
                       max_seconds: float = float('inf'),
                       elbo_samples: int = 20, kl_weight: float = 1.0
                       ) -> tuple[Any, list[dict[str, float]]]:
  """Adam on the per-document -ELBO; returns (best params, held-out history).

  Args:
    model: a document model (see `vae_jax.train.doc_steps`).
    train_counts, heldout_counts: <float32>[N, V] (documents with at least
      one word).
    workdir_metrics: path of the metrics.jsonl to append to.
    max_seconds: stop after the first epoch that ends past this budget.
    elbo_samples: posterior samples of the held-out reconstruction term.
  """
  tx = make_optimizer(name='adam', learning_rate=learning_rate)
  state = jax.jit(functools.partial(_init, model, tx, seed=seed))(
      jnp.asarray(train_counts[:batch_size]))
  step = jax.jit(functools.partial(doc_train_step, model=model, tx=tx,
                                   kl_weight=kl_weight), donate_argnums=0)
  eval_fn = jax.jit(functools.partial(doc_eval_batch, model=model,
                                      elbo_samples=elbo_samples,
                                      iw_samples=0))
  heldout = bow_batches(heldout_counts, 256)
  writer = MetricWriter(workdir_metrics)
  history, best, best_params = [], np.inf, None
  t0 = time.time()
  for epoch in range(max_epochs):
    acc = None
    for batch in bow_batches(train_counts, batch_size, seed=seed, epoch=epoch):
      state, m = step(state, {'counts': batch['counts']})
      acc = merge_metrics_jit(acc, m) if acc is not None else m
    n = float(acc['num_sentences'])
    train = {'neg_elbo': float(acc['rec_sum'] + acc['kl_sum']) / n,
             'rec': float(acc['rec_sum']) / n, 'kl': float(acc['kl_sum']) / n,
             'loss': float(acc['loss_sum']) / n}
    writer.write('train_epoch', int(state.step), epoch + 1, **train,
                 seconds=time.time() - t0)
    valid = heldout_summary(evaluate_documents(
        state.params, model, heldout, jax.random.key(seed + 1),
        eval_fn=eval_fn))
    writer.write('valid', int(state.step), epoch + 1, **valid)
    history.append(valid)
    log(f'epoch {epoch + 1}: train -ELBO {train["neg_elbo"]:.2f}, held-out '
        f'-ELBO {valid["neg_elbo"]:.2f} (KL {valid["kl"]:.2f}), doc ppl '
        f'{valid["ppl"]:.1f}, {time.time() - t0:.0f} s')
    if valid['neg_elbo'] < best:
      best = valid['neg_elbo']
      # a copy: the step donates the state's buffers
      best_params = jax.tree.map(np.array, state.params)
    if time.time() - t0 > max_seconds:
      log(f'time budget of {max_seconds:.0f} s reached after epoch '
          f'{epoch + 1}')
      break
  return best_params, history


def _init(model, tx, counts, *, seed):
  """The train state for `seed`: parameters, optimizer state, step key."""
  root = jax.random.key(seed)
  k_params, k_latent, k_train = jax.random.split(root, 3)
  params = model.init({'params': k_params, 'latent': k_latent},
                      counts)['params']
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params), rng=k_train)
