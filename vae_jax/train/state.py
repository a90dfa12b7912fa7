"""Train state and optimizers."""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ('sgd', 'adam')


@flax.struct.dataclass
class TrainState:
  """Everything a step needs; a pytree, saved whole in checkpoints.

  Attributes:
    step: number of updates applied so far, <int32>[].
    params: model parameters.
    opt_state: optax state; the learning rate lives in it
      (`optax.inject_hyperparams`), so the host can halve it without
      recompiling the step.
    rng: base key; step t uses fold_in(rng, t), so randomness depends only on
      (seed, step) and a resumed run is bit-identical to an uninterrupted one.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array


def make_optimizer(*, name: str, learning_rate: float, grad_clip: float = 0.0,
                   momentum: float = 0.0, weight_decay: float = 0.0,
                   b1: float = 0.9, b2: float = 0.999) -> optax.GradientTransformation:
  """SGD (the papers': lr 1.0, clip 5) or Adam, with global-norm clipping.

  The learning rate is an injected hyperparameter: see `set_learning_rate`.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f'config train.optimizer={name!r}: choose one of '
                     f'{OPTIMIZERS}')

  def make(learning_rate):
    parts = []
    if grad_clip and grad_clip > 0:
      parts.append(optax.clip_by_global_norm(grad_clip))
    if weight_decay:
      parts.append(optax.add_decayed_weights(weight_decay))
    if name == 'sgd':
      parts.append(optax.sgd(learning_rate, momentum=momentum or None))
    else:
      parts.append(optax.adam(learning_rate, b1=b1, b2=b2))
    return optax.chain(*parts)

  return optax.inject_hyperparams(make)(learning_rate=learning_rate)


def get_learning_rate(state: TrainState) -> float:
  """The learning rate; with separate encoder and decoder optimizers (a dict
  of states, `vae_jax.train.aggressive`) the encoder's (both are set alike)."""
  opt_state = state.opt_state
  if isinstance(opt_state, dict):
    opt_state = opt_state['encoder']
  return float(opt_state.hyperparams['learning_rate'])


def _with_learning_rate(opt_state, value: float):
  hp = dict(opt_state.hyperparams)
  hp['learning_rate'] = jnp.asarray(value, dtype=hp['learning_rate'].dtype)
  return opt_state._replace(hyperparams=hp)


def set_learning_rate(state: TrainState, value: float) -> TrainState:
  """Returns `state` with the optimizer's learning rate set to `value` (every
  optimizer's, when the state holds a dict of them)."""
  if isinstance(state.opt_state, dict):
    return state.replace(opt_state={
        k: _with_learning_rate(v, value) for k, v in state.opt_state.items()})
  return state.replace(opt_state=_with_learning_rate(state.opt_state, value))


def create_train_state(model, tx: optax.GradientTransformation,
                       example_batch: dict, *, seed: int) -> TrainState:
  """Initialises parameters from `seed` on an example batch."""
  root = jax.random.key(seed)
  k_params, k_latent, k_dropout, k_train = jax.random.split(root, 4)
  variables = model.init(
      {'params': k_params, 'latent': k_latent, 'dropout': k_dropout},
      jnp.asarray(example_batch['ids']), jnp.asarray(example_batch['length']))
  params = variables['params']
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params), rng=k_train)


def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))
