"""Gumbel-softmax temperature annealing: from the config schedule to the head.

The step passes tau = schedule(step) to the model as a traced scalar: the
loss of a step equals the loss computed directly at that tau, and changing
tau never recompiles the step.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments.configs import default
from vae_jax import schedules
from vae_jax.models import SentenceVAE, build_model
from vae_jax.train.loop import temperature_schedule_from_config
from vae_jax.train.losses import loss_and_metrics
from vae_jax.train.state import create_train_state, make_optimizer
from vae_jax.train.steps import step_keys, summarize, train_step

MODEL = dict(kind='vae', embed_dim=8, dec_hidden=16, enc_hidden=12,
             cell='lstm', dec_dropout_in=0.0, dec_dropout_out=0.0,
             word_dropout=0.0, z_init_state=True, z_concat_input=True,
             init_scale=0.3, embed_init_scale=0.5, unroll=1,
             latent='gumbel', latent_dim=3,
             latent_kwargs={'num_classes': 4, 'init_scale': 0.5})
BATCH = {'ids': jnp.array([[1, 5, 6, 2, 0], [1, 7, 8, 9, 2], [1, 4, 2, 0, 0]]),
         'length': jnp.array([3, 4, 2])}
SCHEDULE = schedules.exponential_decay_temperature(start=2.0, end=0.3,
                                                   decay_rate=1e-3)


# Only shortens XLA's compile on a loaded 2-core machine; same numbers.
FAST = {'xla_backend_optimization_level': 0}


@pytest.fixture(scope='module')
def setup():
  model = build_model(MODEL, 12)
  tx = make_optimizer(name='sgd', learning_rate=0.1)
  state = jax.jit(functools.partial(create_train_state, model, tx, seed=0),
                  compiler_options=FAST)(BATCH)
  step = jax.jit(functools.partial(
      train_step, model=model, tx=tx, kl_schedule=schedules.constant(1.0),
      temperature_schedule=SCHEDULE), compiler_options=FAST)
  return model, state, step


def test_annealed_tau_reaches_the_head_without_recompiling(setup):
  model, state, step = setup

  @functools.partial(jax.jit, compiler_options=FAST)
  def direct_loss(params, rng, s, tau):
    out, inter = model.apply(
        {'params': params}, BATCH['ids'], BATCH['length'], deterministic=False,
        temperature=tau, rngs=step_keys(rng, s), mutable=['intermediates'])
    sown = inter['intermediates']['latent']['temperature'][0]
    return loss_and_metrics(out, BATCH['length'], kl_weight=1.0)[1], sown

  losses = {}
  for s in (0, 700, 5000):
    st = state.replace(step=jnp.asarray(s, jnp.int32))
    _, m = step(st, BATCH)
    tau = float(SCHEDULE(s))
    np.testing.assert_allclose(summarize(m)['temperature'], tau, rtol=1e-6)
    ref, sown = direct_loss(state.params, state.rng, s, tau)
    np.testing.assert_allclose(float(sown), tau, rtol=1e-6)
    np.testing.assert_allclose(m['loss_sum'], ref['loss_sum'], rtol=1e-5)
    losses[s] = float(m['loss_sum'])
  assert [round(float(SCHEDULE(s)), 4) for s in (0, 700, 5000)] == [
      2.0, 0.9932, 0.3]
  # The same step's key at another tau gives another loss: tau is used.
  other, _ = direct_loss(state.params, state.rng, 700, 0.3)
  assert abs(float(other['loss_sum']) - losses[700]) > 1e-3
  assert step._cache_size() == 1 and direct_loss._cache_size() == 1


def _config(latent, **sched):
  c = default.get_config()
  c.model.latent = latent
  c.objective.temperature_schedule.update(sched)
  return c


def test_temperature_schedule_from_config():
  assert temperature_schedule_from_config(_config('gumbel'), 100) is None
  sched = temperature_schedule_from_config(
      _config('gumbel_st', name='exponential_decay', start=1.0, end=0.5,
              decay_rate=1e-2), 100)
  np.testing.assert_allclose([float(sched(t)) for t in (0, 50, 10**4)],
                             [1.0, np.exp(-0.5), 0.5], rtol=1e-6)
  lin = temperature_schedule_from_config(
      _config('gumbel', name='linear', start=1.0, end=0.5, warmup_epochs=2.0),
      100)  # epochs -> steps like the KL schedule
  np.testing.assert_allclose(float(lin(100)), 0.75, rtol=1e-6)
  for latent in ('gaussian', 'bernoulli', 'categorical_st'):
    with pytest.raises(ValueError, match='has no temperature'):
      temperature_schedule_from_config(
          _config(latent, name='constant', value=0.5), 100)


def test_evaluation_scores_a_relaxed_head_as_its_discrete_model(setup):
  """deterministic=True: 'gumbel' gives the hard-code ELBO of 'gumbel_st'."""
  model, state, _ = setup
  hard = build_model(dict(MODEL, latent='gumbel_st'), 12)  # same parameters
  rngs = {'latent': jax.random.key(4)}
  run = functools.partial(jax.jit, compiler_options=FAST)(
      lambda p: [m.apply({'params': p}, BATCH['ids'], BATCH['length'],
                         deterministic=d, rngs=rngs)['rec']
                 for m, d in ((model, True), (hard, True), (model, False))])
  relaxed_eval, hard_eval, relaxed_train = run(state.params)
  np.testing.assert_array_equal(relaxed_eval, hard_eval)
  assert np.max(np.abs(relaxed_train - hard_eval)) > 1e-3


def test_aggressive_steps_anneal_tau_as_the_plain_step():
  """The aggressive step's joint update at step s sees tau = schedule(s),
  like `train_step`: same loss and logged tau (a schedule it ignored would
  give the loss at the head's fixed tau 1.0)."""
  from vae_jax.train import aggressive  # pylint: disable=g-import-not-at-top
  model = build_model(MODEL, 12)
  plain_tx = make_optimizer(name='sgd', learning_rate=0.1)
  tx = aggressive.make_split_optimizer(name='sgd', learning_rate=0.1,
                                       grad_clip=0.0)
  kw = dict(model=model, kl_schedule=schedules.constant(1.0))
  results = {}
  for name, schedule in (('annealed', SCHEDULE), ('fixed', None)):
    @functools.partial(jax.jit, compiler_options=FAST)
    def both(s, schedule=schedule):
      plain = create_train_state(model, plain_tx, BATCH, seed=0).replace(
          step=s)
      split = create_train_state(model, tx, BATCH, seed=0).replace(step=s)
      _, m_plain = train_step(plain, BATCH, tx=plain_tx,
                              temperature_schedule=schedule, **kw)
      _, m_split = aggressive.split_train_step(
          split, BATCH, jnp.int32(0), jnp.asarray(False), tx=tx,
          temperature_schedule=schedule, **kw)
      return m_plain, m_split
    results[name] = both(jnp.int32(1500))
  m_plain, m_split = results['annealed']
  np.testing.assert_allclose(m_split['loss_sum'], m_plain['loss_sum'],
                             rtol=1e-6)
  np.testing.assert_allclose(m_split['temperature'], SCHEDULE(1500),
                             rtol=1e-6)
  assert abs(float(m_split['loss_sum'])
             - float(results['fixed'][1]['loss_sum'])) > 1e-3
