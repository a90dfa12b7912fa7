"""Pure, jit-compiled train and eval steps over one device's batch.

`train_step` is written for one device's shard of a batch; with
`axis_name` set it sums gradients and metric sums across that mapped axis,
so data parallelism (pmap, shard_map) wraps it instead of rewriting it.
"""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from vae_jax.train.losses import loss_and_metrics
from vae_jax.train.state import TrainState

_NO_BAD_STEP = jnp.iinfo(jnp.int32).max


def step_keys(rng: jax.Array, step: jax.Array, *,
              axis_name: str | None = None) -> dict[str, jax.Array]:
  """Named rng streams of a step: a function of (seed, step), and the shard.

  Over a mapped axis of more than one device each shard folds in its index:
  the key is replicated and a draw covers only the local rows, so without it
  every shard would reuse shard 0's dropout masks and latent noise for its
  rows. Shards thus draw independently, but not the numbers one device draws
  for the whole batch: runs over different device counts agree exactly only
  where the step draws nothing (one device, mapped or not, draws the same).
  """
  key = jax.random.fold_in(rng, step)
  if axis_name is not None and jax.lax.axis_size(axis_name) > 1:
    key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))
  k_drop, k_lat = jax.random.split(key)
  return {'dropout': k_drop, 'latent': k_lat}


def train_step(state: TrainState, batch: dict[str, jax.Array], *, model,
               tx: optax.GradientTransformation,
               kl_schedule: Callable[[jax.Array], jax.Array],
               kl_mode: str = 'standard', kl_threshold: float = 0.0,
               kl_groups: int = 0,
               temperature_schedule: (Callable[[jax.Array], jax.Array]
                                      | None) = None,
               axis_name: str | None = None) -> tuple[TrainState, dict[str, Any]]:
  """One SGD/Adam update on a batch.

  The differentiated quantity is the batch *sum* of the objective divided by
  the number of real sentences over all devices, so the update is the same
  however the batch is split.

  Args:
    state: the train state.
    batch: {'ids': <int32>[B, L], 'length': <int32>[B]}.
    model: an `RNNLanguageModel` or `SentenceVAE`.
    tx: the optimizer `state.opt_state` belongs to.
    kl_schedule: step -> KL weight beta (traced).
    kl_mode, kl_threshold, kl_groups: see `vae_jax.train.losses`.
    temperature_schedule: step -> Gumbel-softmax tau, passed to the model as
      a traced scalar (no recompilation as it changes); None: the head's own.
    axis_name: mapped device axis to reduce over, if any.

  Returns:
    (new state, metrics): metric sums, `grad_norm`, `kl_weight`, and
    `first_nonfinite_step` (the step if the loss was not finite, else int max).
  """
  rngs = step_keys(state.rng, state.step, axis_name=axis_name)
  kl_weight = kl_schedule(state.step)
  extra = model_kwargs(temperature_schedule, state.step)
  grads, sums = objective_gradients(
      state.params, batch, rngs, kl_weight, model=model, kl_mode=kl_mode,
      kl_threshold=kl_threshold, kl_groups=kl_groups, axis_name=axis_name,
      model_kwargs=extra)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  new_state = state.replace(step=state.step + 1, params=params,
                            opt_state=opt_state)
  metrics = step_metrics(sums, grads, kl_weight, state.step)
  if 'temperature' in extra:
    metrics['temperature'] = jnp.asarray(extra['temperature'], jnp.float32)
  return new_state, metrics


def model_kwargs(temperature_schedule, step: jax.Array) -> dict[str, Any]:
  """Keyword arguments of the training `model.apply` at `step`: the
  annealed Gumbel-softmax temperature when there is a schedule."""
  if temperature_schedule is None:
    return {}
  return {'temperature': temperature_schedule(step)}


def objective_gradients(params, batch: dict[str, jax.Array],
                        rngs: dict[str, jax.Array], kl_weight: jax.Array, *,
                        model, kl_mode: str = 'standard',
                        kl_threshold: float = 0.0, kl_groups: int = 0,
                        axis_name: str | None = None,
                        model_kwargs: dict[str, Any] | None = None):
  """Gradient of the objective per real sentence, and the metric sums.

  The batch *sum* of the objective is differentiated and divided by the
  number of real sentences over all devices (the sums are psummed over
  `axis_name` when it is set).

  `model_kwargs` go to `model.apply` (e.g. a traced temperature).

  Returns:
    (grads like `params`, metric sums of `loss_and_metrics`).
  """
  extra = model_kwargs or {}

  def objective(p):
    out = model.apply({'params': p}, batch['ids'], batch['length'],
                      deterministic=False, rngs=rngs, **extra)
    _, sums = loss_and_metrics(out, batch['length'], kl_weight=kl_weight,
                               kl_mode=kl_mode, kl_threshold=kl_threshold,
                               kl_groups=kl_groups, axis_name=axis_name)
    return sums['loss_sum'], sums

  grads, sums = jax.grad(objective, has_aux=True)(params)
  if axis_name is not None:
    grads = jax.lax.psum(grads, axis_name)
    sums = jax.lax.psum(sums, axis_name)
  n = sums['num_sentences']
  grads = jax.tree.map(lambda g: g / jnp.maximum(n, 1.0), grads)
  return grads, sums


def step_metrics(sums: dict[str, jax.Array], grads,
                 kl_weight: jax.Array, step: jax.Array) -> dict[str, Any]:
  """A train step's metrics: the sums, the gradient norm, the KL weight and
  `first_nonfinite_step` (`step` if the loss or the gradient was not finite,
  else int max).

  The parameter norm is not among them: it would cost one more pass over all
  parameters every step (~5 % of a PTB VAE step on a 2-core CPU); the loop
  computes it at log steps (`param_norm`). The gradient norm is the one the
  global-norm clipping computes (XLA merges the two)."""
  grad_norm = optax.tree.norm(grads)
  finite = jnp.isfinite(sums['loss_sum']) & jnp.isfinite(grad_norm)
  metrics = dict(sums)
  metrics.update(
      grad_norm_sum=grad_norm, num_steps=jnp.ones(()),
      kl_weight=jnp.asarray(kl_weight, jnp.float32),
      first_nonfinite_step=jnp.where(finite, _NO_BAD_STEP, step))
  return metrics


def eval_step(params, batch: dict[str, jax.Array], rng: jax.Array, *,
              model) -> dict[str, jax.Array]:
  """Metric sums of a batch at KL weight 1, one posterior sample (no dropout).

  For a VAE, -ELBO = rec + KL; for an LM, `rec` is the NLL.
  """
  out = model.apply({'params': params}, batch['ids'], batch['length'],
                    deterministic=True, rngs={'latent': rng})
  _, sums = loss_and_metrics(out, batch['length'], kl_weight=1.0)
  return sums


def merge_metrics(acc: dict[str, jax.Array] | None,
                  new: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """Aggregates step metrics: sums and counts add, the nonfinite step takes the
  minimum, anything else keeps the newest value."""
  if acc is None:
    return new
  out = {}
  for k, v in new.items():
    if k.endswith('_sum') or k.startswith('num_'):
      out[k] = acc[k] + v
    elif k == 'first_nonfinite_step':
      out[k] = jnp.minimum(acc[k], v)
    else:
      out[k] = v
  return out


merge_metrics_jit = jax.jit(merge_metrics)

# The global L2 norm of the parameters, for the log lines (see `step_metrics`).
param_norm = jax.jit(optax.tree.norm)


def summarize(sums: dict[str, Any]) -> dict[str, float]:
  """Normalises aggregated sums into per-sentence and per-token figures.

  `nll` is per sentence; `ppl` = exp(total NLL / tokens) with eos counted and
  bos not. For a VAE these use the ELBO (an upper bound on the NLL); the
  importance-weighted figures come from `vae_jax.diagnostics`.
  """
  s = {k: float(v) for k, v in sums.items()}
  n = max(s.get('num_sentences', 0.0), 1.0)
  t = max(s.get('num_tokens', 0.0), 1.0)
  out = {
      'rec': s['rec_sum'] / n,
      'kl': s['kl_sum'] / n,
      'neg_elbo': (s['rec_sum'] + s['kl_sum']) / n,
      'loss': s['loss_sum'] / n,
      'ppl': float(jnp.exp((s['rec_sum'] + s['kl_sum']) / t)),
      'num_sentences': s['num_sentences'],
      'num_tokens': s['num_tokens'],
  }
  if 'num_steps' in s:
    out['grad_norm'] = s['grad_norm_sum'] / max(s['num_steps'], 1.0)
  if 'num_encoder_steps' in s:  # aggressive training: inner steps / update
    out['encoder_steps'] = s['num_encoder_steps'] / max(s['num_steps'], 1.0)
  for k in ('kl_weight', 'param_norm', 'mi_sum', 'temperature'):
    if k in s and k != 'mi_sum':
      out[k] = s[k]
  return out
