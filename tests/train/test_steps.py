"""The jitted train step: learns, is deterministic, does not retrace."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax import schedules
from vae_jax.data import BucketedBatcher, generate_synthetic_corpus
from vae_jax.data import Vocabulary, encode_split
from vae_jax.models import build_model
from vae_jax.train.state import (create_train_state, get_learning_rate,
                                 make_optimizer, set_learning_rate)
from vae_jax.train.steps import train_step

MODEL = dict(kind='vae', embed_dim=16, dec_hidden=32, enc_hidden=32,
             cell='lstm', dec_dropout_in=0.2, dec_dropout_out=0.2,
             word_dropout=0.1, z_init_state=True, z_concat_input=True,
             init_scale=0.1, embed_init_scale=0.1, unroll=1,
             latent='gaussian', latent_dim=4)


@pytest.fixture(scope='module')
def data():
  corpus = generate_synthetic_corpus(seed=0, num_train=200, num_valid=10,
                                     num_test=10)
  vocab = Vocabulary.build(corpus.splits['train'])
  seqs, _ = encode_split(corpus.splits['train'], vocab, max_length=None)
  batcher = BucketedBatcher(seqs, batch_size=16, num_buckets=2)
  return vocab, batcher


def _setup(vocab, batcher, kind='vae', seed=0, optimizer='adam', lr=3e-3):
  model = build_model(dict(MODEL, kind=kind), len(vocab))
  tx = make_optimizer(name=optimizer, learning_rate=lr, grad_clip=5.0)
  state = create_train_state(model, tx, batcher.epoch(0, 0)[0], seed=seed)
  step = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                   kl_schedule=schedules.constant(1.0)))
  return state, step


@pytest.mark.parametrize('kind', ['lm', 'vae'])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(data, kind):
  vocab, batcher = data
  state, step = _setup(vocab, batcher, kind, lr=3e-2)
  batch = batcher.epoch(0, 0)[0]
  losses = []
  for _ in range(20):
    state, m = step(state, batch)
    losses.append(float(m['loss_sum'] / m['num_sentences']))
  assert losses[-1] < 0.8 * losses[0], losses


def test_same_seed_gives_identical_parameters(data):
  vocab, batcher = data
  batches = batcher.epoch(0, 0)[:3]
  finals = []
  for _ in range(2):
    state, step = _setup(vocab, batcher)
    for b in batches:
      state, _ = step(state, b)
    finals.append(state.params)
  for a, b in zip(jax.tree.leaves(finals[0]), jax.tree.leaves(finals[1])):
    np.testing.assert_array_equal(a, b)
  other, step = _setup(vocab, batcher, seed=1)
  diff = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), finals[0],
                      other.params)
  assert max(jax.tree.leaves(diff)) > 0


def test_batches_of_one_shape_do_not_retrace(data):
  vocab, batcher = data
  state, step = _setup(vocab, batcher)
  batches = batcher.epoch(0, 0)
  shapes = {b['ids'].shape for b in batches}
  for b in batches:
    state, _ = step(state, b)
  # one compilation per bucket shape, however many batches ran
  assert step._cache_size() == len(shapes) <= 2
  assert len(batches) > len(shapes)


def test_learning_rate_change_does_not_recompile(data):
  vocab, batcher = data
  state, step = _setup(vocab, batcher, optimizer='sgd', lr=1.0)
  b = batcher.epoch(0, 0)[0]
  state, _ = step(state, b)
  state = set_learning_rate(state, 0.5)
  assert get_learning_rate(state) == 0.5
  state, _ = step(state, b)
  assert step._cache_size() == 1


def test_split_batch_gives_the_same_update_as_whole(data):
  """Sum-normalised gradients: the update does not depend on the split.

  Emulates two devices with vmap over an axis name: each half computes its
  own sums, psum makes the global mean, which must equal the one-device step.
  """
  vocab, batcher = data
  tx = make_optimizer(name='sgd', learning_rate=0.5, grad_clip=0.0)
  batch = batcher.epoch(0, 0)[0]
  # An LM without dropout: no per-row randomness, so the shards' results are
  # comparable with the whole batch's exactly.
  lm = build_model(dict(MODEL, kind='lm', dec_dropout_in=0.0,
                        dec_dropout_out=0.0, word_dropout=0.0), len(vocab))
  kw = dict(model=lm, tx=tx, kl_schedule=schedules.constant(1.0))
  s0 = create_train_state(lm, tx, batch, seed=0)
  whole, _ = jax.jit(functools.partial(train_step, **kw))(s0, batch)
  halves = jax.tree.map(lambda x: x.reshape((2, x.shape[0] // 2) + x.shape[1:]),
                        batch)
  mapped = jax.vmap(functools.partial(train_step, axis_name='d', **kw),
                    in_axes=(None, 0), out_axes=(0, 0), axis_name='d')
  split, _ = mapped(s0, halves)
  for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(split.params)):
    np.testing.assert_allclose(b[0], a, rtol=1e-5, atol=1e-6)


def test_precompile_compiles_every_shape_and_the_step_reuses_them(data):
  from vae_jax.train.parallel import make_parallel_train_step  # pylint: disable=g-import-not-at-top
  vocab, batcher = data
  model = build_model(dict(MODEL, kind='lm'), len(vocab))
  tx = make_optimizer(name='sgd', learning_rate=0.1)
  batches = batcher.epoch(0, 0)
  state = create_train_state(model, tx, batches[0], seed=0)
  p_step = make_parallel_train_step('none', functools.partial(
      train_step, model=model, tx=tx, kl_schedule=schedules.constant(1.0)))
  assert p_step.precompile(state, batches) == 2  # two bucket shapes
  compiles = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda name, *a, **k: compiles.append(name)
      if name == '/jax/core/compile/backend_compile_duration' else None)
  first_of_shape = {b['ids'].shape: b for b in batches}
  for b in first_of_shape.values():
    state, _ = p_step(state, b)
  jax.block_until_ready(state)
  assert len(first_of_shape) == 2 and not compiles


def _sgd_vae(vocab, batcher):
  # a latent head with larger weights: a KL well above float32 rounding
  model = build_model(dict(MODEL, latent_kwargs={'init_scale': 0.5}),
                      len(vocab))
  tx = make_optimizer(name='sgd', learning_rate=0.1, grad_clip=5.0)
  batch = batcher.epoch(0, 0)[0]
  return model, tx, create_train_state(model, tx, batch, seed=0), batch


def test_kl_groups_reach_the_objective_from_the_config(data):
  """objective.kl_groups reaches the Kingma floor through the loop's train
  step, plain and aggressive: a grouping that does not divide the latent
  size (4) is refused when the step is traced, before anything runs, and
  so is a grouping with another kl_mode."""
  # pylint: disable=g-import-not-at-top
  from experiments.configs import default
  from vae_jax.train import aggressive, loop
  model, _, _, batch = _sgd_vae(*data)
  cases = (('free_bits_kingma', 3, 'latent size 4'),
           ('free_bits_li', 2, "free_bits_kingma' only"))
  for split in (False, True):
    make = aggressive.make_split_optimizer if split else make_optimizer
    tx = make(name='sgd', learning_rate=0.1, grad_clip=5.0)
    state = create_train_state(model, tx, batch, seed=0)
    for mode, groups, match in cases:
      c = default.get_config()
      c.objective.kl_mode, c.objective.kl_groups = mode, groups
      c.train.aggressive = split
      ps = loop.make_train_step(c, model, tx, steps_per_epoch=10)
      if split:
        trace = lambda: ps.step_fn(state, batch, jnp.int32(0),  # pylint: disable=cell-var-from-loop
                                   jnp.asarray(False))
      else:
        trace = lambda: ps.step(state, ps.put_batch(batch))  # pylint: disable=cell-var-from-loop
      with pytest.raises(ValueError, match=match):
        jax.eval_shape(trace)


def test_kingma_floor_on_one_group_is_a_floor_on_the_total_kl(data):
  """One group: the floor applies to the batch-mean total KL K. Below K the
  update is the plain VAE's, above K it is the update without a KL term;
  the per-dimension floor at K / 2 differs from both (it clamps some of
  the dimensions, whose means are smaller)."""
  model, tx, state, batch = _sgd_vae(*data)

  def update(weight, **kw):
    step = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                     kl_schedule=schedules.constant(weight),
                                     **kw))
    new, metrics = step(state, batch)
    return new.params, metrics

  plain, m = update(1.0)
  k = float(m['kl_sum']) / float(m['num_sentences'])
  assert k > 0
  no_kl, _ = update(0.0)
  kingma = functools.partial(update, 1.0, kl_mode='free_bits_kingma')
  below, _ = kingma(kl_threshold=k / 2, kl_groups=1)
  above, m_above = kingma(kl_threshold=2 * k, kl_groups=1)
  per_dim, _ = kingma(kl_threshold=k / 2)

  def max_diff(a, b):
    return max(jax.tree.leaves(jax.tree.map(
        lambda x, y: float(jnp.max(jnp.abs(x - y))), a, b)))

  assert max_diff(below, plain) < 1e-6
  assert max_diff(above, no_kl) < 1e-6
  assert max_diff(per_dim, plain) > 1e-4 and max_diff(per_dim, no_kl) > 1e-4
  np.testing.assert_allclose(
      float(m_above['loss_sum']),
      float(m_above['rec_sum']) + float(m_above['num_sentences']) * 2 * k,
      rtol=1e-5)
