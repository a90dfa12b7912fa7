"""Aggressive inference-network training (He et al., 2019).

While the mode is on, every training iteration first updates only the
inference network (encoder and latent head) on fresh minibatches until the
training objective stops improving, then makes one update of the generator
(decoder) on the iteration's batch. The mode ends at the first epoch whose
validation mutual information is lower than the previous epoch's; from then
on both parts are updated together, as in ordinary training.

As in their code (github jxhe/vae-lagging-encoder, `text.py`):
  * the encoder and the decoder have separate optimizers, each with its own
    state (`SplitOptimizer`); the gradient is clipped by the global norm of
    *all* parameters (`clip_grad_norm_(vae.parameters(), 5)`) before either
    optimizer steps;
  * the inner loop starts on the iteration's own batch, then draws batches
    uniformly at random (with replacement) from the training set; every 15
    encoder steps it compares the mean objective per word of the last 15
    with that of the 15 before and stops when it got worse; it stops at the
    latest when the counter reaches 100 (`while sub_iter < 100`: at most 99
    encoder steps);
  * the mode ends when the validation MI (their per-minibatch `calc_mi`,
    our `mi_batch`) decreases from one epoch to the next; the previous MI
    starts at 0.

Both updates are jit-compiled once per batch shape: the inner-step index is
a traced argument (it only selects the step's random streams), so the inner
loop never recompiles. The host reads the objective only every 15 steps.

Reference:
  He, Spokoyny, Neubig and Berg-Kirkpatrick (2019), Lagging Inference
    Networks and Posterior Collapse in Variational Autoencoders.
"""

import dataclasses
import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vae_jax.train.state import TrainState, make_optimizer
from vae_jax.train.steps import (model_kwargs, objective_gradients,
                                 step_metrics)

GROUPS = ('encoder', 'decoder')
# Top-level parameter collections of the generator; everything else (the
# encoder RNN and the latent head) is the inference network.
_DECODER_KEYS = ('decoder',)


def split_params(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
  """{'encoder': inference-network subtree, 'decoder': generator subtree}.

  Works on anything shaped like the VAE's parameters (gradients, updates).
  """
  return {'encoder': {k: v for k, v in tree.items() if k not in _DECODER_KEYS},
          'decoder': {k: v for k, v in tree.items() if k in _DECODER_KEYS}}


def merge_params(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
  return {**parts['encoder'], **parts['decoder']}


@dataclasses.dataclass(frozen=True)
class SplitOptimizer:
  """One optimizer for the inference network, one for the generator.

  The state is {'encoder': state, 'decoder': state} of the same optax
  transformation (`part`, built without clipping). `apply` clips the whole
  gradient by its global norm, as He et al. do, and then steps only the
  requested groups: the parameters and the optimizer state of the others
  are selected unchanged (bit-identical; not "plus a zero update", which
  would turn -0.0 into +0.0).

  `init` and `update` follow the optax protocol (updating both groups), so
  the ordinary `steps.train_step` works with it too.
  """
  part: optax.GradientTransformation
  grad_clip: float = 0.0

  def init(self, params) -> dict[str, Any]:
    return {g: self.part.init(p) for g, p in split_params(params).items()}

  def clip(self, grads):
    if self.grad_clip and self.grad_clip > 0:
      grads, _ = optax.clip_by_global_norm(self.grad_clip).update(
          grads, optax.EmptyState())
    return grads

  def _group_updates(self, grads, opt_state, params, groups):
    g, p = split_params(self.clip(grads)), split_params(params)
    updates, new_state = {}, dict(opt_state)
    for name in groups:
      updates[name], new_state[name] = self.part.update(
          g[name], opt_state[name], p[name])
    return updates, new_state

  def update(self, grads, opt_state, params=None):
    updates, new_state = self._group_updates(grads, opt_state, params, GROUPS)
    return merge_params(updates), new_state

  def apply(self, grads, opt_state, params, *, update: dict[str, Any]):
    """(new params, new state); group g is updated where `update[g]` (a
    bool, or a traced boolean scalar: one compiled step serves every mode),
    else returned as it came, bit for bit."""
    updates, new_state = self._group_updates(grads, opt_state, params, GROUPS)
    parts = split_params(params)
    for name in GROUPS:
      new = optax.apply_updates(parts[name], updates[name])
      parts[name], new_state[name] = jax.tree.map(
          lambda n, o, u=update[name]: jnp.where(u, n, o),
          (new, new_state[name]), (parts[name], opt_state[name]))
    return merge_params(parts), new_state


def make_split_optimizer(*, name: str, learning_rate: float,
                         grad_clip: float = 0.0,
                         momentum: float = 0.0) -> SplitOptimizer:
  """`SplitOptimizer` of two `make_optimizer(...)` (SGD or Adam) states."""
  return SplitOptimizer(
      make_optimizer(name=name, learning_rate=learning_rate, grad_clip=0.0,
                     momentum=momentum), grad_clip=grad_clip)


def split_train_step(state: TrainState, batch: dict[str, jax.Array],
                     inner_step: jax.Array, decoder_only: jax.Array, *,
                     model, tx: SplitOptimizer,
                     kl_schedule: Callable[[jax.Array], jax.Array],
                     kl_mode: str = 'standard', kl_threshold: float = 0.0,
                     kl_groups: int = 0, temperature_schedule=None
                     ) -> tuple[TrainState, dict[str, Any]]:
  """One update of the mode chosen by traced arguments (one compilation).

  * `inner_step` >= 1: encoder-only, inner step `inner_step` of iteration
    `state.step`; random streams from (seed, step, inner_step); `state.step`
    unchanged; `decoder_only` ignored.
  * `inner_step` == 0 and `decoder_only`: the decoder update that ends an
    iteration in aggressive mode.
  * `inner_step` == 0 and not `decoder_only`: both groups (after the mode).
  An iteration (`inner_step` == 0) draws its streams from (seed, step) as
  `steps.train_step` does and advances `state.step`. The KL weight is the
  iteration's in every case, and so is the Gumbel-softmax temperature of a
  `temperature_schedule` (as in `steps.train_step`).

  Returns:
    (new state, metrics as `steps.train_step`'s).
  """
  inner = inner_step > 0
  base = jax.random.fold_in(state.rng, state.step)
  key = jax.random.wrap_key_data(
      jnp.where(inner, jax.random.key_data(jax.random.fold_in(base,
                                                              inner_step)),
                jax.random.key_data(base)),
      impl=jax.random.key_impl(base))
  k_drop, k_lat = jax.random.split(key)   # = step_keys(rng, step) if not inner
  kl_weight = kl_schedule(state.step)
  extra = model_kwargs(temperature_schedule, state.step)
  grads, sums = objective_gradients(
      state.params, batch, {'dropout': k_drop, 'latent': k_lat}, kl_weight,
      model=model, kl_mode=kl_mode, kl_threshold=kl_threshold,
      kl_groups=kl_groups, model_kwargs=extra)
  update = {'encoder': inner | ~decoder_only, 'decoder': ~inner}
  params, opt_state = tx.apply(grads, state.opt_state, state.params,
                               update=update)
  new_state = state.replace(step=state.step + (~inner).astype(state.step.dtype),
                            params=params, opt_state=opt_state)
  metrics = step_metrics(sums, grads, kl_weight, state.step)
  if 'temperature' in extra:
    metrics['temperature'] = jnp.asarray(extra['temperature'], jnp.float32)
  return new_state, metrics


def initial_mode(enabled: bool) -> dict[str, Any]:
  """The host-side mode, kept in the checkpoint's meta."""
  return {'active': bool(enabled), 'prev_mi': 0.0}


def next_mode(mode: dict[str, Any], valid_mi: float) -> dict[str, Any]:
  """After an epoch: aggressive training stops once validation MI decreases."""
  if not mode['active']:
    return dict(mode)
  return {'active': not valid_mi < mode['prev_mi'], 'prev_mi': float(valid_mi)}


class AggressiveStep:
  """The train step of a run with aggressive training: same interface as
  `parallel.ParallelStep` (one device), plus `begin_epoch`.

  Attributes:
    active: whether the aggressive mode is on (set by `begin_epoch`).
    step_fn: the jitted `split_train_step` behind all three updates
      (`step_fn._cache_size()` counts its compilations).
    encoder_step, decoder_step, joint_step: (state, batch, inner_step) ->
      (state, metrics), the three modes of `step_fn`.
  """

  def __init__(self, *, model, tx: SplitOptimizer,
               kl_schedule: Callable[[jax.Array], jax.Array],
               kl_mode: str = 'standard', kl_threshold: float = 0.0,
               kl_groups: int = 0, temperature_schedule=None,
               seed: int = 0, max_inner_steps: int = 100,
               check_every: int = 15):
    kw = dict(model=model, tx=tx, kl_schedule=kl_schedule, kl_mode=kl_mode,
              kl_threshold=kl_threshold, kl_groups=kl_groups,
              temperature_schedule=temperature_schedule)

    self.step_fn = jax.jit(functools.partial(split_train_step, **kw),
                           donate_argnums=0)

    def mode(decoder_only: bool):
      flag = jnp.asarray(decoder_only)
      return lambda state, batch, sub: self.step_fn(state, batch, sub, flag)

    self.encoder_step = mode(False)     # with inner_step >= 1
    self.decoder_step = mode(True)      # with inner_step == 0
    self.joint_step = mode(False)       # with inner_step == 0
    self.seed = seed
    self.max_inner_steps = max_inner_steps
    self.check_every = check_every
    self.active = False
    self._pool: Sequence[dict[str, Any]] = ()
    self._step = 0

  def put_state(self, state: TrainState) -> TrainState:
    self._step = int(state.step)
    return state

  @staticmethod
  def get_state(state: TrainState) -> TrainState:
    return state

  def begin_epoch(self, batches: Sequence[dict[str, Any]], active: bool):
    """The pool the inner loop draws fresh batches from, and the mode."""
    self._pool = batches
    self.active = bool(active)

  def inner_loop(self, state: TrainState, batch: dict[str, Any]
                 ) -> tuple[TrainState, int]:
    """Encoder-only updates until the objective stops improving.

    Returns:
      (state, number of encoder steps taken).
    """
    rng = np.random.default_rng([self.seed, self._step])
    prev, window = math.inf, []
    sub = 1
    while sub < self.max_inner_steps:
      state, m = self.encoder_step(state, batch, jnp.int32(sub))
      window.append((m['loss_sum'], m['num_tokens']))
      batch = self._pool[int(rng.integers(len(self._pool)))]
      if sub % self.check_every == 0:
        loss = (sum(float(l) for l, _ in window)
                / max(sum(float(t) for _, t in window), 1.0))
        if loss > prev:
          return state, sub
        prev, window = loss, []
      sub += 1
    return state, sub - 1

  def __call__(self, state: TrainState, batch: dict[str, Any]
               ) -> tuple[TrainState, dict[str, Any]]:
    n = 0
    if self.active:
      state, n = self.inner_loop(state, batch)
      state, metrics = self.decoder_step(state, batch, jnp.int32(0))
    else:
      state, metrics = self.joint_step(state, batch, jnp.int32(0))
    metrics['num_encoder_steps'] = jnp.float32(n)
    self._step += 1
    return state, metrics


def make_aggressive_step(config, model, tx: SplitOptimizer,
                         kl_schedule: Callable[[jax.Array], jax.Array],
                         temperature_schedule=None) -> AggressiveStep:
  """The `AggressiveStep` of a config (`config.train.aggressive*` keys)."""
  t = config.train
  if config.model.kind != 'vae':
    raise ValueError('config train.aggressive=True trains the inference '
                     f'network of a VAE: model.kind is {config.model.kind!r}')
  if t.parallel != 'none':
    raise ValueError(f'config train.aggressive=True runs on one device: set '
                     f'train.parallel=\'none\' (got {t.parallel!r})')
  return AggressiveStep(model=model, tx=tx, kl_schedule=kl_schedule,
                        kl_mode=config.objective.kl_mode,
                        kl_threshold=config.objective.kl_threshold,
                        kl_groups=config.objective.get('kl_groups', 0),
                        temperature_schedule=temperature_schedule,
                        seed=config.seed,
                        max_inner_steps=t.aggressive_max_inner_steps,
                        check_every=t.aggressive_check_every)
