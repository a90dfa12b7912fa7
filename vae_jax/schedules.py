"""Schedules: step -> value, for the KL weight, the Gumbel temperature and a
learning-rate factor.

Each factory returns a function `schedule(step) -> jax.Array` (a scalar, or
the shape of `step`) written in jnp, so it can be called with a Python int
or with a traced step inside `jax.jit`, and gives the same number either
way (like `optax.Schedule`).

References:
  Bowman, Vilnis, Vinyals, Dai, Jozefowicz and Bengio (2016), Generating
    Sentences from a Continuous Space (sigmoid KL annealing).
  He, Spokoyny, Neubig and Berg-Kirkpatrick (2019), Lagging Inference
    Networks and Posterior Collapse in Variational Autoencoders (linear
    warm-up of the KL weight from 0.1 to 1.0).
  Fu, Li, Liu, Gao, Celikyilmaz and Carin (2019), Cyclical Annealing
    Schedule: A Simple Approach to Mitigating KL Vanishing (and the
    per-cycle learning-rate restart of their code).
  Jang, Gu and Poole (2017), Categorical Reparameterization with
    Gumbel-Softmax (exponentially decayed temperature).
"""

import inspect
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Schedule = Callable[[ArrayLike], jax.Array]


def _as_float(step: ArrayLike) -> jax.Array:
  return jnp.asarray(step, dtype=jnp.float32)


def constant(value: float) -> Schedule:
  """The schedule that is `value` at every step."""
  def schedule(step: ArrayLike) -> jax.Array:
    return jnp.full(jnp.shape(step), value, dtype=jnp.float32)
  return schedule


def linear_warmup(*, start: float, end: float, warmup_steps: int) -> Schedule:
  """Linear from `start` at step 0 to `end` at `warmup_steps`, then `end`.

  value(t) = start + (end - start) * min(t / warmup_steps, 1)  (t >= 0).

  He et al. (2019) use start = 0.1, end = 1.0 over the first 10 epochs.
  Their loop adds the increment before the first update, so their weight at
  0-based update t is this schedule's value at t + 1; pass `step + 1` to
  reproduce it exactly.

  Args:
    start: value at step 0.
    end: value from `warmup_steps` on (may be below `start`).
    warmup_steps: length of the ramp; 0 means `end` from the first step.
  """
  if warmup_steps < 0:
    raise ValueError(f'linear_warmup: warmup_steps must be >= 0, got '
                     f'{warmup_steps}.')
  def schedule(step: ArrayLike) -> jax.Array:
    if warmup_steps == 0:
      frac = jnp.ones_like(_as_float(step))
    else:
      frac = jnp.clip(_as_float(step) / warmup_steps, 0.0, 1.0)
    return start + (end - start) * frac
  return schedule


def sigmoid_anneal(*, midpoint: float, rate: float) -> Schedule:
  """Bowman et al. (2016): value(t) = 1 / (1 + exp(-rate * (t - midpoint))).

  Args:
    midpoint: the step at which the value is 0.5.
    rate: steepness, per step.
  """
  def schedule(step: ArrayLike) -> jax.Array:
    return jax.nn.sigmoid(rate * (_as_float(step) - midpoint))
  return schedule


def cyclical(*, total_steps: int, num_cycles: int, ratio: float,
             start: float = 0.0, end: float = 1.0) -> Schedule:
  """Cyclical linear annealing of Fu et al. (2019) (`frange_cycle_linear`).

  The first `total_steps` are cut into `num_cycles` cycles of length
  P = total_steps / num_cycles. With tau = (t mod P) / P the position in the
  current cycle,

    value(t) = start + (end - start) * min(tau / ratio, 1),

  i.e. a linear ramp over the first `ratio` of each cycle, then `end` for the
  rest of it. From `total_steps` on the value stays at `end`.

  Args:
    total_steps: number of steps covered by the cycles.
    num_cycles: number of cycles M (Fu et al. use 4).
    ratio: fraction R of each cycle spent increasing (Fu et al. use 0.5).
    start: value at the start of every cycle.
    end: value once the ramp is over.
  """
  if total_steps <= 0 or num_cycles <= 0 or not 0.0 < ratio <= 1.0:
    raise ValueError(
        'cyclical: need total_steps > 0, num_cycles > 0 and 0 < ratio <= 1, '
        f'got total_steps={total_steps}, num_cycles={num_cycles}, '
        f'ratio={ratio}.')
  return _over_cycles(
      lambda tau: start + (end - start) * jnp.minimum(tau / ratio, 1.0),
      total_steps=total_steps, num_cycles=num_cycles, after=end)


def _over_cycles(value: Callable[[jax.Array], jax.Array], *, total_steps: int,
                 num_cycles: int, after: float) -> Schedule:
  """value(tau) at the position tau = (t mod P) / P in the current cycle of
  P = total_steps / num_cycles steps; `after` from `total_steps` on."""
  period = total_steps / num_cycles
  def schedule(step: ArrayLike) -> jax.Array:
    step = _as_float(step)
    tau = jnp.mod(step, period) / period
    return jnp.where(step >= total_steps, jnp.float32(after), value(tau))
  return schedule


def cosine_restarts(*, total_steps: int, num_cycles: int) -> Schedule:
  """A learning-rate factor that restarts with every cycle (Fu et al. 2019).

  With P = total_steps / num_cycles and tau = (t mod P) / P,

    value(t) = (1 + cos(pi * tau)) / 2,

  1 at the start of each cycle, falling towards 0 at its end; 1 from
  `total_steps` on. Fu et al.'s language-model code sets the learning rate
  to lr * value once an epoch, with the cycles of their KL weight.

  Args:
    total_steps: number of steps covered by the cycles.
    num_cycles: number of cycles.
  """
  if total_steps <= 0 or num_cycles <= 0:
    raise ValueError('cosine_restarts: need total_steps > 0 and num_cycles '
                     f'> 0, got total_steps={total_steps}, '
                     f'num_cycles={num_cycles}.')
  return _over_cycles(lambda tau: 0.5 * (1.0 + jnp.cos(jnp.pi * tau)),
                      total_steps=total_steps, num_cycles=num_cycles,
                      after=1.0)


def exponential_decay_temperature(*, start: float, end: float,
                                  decay_rate: float) -> Schedule:
  """Gumbel-softmax temperature: max(end, start * exp(-decay_rate * t)).

  Jang et al. (2017) anneal tau = max(0.5, exp(-r t)) with r in {1e-5, 1e-4}.

  Args:
    start: temperature at step 0.
    end: the floor.
    decay_rate: r, per step.
  """
  def schedule(step: ArrayLike) -> jax.Array:
    return jnp.maximum(end, start * jnp.exp(-decay_rate * _as_float(step)))
  return schedule


_FACTORIES: dict[str, Callable[..., Schedule]] = {
    'constant': constant,
    'linear': linear_warmup,
    'sigmoid': sigmoid_anneal,
    'cyclical': cyclical,
    'cosine_restarts': cosine_restarts,
    'exponential_decay': exponential_decay_temperature,
}


def make_schedule(config: Mapping[str, Any]) -> Schedule:
  """Builds a schedule from `{'name': ..., **kwargs}` (a dict or ConfigDict).

  Names: 'constant' (value), 'linear' (start, end, warmup_steps), 'sigmoid'
  (midpoint, rate), 'cyclical' (total_steps, num_cycles, ratio[, start,
  end]), 'cosine_restarts' (total_steps, num_cycles), 'exponential_decay'
  (start, end, decay_rate).

  Example:
    kl_weight = make_schedule({'name': 'linear', 'start': 0.1, 'end': 1.0,
                               'warmup_steps': 10_000})

  Raises:
    ValueError: for a missing name, an unknown name, a missing key or a key
      the schedule does not take.
  """
  if hasattr(config, 'to_dict'):  # ml_collections.ConfigDict
    config = config.to_dict()
  kwargs = dict(config)
  name = kwargs.pop('name', None)
  if name not in _FACTORIES:
    raise ValueError(f'Unknown schedule name {name!r} in {dict(config)}; '
                     f'expected one of {sorted(_FACTORIES)}.')
  params = inspect.signature(_FACTORIES[name]).parameters
  allowed = set(params)
  required = {p for p, v in params.items()
              if v.default is inspect.Parameter.empty}
  missing = sorted(required - set(kwargs))
  extra = sorted(set(kwargs) - allowed)
  if missing or extra:
    raise ValueError(
        f'Schedule {name!r}: missing keys {missing}, unknown keys {extra}; it '
        f'takes {sorted(required)} and optionally '
        f'{sorted(allowed - required)}.')
  return _FACTORIES[name](**kwargs)
