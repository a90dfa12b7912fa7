"""The collapse remedies inside the training loop: aggressive training (the
mode ends on a validation-MI decrease; a crashed run resumes bit-identically)
encoder pretraining (stage 2 starts from stage 1's encoder and a fresh
decoder; a crash after the stage switch resumes bit-identically) and the
per-cycle learning-rate restart of cyclical annealing.

The runs are as small as the loop allows (4 steps an epoch, one bucket
shape): compiling dominates their time. They skip the figures and the
samples (tested with the loop in test_loop.py), a quarter of a run's time.
"""

import os

import jax
from jax.experimental.compilation_cache import compilation_cache
import ml_collections
import numpy as np
import pytest

from experiments.configs import synthetic_vae
from vae_jax import plotting
from vae_jax.analysis import generation
from vae_jax.models import build_model
from vae_jax.train import evaluation, loop, pretrain
from vae_jax.train.checkpoint import Checkpointer
from vae_jax.train.inputs import prepare_inputs
from vae_jax.train.logging_utils import MetricWriter, read_metrics
from vae_jax.train.restore import load_config, restore_checkpoint
from vae_jax.train.state import (create_train_state, get_learning_rate,
                                 make_optimizer)


_CACHE_OPTIONS = ('jax_compilation_cache_dir',
                  'jax_persistent_cache_min_compile_time_secs',
                  'jax_persistent_cache_min_entry_size_bytes')


@pytest.fixture(scope='module', autouse=True)
def cheap_runs(tmp_path_factory):
  """No figures or samples, and a persistent compilation cache while this
  module runs: a crashed and a resumed run compile what the uninterrupted
  run compiled, and reading the executables back cuts a run from 44 s to
  2.6 s of CPU (measured on the aggressive run)."""
  old = {k: getattr(jax.config, k) for k in _CACHE_OPTIONS}
  jax.config.update('jax_compilation_cache_dir',
                    str(tmp_path_factory.mktemp('xla_cache')))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  compilation_cache.reset_cache()
  try:
    with pytest.MonkeyPatch.context() as mp:
      mp.setattr(plotting, 'plot_run', lambda *a, **k: [])
      mp.setattr(generation, 'write_samples', lambda *a, **k: None)
      yield
  finally:
    for k, v in old.items():
      jax.config.update(k, v)
    compilation_cache.reset_cache()


# 64 sentences in batches of 16: 4 steps an epoch, all of one shape.
TINY = {'data.synthetic_train': 64, 'data.synthetic_valid': 32,
        'data.synthetic_test': 32, 'data.num_buckets': 1,
        'train.max_epochs': 3, 'train.batch_size': 16,
        'train.log_every_steps': 7, 'train.checkpoint_every_steps': 3,
        'train.eval_diagnostics': False, 'model.dec_dropout_in': 0.3,
        'eval.num_generate': 1, 'eval.max_decode_length': 4}


def tiny_config(**train):
  c = synthetic_vae.get_config('smoke')
  overrides = dict(TINY, **{f'train.{k}': v for k, v in train.items()})
  for path, value in overrides.items():
    section, key = path.split('.')
    setattr(c[section], key, value)
  return c


def aggressive_config():
  return tiny_config(aggressive=True, aggressive_max_inner_steps=6,
                     aggressive_check_every=2, optimizer='sgd',
                     learning_rate=1.0)


def latest(workdir, cfg):
  _, state, meta = restore_checkpoint(cfg, workdir, prepare_inputs(cfg, workdir))
  return state, meta


def assert_same_state(a, b):
  assert int(a.step) == int(b.step)
  for x, y in zip(jax.tree.leaves((a.params, a.opt_state)),
                  jax.tree.leaves((b.params, b.opt_state))):
    np.testing.assert_array_equal(x, y)


def run_until_crash(cfg, workdir, monkeypatch, *, step):
  """Trains `cfg` until it logs `step`, where a simulated crash stops it."""
  real_write = MetricWriter.write

  def crash(self, split, at, *a, **k):
    if at >= step:
      raise KeyboardInterrupt('simulated crash')
    return real_write(self, split, at, *a, **k)

  monkeypatch.setattr(MetricWriter, 'write', crash)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(cfg, workdir)
  monkeypatch.setattr(MetricWriter, 'write', real_write)


# -- aggressive training ----------------------------------------------------

# Validation MI by epoch (the real one of so small a model is noise): up,
# then down after epoch 1, so the mode ends there. Keyed by the evaluation
# key of the epoch, fold_in(key(seed + 1), epoch), which a resumed run
# derives the same way.
SCRIPTED_MI = {0: 0.5, 1: 0.3, 2: 0.4}


def install_scripted_mi(monkeypatch):
  seed = aggressive_config().seed
  by_key = {tuple(np.asarray(jax.random.key_data(jax.random.fold_in(
      jax.random.key(seed + 1), e))).tolist()): mi
            for e, mi in SCRIPTED_MI.items()}
  real = evaluation.evaluate_split

  def fake(params, model, batcher, rng, **kw):
    out = real(params, model, batcher, rng, **kw)
    key = tuple(np.asarray(jax.random.key_data(rng)).tolist())
    if key in by_key:
      out['mi_batch'] = by_key[key]
    return out

  monkeypatch.setattr(evaluation, 'evaluate_split', fake)


def finished_run(tmp_path_factory, name, cfg):
  """The workdir of an uninterrupted run of cfg (a module fixture's)."""
  workdir = str(tmp_path_factory.mktemp(name))
  loop.train_and_evaluate(cfg, workdir)
  return workdir


@pytest.fixture(scope='module')
def aggressive_run(tmp_path_factory):
  with pytest.MonkeyPatch.context() as mp:
    install_scripted_mi(mp)
    return finished_run(tmp_path_factory, 'aggressive', aggressive_config())


def test_aggressive_mode_ends_when_validation_mi_decreases(aggressive_run):
  records = read_metrics(os.path.join(aggressive_run, 'metrics.jsonl'))
  per_epoch = {r['epoch']: r['encoder_steps'] for r in records
               if r['split'] == 'train_epoch'}
  # epochs 1 and 2 (MI 0.5 > 0, then 0.3 < 0.5): inner steps before every
  # decoder update (at least 2: the first convergence check); epoch 3 none
  assert per_epoch[1] >= 2 and per_epoch[2] >= 2, per_epoch
  assert per_epoch[3] == 0, per_epoch
  _, meta = latest(aggressive_run, aggressive_config())
  assert meta['aggressive'] == {'active': False, 'prev_mi': 0.3}


def test_aggressive_run_resumes_bit_identically(aggressive_run, tmp_path,
                                                monkeypatch):
  install_scripted_mi(monkeypatch)
  workdir = str(tmp_path)
  run_until_crash(aggressive_config(), workdir, monkeypatch, step=7)
  # crashed in epoch 1 (steps 5..8) after the step-6 checkpoint, while the
  # mode was still on
  _, meta = latest(workdir, aggressive_config())
  assert meta['batch_in_epoch'] == 2
  assert meta['aggressive'] == {'active': True, 'prev_mi': 0.5}
  loop.train_and_evaluate(aggressive_config(), workdir)
  resumed, meta = latest(workdir, aggressive_config())
  full, full_meta = latest(aggressive_run, aggressive_config())
  assert_same_state(resumed, full)
  assert meta['aggressive'] == full_meta['aggressive']


# -- encoder pretraining ----------------------------------------------------


def pretrain_config(**train):
  return tiny_config(pretrain_encoder_epochs=1, max_epochs=1, **train)


@pytest.fixture(scope='module')
def pretrain_run(tmp_path_factory):
  return finished_run(tmp_path_factory, 'pretrain', pretrain_config())


def test_stage1_is_an_autoencoder_run(pretrain_run):
  stage1 = os.path.join(pretrain_run, pretrain.STAGE1_DIR)
  assert os.path.exists(os.path.join(stage1, 'final.json'))
  c = load_config(stage1)
  assert c.objective.kl_schedule.to_dict() == {'name': 'constant',
                                               'value': 0.0}
  assert c.objective.kl_mode == 'standard'
  assert c.train.model_selection == 'rec'
  assert c.train.max_epochs == 1 and c.train.pretrain_encoder_epochs == 0
  weights = [r['kl_weight'] for r in read_metrics(
      os.path.join(stage1, 'metrics.jsonl')) if r['split'] == 'train']
  assert weights and max(weights) == 0.0


def test_stage2_starts_from_pretrained_encoder_and_fresh_decoder(
    pretrain_run):
  cfg = pretrain_config()
  inputs = prepare_inputs(cfg, pretrain_run)
  model = build_model(cfg.model, len(inputs.vocab))
  tx = make_optimizer(name=cfg.train.optimizer,
                      learning_rate=cfg.train.learning_rate,
                      grad_clip=cfg.train.grad_clip)
  example = inputs.batchers['train'].epoch(cfg.seed, 0)[0]
  fresh = create_train_state(model, tx, example, seed=cfg.seed)
  # stage 1's best parameters, read independently of `pretrain`
  ckpt = Checkpointer(os.path.join(pretrain_run, pretrain.STAGE1_DIR,
                                   'checkpoints', 'best'))
  stage1 = ckpt.restore(fresh)[0].params
  ckpt.close()
  start = pretrain.with_pretrained_encoder(cfg, pretrain_run, fresh).params
  for name in ('encoder', 'latent'):
    for a, b, f in zip(jax.tree.leaves(start[name]),
                       jax.tree.leaves(stage1[name]),
                       jax.tree.leaves(fresh.params[name])):
      np.testing.assert_array_equal(a, b)
      assert np.abs(np.asarray(b) - np.asarray(f)).max() > 0  # it trained
  for a, b, f in zip(jax.tree.leaves(start['decoder']),
                     jax.tree.leaves(stage1['decoder']),
                     jax.tree.leaves(fresh.params['decoder'])):
    np.testing.assert_array_equal(a, f)
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 0  # it was reset


def test_pretrained_run_resumes_across_the_stage_switch(pretrain_run, tmp_path,
                                                        monkeypatch):
  """Crash in stage 2 before its first checkpoint, start again: the run
  takes stage 1's encoder again and ends where the uninterrupted one did."""
  workdir = str(tmp_path)
  # share stage 1 with the uninterrupted run (finished: it is not rerun)
  cfg = pretrain_config(pretrain_encoder_workdir=os.path.join(
      pretrain_run, pretrain.STAGE1_DIR))
  real_save = Checkpointer.save

  def crash_in_stage2(self, *a, **k):
    if self.directory.startswith(workdir):   # stage 2's first checkpoint
      raise KeyboardInterrupt('simulated crash')
    return real_save(self, *a, **k)

  monkeypatch.setattr(Checkpointer, 'save', crash_in_stage2)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(cfg, workdir)
  monkeypatch.setattr(Checkpointer, 'save', real_save)
  ckpt = Checkpointer(os.path.join(workdir, 'checkpoints', 'latest'))
  assert ckpt.latest_step() is None         # nothing of stage 2 was saved
  ckpt.close()
  loop.train_and_evaluate(cfg, workdir)
  assert_same_state(latest(workdir, cfg)[0],
                    latest(pretrain_run, pretrain_config())[0])


# -- the per-cycle learning-rate restart (Fu et al.'s code) -----------------


def cycle_config():
  """One KL cycle over the 3 epochs: the learning rate starts each epoch at
  1.0 * (1 + cos(pi * e / 3)) / 2, i.e. 1, 0.75, 0.25."""
  c = tiny_config(lr_cycle=True, optimizer='sgd', learning_rate=1.0)
  c.objective.kl_schedule = ml_collections.ConfigDict({
      'name': 'cyclical', 'total_epochs': 3.0, 'num_cycles': 1,
      'ratio': 0.5, 'start': 0.0, 'end': 1.0})
  return c


@pytest.fixture(scope='module')
def cycle_run(tmp_path_factory):
  return finished_run(tmp_path_factory, 'lr_cycle', cycle_config())


def test_learning_rate_restarts_with_the_kl_cycle(cycle_run):
  records = read_metrics(os.path.join(cycle_run, 'metrics.jsonl'))
  lr_by_epoch = {}
  for r in records:
    if r['split'] == 'train':   # epoch e + (batch + 1) / 4, e 0-based
      lr_by_epoch.setdefault(int(np.ceil(r['epoch'])) - 1, set()).add(r['lr'])
  np.testing.assert_allclose(
      [lr_by_epoch[e].pop() for e in range(3)], [1.0, 0.75, 0.25], rtol=1e-6)
  assert all(not v for v in lr_by_epoch.values())   # one value an epoch
  state, _ = latest(cycle_run, cycle_config())
  np.testing.assert_allclose(get_learning_rate(state), 0.25, rtol=1e-6)


def test_lr_cycle_run_resumes_bit_identically(cycle_run, tmp_path, monkeypatch):
  workdir = str(tmp_path)
  run_until_crash(cycle_config(), workdir, monkeypatch, step=7)
  state, meta = latest(workdir, cycle_config())
  assert meta['epoch'] == 1 and meta['batch_in_epoch'] == 2   # step 6
  loop.train_and_evaluate(cycle_config(), workdir)
  assert_same_state(latest(workdir, cycle_config())[0],
                    latest(cycle_run, cycle_config())[0])


def test_a_plateau_halving_scales_the_cycle(tmp_path, monkeypatch, capsys):
  """A halving after epoch 1 (forced) halves what the cycle factor scales:
  epochs 2 and 3 start at 0.5 * 0.75 and 0.5 * 0.25."""
  real_update = loop.Plateau.update

  def halve_after_first_epoch(self, state, epoch, value):
    s, actions = real_update(self, state, epoch, value)
    if epoch == 0:
      s = dict(s, num_decays=s['num_decays'] + 1)
      actions = dict(actions, decay=True)
    return s, actions

  monkeypatch.setattr(loop.Plateau, 'update', halve_after_first_epoch)
  loop.train_and_evaluate(cycle_config(), str(tmp_path))
  assert ('validation plateau: learning rate before the cycle factor -> 0.5 '
          '(decay 1/5)') in capsys.readouterr().out
  lrs = sorted({r['lr'] for r in read_metrics(str(tmp_path / 'metrics.jsonl'))
                if r['split'] == 'train'}, reverse=True)
  np.testing.assert_allclose(lrs, [1.0, 0.375, 0.125], rtol=1e-6)


def test_lr_cycle_needs_a_cyclical_kl_schedule():
  assert loop.lr_cycle_from_config(tiny_config(), 4) is None
  with pytest.raises(ValueError, match="kl_schedule name='cyclical'"):
    loop.lr_cycle_from_config(tiny_config(lr_cycle=True), 4)
