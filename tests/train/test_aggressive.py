"""Aggressive inference-network training (He et al. 2019): the split updates,
the inner loop, its compilations, the end of the mode, and resuming."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from vae_jax import schedules
from vae_jax.data import BucketedBatcher, generate_synthetic_corpus
from vae_jax.data import Vocabulary, encode_split
from vae_jax.models import build_model
from vae_jax.train import aggressive
from vae_jax.train.state import (create_train_state, get_learning_rate,
                                 make_optimizer, set_learning_rate)
from vae_jax.train.steps import train_step

@pytest.fixture(scope='module')
def env():
  """One model, one SGD split optimizer and one `AggressiveStep` for every
  test: compiling the step dominates, and the learning rate (an injected
  hyperparameter) and the inner-loop settings change without recompiling."""
  corpus = generate_synthetic_corpus(seed=0, num_train=160, num_valid=10,
                                     num_test=10)
  vocab = Vocabulary.build(corpus.splits['train'])
  seqs, _ = encode_split(corpus.splits['train'], vocab, max_length=None)
  batcher = BucketedBatcher(seqs, batch_size=16, num_buckets=2)
  config = default.smoke(default.get_config())   # embed 16, LSTMs 32, z 4
  model = build_model(config.model, len(vocab))
  # clip 1: the tiny model's gradient norms (about 2.5) are clipped
  tx = aggressive.make_split_optimizer(name='sgd', learning_rate=1.0,
                                       grad_clip=1.0)
  step = aggressive.AggressiveStep(model=model, tx=tx,
                                   kl_schedule=schedules.constant(1.0))
  return model, batcher, tx, step


def _host(tree):
  """A host copy (the steps donate their input state); keys as key data."""
  def copy(x):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      return np.array(jax.random.key_data(x))
    return np.array(x)
  return jax.tree.map(copy, tree)


def _device(state):
  return state.replace(step=jnp.asarray(state.step),
                       params=jax.tree.map(jnp.asarray, state.params),
                       opt_state=jax.tree.map(jnp.asarray, state.opt_state),
                       rng=jax.random.wrap_key_data(state.rng))


def _assert_tree_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.atleast_1d(x).view(np.uint8),
                                  np.atleast_1d(y).view(np.uint8))


def _setup(env, *, lr=1.0, max_inner_steps=100, check_every=15, seed=0,
           batches=None, active=True):
  """A fresh state (seed 0) and the shared step, configured."""
  model, batcher, tx, step = env
  state = create_train_state(model, tx, batcher.epoch(0, 0)[0], seed=0)
  state = set_learning_rate(state, lr)
  step.max_inner_steps, step.check_every, step.seed = (max_inner_steps,
                                                       check_every, seed)
  step.begin_epoch(batcher.epoch(0, 0) if batches is None else batches,
                   active)
  return step.put_state(state), step


def test_split_params_partition_the_tree(env):
  state, _ = _setup(env)
  parts = aggressive.split_params(state.params)
  assert sorted(parts['encoder']) == ['encoder', 'latent']
  assert sorted(parts['decoder']) == ['decoder']
  _assert_tree_equal(aggressive.merge_params(parts), state.params)


def test_encoder_steps_leave_the_decoder_bit_identical(env):
  state, step = _setup(env)
  batch = env[1].epoch(0, 0)[0]
  before = _host(state)
  for sub in range(1, 4):
    state, _ = step.encoder_step(state, batch, jnp.int32(sub))
  after = _host(state)
  dec0, dec1 = (aggressive.split_params(s.params)['decoder']
                for s in (before, after))
  _assert_tree_equal(dec1, dec0)
  _assert_tree_equal(after.opt_state['decoder'], before.opt_state['decoder'])
  assert int(after.step) == int(before.step) == 0   # inner steps: no iteration
  # ... while every encoder and latent-head array moved
  enc0, enc1 = (aggressive.split_params(s.params)['encoder']
                for s in (before, after))
  for x, y in zip(jax.tree.leaves(enc0), jax.tree.leaves(enc1)):
    assert np.abs(x - y).max() > 0
  assert int(after.opt_state['encoder'].count) == 3
  assert int(after.opt_state['decoder'].count) == 0
  # and the decoder step leaves the encoder alone
  state, _ = step.decoder_step(state, batch, jnp.int32(0))
  final = _host(state)
  _assert_tree_equal(aggressive.split_params(final.params)['encoder'], enc1)
  _assert_tree_equal(final.opt_state['encoder'], after.opt_state['encoder'])
  assert int(final.step) == 1
  assert int(final.opt_state['decoder'].count) == 1


def test_joint_step_equals_one_optimizer_over_all_parameters(env):
  """After aggressive mode both groups step: the same update as the ordinary
  step (SGD, clipping on the global norm of all gradients)."""
  model, batcher, _, _ = env
  state, step = _setup(env, lr=1.0)
  batch = batcher.epoch(0, 0)[0]
  plain_tx = make_optimizer(name='sgd', learning_rate=1.0, grad_clip=1.0)
  plain = create_train_state(model, plain_tx, batch, seed=0)
  plain, _ = jax.jit(functools.partial(
      train_step, model=model, tx=plain_tx,
      kl_schedule=schedules.constant(1.0)))(plain, batch)
  state, m = step.joint_step(state, batch, jnp.int32(0))
  assert float(m['grad_norm_sum']) > 1.5       # the clipping is exercised
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(plain.params)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_learning_rate_is_set_on_both_optimizers(env):
  state, _ = _setup(env, lr=0.25)
  assert get_learning_rate(state) == 0.25
  for group in aggressive.GROUPS:
    assert float(state.opt_state[group].hyperparams['learning_rate']) == 0.25


def test_inner_loop_compiles_once_per_batch_shape(env):
  batches = env[1].epoch(0, 0)
  shapes = {b['ids'].shape for b in batches}
  state, step = _setup(env, max_inner_steps=12, check_every=3)
  total = 0
  first = {}
  for b in batches:                   # one batch of each shape first ...
    first.setdefault(b['ids'].shape, b)
  for b in list(first.values()) + batches[:3]:
    state, m = step(state, b)
    total += int(m['num_encoder_steps'])
  assert total >= 3 * len(first) + 3   # ... many inner steps on both shapes,
  # one compilation per shape for the encoder, decoder and joint updates
  assert step.step_fn._cache_size() == len(shapes) == 2


def test_inner_loop_stops_when_the_objective_stops_improving(env):
  # lr 0: the encoder never improves, the windowed losses only follow the
  # random batches, so each loop stops at a check (a multiple of 5) or at
  # the cap (39 steps: `while sub < 40`), and never at the first check
  # (the first window is compared with +inf)
  state, step = _setup(env, lr=0.0, max_inner_steps=40, check_every=5)
  counts = []
  for b in env[1].epoch(0, 0)[:4]:
    state, n = step.inner_loop(state, b)
    counts.append(n)
  assert all(n % 5 == 0 or n == 39 for n in counts), counts
  assert all(10 <= n <= 39 for n in counts), counts


@pytest.mark.parametrize('window_means, expected', [
    ([5.0, 4.0, 4.5], 9),         # the 3rd window is worse: stop after it
    ([5.0, 4.0, 4.0, 4.5], 12),   # equal is not worse: stop at the 4th
    ([9.0, 8.0, 7.0], 19),        # always improving: the cap
])
def test_stopping_rule_on_scripted_losses(window_means, expected):
  """He et al.'s rule on the host: windows of `check_every` steps, stop when
  a window's loss per token exceeds the previous window's; at most
  max_inner_steps - 1 steps."""
  step = aggressive.AggressiveStep(model=None, tx=None,
                                   kl_schedule=schedules.constant(1.0),
                                   max_inner_steps=20, check_every=3)
  means = list(window_means) + [2.9 - 0.1 * i for i in range(10)]
  calls = []

  def fake_encoder_step(state, batch, sub):
    calls.append(int(sub))
    mean = means[(int(sub) - 1) // 3]
    return state, {'loss_sum': jnp.float32(mean * 10), 'num_tokens':
                   jnp.float32(10)}

  step.encoder_step = fake_encoder_step
  step.begin_epoch([{'ids': None}], active=True)
  _, n = step.inner_loop('state', {'ids': None})
  assert n == expected
  assert calls == list(range(1, expected + 1))


def test_a_few_aggressive_iterations_lower_the_loss_on_a_fixed_batch(env):
  batch = env[1].epoch(0, 0)[0]
  # the fresh batches of the inner loop: the same batch again
  state, step = _setup(env, lr=4.0, max_inner_steps=11, check_every=5,
                       batches=[batch])
  losses = []
  for _ in range(10):
    state, m = step(state, batch)
    losses.append(float(m['loss_sum'] / m['num_sentences']))
  assert np.mean(losses[-3:]) < 0.85 * losses[0], losses


def test_mode_ends_at_the_first_decrease_of_validation_mi():
  mode = aggressive.initial_mode(True)
  assert mode == {'active': True, 'prev_mi': 0.0}
  mode = aggressive.next_mode(mode, 0.4)
  assert mode == {'active': True, 'prev_mi': 0.4}
  mode = aggressive.next_mode(mode, 0.4)      # not lower: go on
  assert mode['active']
  mode = aggressive.next_mode(mode, 0.39)
  assert mode == {'active': False, 'prev_mi': 0.39}
  assert aggressive.next_mode(mode, 5.0) == mode   # never switches back on
  assert not aggressive.next_mode(aggressive.initial_mode(False), 1.0)['active']


def test_iterations_depend_only_on_seed_and_step(env):
  """What resuming needs: iterations 3..5 restarted from the state after
  iteration 2 equal those of an uninterrupted run, bit for bit."""
  batches = env[1].epoch(0, 0)
  kw = dict(max_inner_steps=8, check_every=3, seed=7)
  state, step = _setup(env, **kw)
  for i in range(6):
    state, _ = step(state, batches[i])
    if i == 2:
      saved = _host(state)
  full = _host(state)
  _, step = _setup(env, **kw)
  state = step.put_state(_device(saved))
  for i in range(3, 6):
    state, _ = step(state, batches[i])
  _assert_tree_equal(_host(state), full)


def test_aggressive_config_needs_a_vae_on_one_device():
  c = default.get_config()
  c.train.aggressive = True
  c.model.kind = 'lm'
  with pytest.raises(ValueError, match="model.kind is 'lm'"):
    aggressive.make_aggressive_step(c, None, None, schedules.constant(1.0))
  c.model.kind = 'vae'
  c.train.parallel = 'pmap'
  with pytest.raises(ValueError, match='one device'):
    aggressive.make_aggressive_step(c, None, None, schedules.constant(1.0))
  c.train.parallel = 'none'
  step = aggressive.make_aggressive_step(c, None, None,
                                         schedules.constant(1.0))
  assert (step.max_inner_steps, step.check_every) == (100, 15)


def test_config_of_a_run_from_before_these_options_still_builds():
  """experiments.evaluate rebuilds a run from its config.json: one written
  before the options existed lacks their keys and means a plain run."""
  import types
  import ml_collections
  from vae_jax.train import loop
  old = default.get_config().to_dict()
  for key in ('aggressive', 'aggressive_max_inner_steps',
              'aggressive_check_every', 'pretrain_encoder_epochs',
              'pretrain_encoder_workdir', 'model_selection'):
    del old['train'][key]
  corpus = generate_synthetic_corpus(seed=0, num_train=20, num_valid=2,
                                     num_test=2)
  inputs = types.SimpleNamespace(vocab=Vocabulary.build(corpus.splits['train']))
  _, tx = loop.build_everything(ml_collections.ConfigDict(old), inputs)
  assert not isinstance(tx, aggressive.SplitOptimizer)
  assert 'learning_rate' in tx.init({'w': jnp.zeros(2)}).hyperparams
