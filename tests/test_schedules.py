"""Tests for vae_jax.schedules: exact values, jit == python, config errors."""

import math

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from vae_jax import schedules


def _frange_cycle_linear(n_iter, start=0.0, stop=1.0, n_cycle=4, ratio=0.5):
  """Fu et al.'s reference implementation (their repository), in numpy."""
  values = np.ones(n_iter) * stop
  period = n_iter / n_cycle
  step = (stop - start) / (period * ratio)
  for c in range(n_cycle):
    v, i = start, 0
    while v <= stop and int(i + c * period) < n_iter:
      values[int(i + c * period)] = v
      v += step
      i += 1
  return values


CASES = [
    (schedules.constant(0.3), [(0, 0.3), (17, 0.3), (10**6, 0.3)]),
    (schedules.linear_warmup(start=0.1, end=1.0, warmup_steps=10),
     [(0, 0.1), (5, 0.55), (9, 0.91), (10, 1.0), (25, 1.0)]),
    (schedules.linear_warmup(start=1.0, end=0.0, warmup_steps=4),
     [(0, 1.0), (1, 0.75), (4, 0.0), (8, 0.0)]),
    (schedules.linear_warmup(start=0.1, end=1.0, warmup_steps=0),
     [(0, 1.0), (3, 1.0)]),
    (schedules.sigmoid_anneal(midpoint=100, rate=0.1),
     [(100, 0.5), (110, 1 / (1 + math.exp(-1))), (0, 1 / (1 + math.exp(10)))]),
    (schedules.cyclical(total_steps=100, num_cycles=4, ratio=0.5),
     [(0, 0.0), (5, 0.4), (12, 0.96), (13, 1.0), (24, 1.0), (25, 0.0),
      (30, 0.4), (99, 1.0), (100, 1.0), (1000, 1.0)]),
    (schedules.cyclical(total_steps=40, num_cycles=2, ratio=0.25, start=0.2,
                        end=0.6),
     [(0, 0.2), (2, 0.36), (5, 0.6), (20, 0.2), (21, 0.28), (39, 0.6)]),
    (schedules.exponential_decay_temperature(start=1.0, end=0.5,
                                             decay_rate=1e-3),
     [(0, 1.0), (100, math.exp(-0.1)), (1000, 0.5)]),
    (schedules.cosine_restarts(total_steps=100, num_cycles=4),
     [(0, 1.0), (5, (1 + math.cos(0.2 * math.pi)) / 2),
      (12, (1 + math.cos(0.48 * math.pi)) / 2),
      (24, (1 + math.cos(0.96 * math.pi)) / 2), (25, 1.0), (75, 1.0), (99, (1 + math.cos(0.96 * math.pi)) / 2),
      (100, 1.0), (1000, 1.0)]),
]


@pytest.mark.parametrize('schedule,expected', CASES)
def test_values_python_and_jit(schedule, expected):
  steps = np.array([s for s, _ in expected])
  values = np.array([v for _, v in expected])
  python = np.array([schedule(int(s)) for s in steps])
  np.testing.assert_allclose(python, values, rtol=1e-6, atol=1e-7)
  # A traced scalar step inside jit gives the same numbers.
  jitted = jax.jit(schedule)
  np.testing.assert_allclose([jitted(jnp.int32(s)) for s in steps], python,
                             rtol=1e-6, atol=1e-7)
  # A vector of steps is evaluated elementwise.
  np.testing.assert_allclose(jitted(jnp.asarray(steps)), python, rtol=1e-6,
                             atol=1e-7)


def test_schedule_inside_a_jitted_step():
  kl_weight = schedules.linear_warmup(start=0.1, end=1.0, warmup_steps=10)

  @jax.jit
  def loss(step, kl):
    return kl_weight(step) * kl

  np.testing.assert_allclose(loss(jnp.int32(5), 2.0), 1.1, rtol=1e-6)


def test_changing_step_does_not_retrace():
  schedule = schedules.cyclical(total_steps=100, num_cycles=4, ratio=0.5)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def value(step):
    return schedule(step)

  for step in range(0, 200, 7):
    value(jnp.int32(step))


@pytest.mark.parametrize('n_iter,n_cycle,ratio', [(100, 4, 0.5), (90, 3, 0.8),
                                                  (64, 4, 0.25)])
def test_cyclical_matches_fu_et_al_reference(n_iter, n_cycle, ratio):
  schedule = schedules.cyclical(total_steps=n_iter, num_cycles=n_cycle,
                                ratio=ratio)
  np.testing.assert_allclose(jax.jit(schedule)(jnp.arange(n_iter)),
                             _frange_cycle_linear(n_iter, n_cycle=n_cycle,
                                                  ratio=ratio), atol=1e-5)


@pytest.mark.parametrize('config,step,expected', [
    ({'name': 'constant', 'value': 2.0}, 7, 2.0),
    ({'name': 'linear', 'start': 0.1, 'end': 1.0, 'warmup_steps': 10}, 5, 0.55),
    ({'name': 'sigmoid', 'midpoint': 10, 'rate': 1.0}, 10, 0.5),
    ({'name': 'cyclical', 'total_steps': 100, 'num_cycles': 4, 'ratio': 0.5},
     30, 0.4),
    ({'name': 'cosine_restarts', 'total_steps': 40, 'num_cycles': 2}, 15,
     (1 + math.cos(0.75 * math.pi)) / 2),
    ({'name': 'exponential_decay', 'start': 2.0, 'end': 0.5,
      'decay_rate': 0.5}, 2, 2.0 * math.exp(-1.0)),
])
def test_make_schedule(config, step, expected):
  np.testing.assert_allclose(schedules.make_schedule(config)(step), expected,
                             rtol=1e-6)
  np.testing.assert_allclose(
      schedules.make_schedule(ml_collections.ConfigDict(config))(step),
      expected, rtol=1e-6)


@pytest.mark.parametrize('config,message', [
    ({'name': 'cosine'}, "Unknown schedule name 'cosine'"),
    ({'start': 0.1}, 'Unknown schedule name None'),
    ({'name': 'linear', 'start': 0.1, 'end': 1.0},
     r"missing keys \['warmup_steps'\]"),
    ({'name': 'sigmoid', 'midpoint': 1, 'rate': 1, 'end': 1.0},
     r"unknown keys \['end'\]"),
])
def test_make_schedule_errors(config, message):
  with pytest.raises(ValueError, match=message):
    schedules.make_schedule(config)


def test_cosine_restarts_is_fu_et_al_learning_rate():
  """Their language-model code sets, before 1-based epoch `epoch`,
  lr = lr0 * 0.5 * (1 + cos(pi * ((epoch - 1) % cycle) / cycle)); ours is
  the factor at the epoch's first step over cycles of `cycle` epochs."""
  steps_per_epoch, cycle, epochs = 1317, 10, 40
  schedule = schedules.cosine_restarts(total_steps=epochs * steps_per_epoch,
                                       num_cycles=epochs // cycle)
  for epoch in range(1, epochs + 1):
    theirs = 0.5 * (1 + np.cos(float((epoch - 1) % cycle) / cycle * np.pi))
    np.testing.assert_allclose(schedule((epoch - 1) * steps_per_epoch),
                               theirs, rtol=1e-5, atol=1e-6)


def test_invalid_arguments():
  with pytest.raises(ValueError, match='ratio'):
    schedules.cyclical(total_steps=10, num_cycles=2, ratio=0.0)
  with pytest.raises(ValueError, match='warmup_steps'):
    schedules.linear_warmup(start=0.0, end=1.0, warmup_steps=-1)
  with pytest.raises(ValueError, match='num_cycles'):
    schedules.cosine_restarts(total_steps=10, num_cycles=0)
