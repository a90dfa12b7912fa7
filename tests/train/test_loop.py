"""The training loop: resume after a crash, NaN stop, bad input, outputs."""

import json
import os
import re
import shutil
import signal
import time

import jax
import numpy as np
import pytest

from experiments.configs import synthetic_vae
from vae_jax.data import DataError
from vae_jax.data.download import sha256_file
from vae_jax import plotting
from vae_jax.train import loop, restore, workdir_lock
from vae_jax.train import interrupt
from vae_jax.train.checkpoint import SaveTimer
from vae_jax.train.interrupt import TrainingInterrupted
from vae_jax.train.inputs import prepare_inputs
from vae_jax.train.logging_utils import MetricWriter, read_metrics
from vae_jax.train.plateau import Plateau


def tiny_config(**train):
  c = synthetic_vae.get_config('smoke')
  c.data.synthetic_train = 96
  c.data.synthetic_valid = 32
  c.data.synthetic_test = 32
  c.train.max_epochs = 2
  c.train.batch_size = 16
  c.train.log_every_steps = 3
  c.train.checkpoint_every_steps = 4
  c.train.eval_diagnostics = False
  c.model.dec_dropout_in = 0.3  # exercise the dropout and latent streams
  c.eval.num_generate = 2
  c.eval.max_decode_length = 8
  for k, v in train.items():
    setattr(c.train, k, v)
  return c


def final_params(workdir, cfg=None):
  cfg = cfg or tiny_config()
  _, state, meta = restore.restore_checkpoint(
      cfg, workdir, prepare_inputs(cfg, workdir))
  return state, meta


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('full'))
  test = loop.train_and_evaluate(tiny_config(), workdir)
  return workdir, test


def test_run_writes_every_output(uninterrupted):
  workdir, test = uninterrupted
  for name in ('vocab.txt', 'config.json', 'metrics.jsonl', 'final.json',
               'samples.txt', 'plots/loss.png', 'plots/latent.png',
               'plots/steps.png'):
    assert os.path.exists(os.path.join(workdir, name)), name
  records = read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  valid = [r for r in records if r['split'] == 'valid']
  assert [r['epoch'] for r in valid] == [1, 2]
  # -ELBO = rec + KL and PPL from the same sums
  assert test['neg_elbo'] == pytest.approx(test['rec'] + test['kl'], rel=1e-6)
  assert test['ppl'] == pytest.approx(
      np.exp(test['neg_elbo'] * test['num_sentences'] / test['num_tokens']),
      rel=1e-5)


def _crash_at_step(monkeypatch, at):
  """A simulated crash (KeyboardInterrupt, no handler) when step `at` would
  be logged; returns the real MetricWriter.write."""
  real_write = MetricWriter.write

  def crash(self, split, step, *a, **k):
    if step >= at:
      raise KeyboardInterrupt('simulated crash')
    return real_write(self, split, step, *a, **k)

  monkeypatch.setattr(MetricWriter, 'write', crash)
  return real_write


def test_resume_after_crash_is_bit_identical(uninterrupted, tmp_path,
                                              monkeypatch, capsys):
  full_dir, _ = uninterrupted
  workdir = str(tmp_path)
  real_write = _crash_at_step(monkeypatch, 9)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(tiny_config(), workdir)
  monkeypatch.setattr(MetricWriter, 'write', real_write)
  # the crash happened after the step-8 checkpoint, mid-epoch 1
  _, meta = final_params(workdir)
  assert meta['batch_in_epoch'] > 0
  capsys.readouterr()
  loop.train_and_evaluate(tiny_config(), workdir)
  out = capsys.readouterr().out
  assert 'resuming from' in out and 'differs' not in out  # same config
  # the console counts epochs from 1, as metrics.jsonl and the tables do:
  # the resumed run is in the second of two
  assert re.search(r'at step 8 \(epoch 2, after batch \d+\)', out)
  assert set(re.findall(r'^step \d+/\d+ \([\d.]+%\) epoch (\d+) ', out,
                        re.M)) == {'2'}
  assert 'epoch 2 valid: ' in out and 'epoch 1 valid' not in out
  resumed, _ = final_params(workdir)
  full, _ = final_params(full_dir)
  assert int(resumed.step) == int(full.step)
  for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(full.params)):
    np.testing.assert_array_equal(a, b)
  # the metrics file holds each step once
  steps = [r['step'] for r in read_metrics(os.path.join(workdir, 'metrics.jsonl'))
           if r['split'] == 'train']
  assert steps == sorted(set(steps))


@pytest.mark.parametrize('minutes,saved', [(0.0, 7), (1e-7, 8)])
def test_checkpoint_by_wall_time_bounds_what_a_crash_loses(
    tmp_path, monkeypatch, minutes, saved):
  """No periodic step checkpoint before the crash at step 9; with the timer
  off only the epoch end (step 7) was saved, with a timer shorter than a
  step every step was (the last before the crash: step 8)."""
  _crash_at_step(monkeypatch, 9)
  cfg = tiny_config(checkpoint_every_steps=1000,
                    checkpoint_every_minutes=minutes)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(cfg, str(tmp_path))
  state, _ = final_params(str(tmp_path), cfg)
  assert int(state.step) == saved


def test_save_timer():
  now = [0.0]
  timer = SaveTimer(60.0, clock=lambda: now[0])
  now[0] = 59.9
  assert not timer.due(sync=True)
  now[0] = 60.0
  assert timer.due(sync=False)  # one process: every step may save
  timer.saved()
  now[0] = 119.0
  assert not timer.due(sync=True)
  assert not SaveTimer(0.0, clock=lambda: 1e9).due(sync=True)  # off


def _signal_at_step(monkeypatch, at, signum, times=1, gap=0.0):
  """Sends `signum` to this process `times` times, `gap` seconds apart, when
  step `at` is logged."""
  real_write = MetricWriter.write

  def write(self, split, step, *a, **k):
    out = real_write(self, split, step, *a, **k)
    if split == 'train' and step == at:
      for n in range(times):
        if n:
          time.sleep(gap)
        os.kill(os.getpid(), signum)
    return out
  monkeypatch.setattr(MetricWriter, 'write', write)


@pytest.mark.parametrize('signum,times', [(signal.SIGTERM, 2),
                                          (signal.SIGINT, 1)])
def test_signal_saves_a_checkpoint_at_that_step_and_resumes_bit_identically(
    uninterrupted, tmp_path, monkeypatch, capsys, signum, times):
  full_dir, _ = uninterrupted
  workdir = str(tmp_path)
  before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
  # step 9 is logged (every 3) but not a periodic checkpoint (every 4); a
  # SIGTERM twice at once (to a process group and passed on by its parent)
  # is one request
  _signal_at_step(monkeypatch, 9, signum, times=times)
  with pytest.raises(TrainingInterrupted) as e:
    loop.train_and_evaluate(tiny_config(), workdir)
  assert e.value.step == 9 and e.value.exit_code == 128 + signum
  assert {s: signal.getsignal(s) for s in before} == before  # restored
  state, meta = final_params(workdir)
  assert int(state.step) == 9 and meta['batch_in_epoch'] == 2  # 7 an epoch
  assert not os.path.exists(os.path.join(workdir, 'final.json'))
  monkeypatch.undo()
  capsys.readouterr()
  loop.train_and_evaluate(tiny_config(), workdir)
  assert 'at step 9 (epoch 2, after batch 2)' in capsys.readouterr().out
  resumed, _ = final_params(workdir)
  full, _ = final_params(full_dir)
  assert int(resumed.step) == int(full.step)
  for a, b in zip(jax.tree.leaves(resumed.params),
                  jax.tree.leaves(full.params)):
    np.testing.assert_array_equal(a, b)
  with open(os.path.join(workdir, 'final.json')) as f, \
       open(os.path.join(full_dir, 'final.json')) as g:
    assert json.load(f)['test'] == json.load(g)['test']


def test_signal_in_the_last_step_of_an_epoch_stops_after_its_evaluation(
    tmp_path, monkeypatch):
  _signal_at_step(monkeypatch, 7, signal.SIGTERM)  # 7 steps an epoch
  closed = []
  real_close = loop.Checkpointer.close
  monkeypatch.setattr(loop.Checkpointer, 'close', lambda self: (
      closed.append(os.path.basename(self.directory)), real_close(self)))
  with pytest.raises(TrainingInterrupted) as e:
    loop.train_and_evaluate(tiny_config(), str(tmp_path))
  assert e.value.step == 7
  assert sorted(closed) == ['best', 'latest']  # closed on the way out
  _, meta = final_params(str(tmp_path))
  assert meta['epoch'] == 1 and meta['batch_in_epoch'] == 0
  records = read_metrics(os.path.join(str(tmp_path), 'metrics.jsonl'))
  assert [r['epoch'] for r in records if r['split'] == 'valid'] == [1]


def test_second_ctrl_c_stops_at_once(tmp_path, monkeypatch):
  _signal_at_step(monkeypatch, 9, signal.SIGINT, times=2,
                  gap=interrupt.REPEAT_WINDOW_SEC + 0.1)
  with pytest.raises(KeyboardInterrupt):
    loop.train_and_evaluate(tiny_config(), str(tmp_path))
  state, _ = final_params(str(tmp_path))
  assert int(state.step) == 8  # the periodic checkpoint: none at step 9


def test_multiprocess_stop_request_leaves_the_signals_to_jax():
  """With several processes no handler is installed (JAX's preemption
  service holds SIGTERM); without a distributed client (here) the sync
  point is never reached."""
  before = {s: signal.getsignal(s) for s in interrupt.HANDLED}
  with interrupt.StopRequest(multiprocess=True) as request:
    assert {s: signal.getsignal(s) for s in interrupt.HANDLED} == before
    assert request.check(1) is None and request.signum is None
  assert not interrupt.preemption_sync_point(1)


def test_run_ended_at_max_epochs_goes_on_with_a_larger_one(uninterrupted,
                                                          tmp_path, capsys):
  """1 epoch, then resumed with max_epochs 2: the 2-epoch run, bit for bit."""
  workdir = str(tmp_path)
  loop.train_and_evaluate(tiny_config(max_epochs=1), workdir)
  one, meta = final_params(workdir)
  assert meta['done'] and meta['epoch'] == 1
  capsys.readouterr()
  loop.train_and_evaluate(tiny_config(), workdir)
  assert 'train.max_epochs: 1 -> 2' in capsys.readouterr().out
  resumed, meta = final_params(workdir)
  full, _ = final_params(uninterrupted[0])
  assert meta['epoch'] == 2 and int(resumed.step) == int(full.step) > int(one.step)
  for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(full.params)):
    np.testing.assert_array_equal(a, b)
  valid = [r['epoch'] for r in read_metrics(os.path.join(workdir, 'metrics.jsonl'))
           if r['split'] == 'valid']
  assert valid == [1, 2]
  # the limit each part ran under is on its train records and in final.json
  # (config.json keeps the one the run started with)
  limits = [r['max_epochs'] for r in read_metrics(
      os.path.join(workdir, 'metrics.jsonl')) if r['split'] == 'train']
  assert limits[0] == 1 and limits[-1] == 2
  with open(os.path.join(workdir, 'final.json')) as f:
    assert json.load(f)['max_epochs'] == 2
  with open(os.path.join(workdir, 'config.json')) as f:
    assert json.load(f)['train']['max_epochs'] == 1


def _tree_digest(directory):
  return {os.path.relpath(os.path.join(root, name), directory):
          sha256_file(os.path.join(root, name))
          for root, _, files in os.walk(directory) for name in files}


def test_second_run_of_a_busy_workdir_fails_and_changes_nothing(
    uninterrupted, tmp_path):
  """While a run holds the workdir, another (a longer resume) is refused."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(uninterrupted[0], workdir)
  with workdir_lock.exclusive_workdir(workdir):
    before = _tree_digest(workdir)  # the lock file included
    with pytest.raises(workdir_lock.WorkdirBusyError,
                       match=f'pid {os.getpid()} on '):
      loop.train_and_evaluate(tiny_config(max_epochs=3), workdir)
    assert _tree_digest(workdir) == before  # no checkpoint, metric or plot
  # released when its holder ends, by any exit: the next one gets it
  with pytest.raises(KeyError):
    with workdir_lock.exclusive_workdir(workdir):
      raise KeyError('crash')
  with workdir_lock.exclusive_workdir(workdir):
    pass


def test_run_whose_halvings_are_spent_stays_stopped_under_a_larger_cap(
    tmp_path, monkeypatch):
  """Only the epoch/step budget is recomputed on resume, not the plateau."""
  workdir = str(tmp_path)
  real_update = Plateau.update

  def spent(self, state, epoch, value):  # the last halving at epoch 1
    new, actions = real_update(self, state, epoch, value)
    return dict(new, num_decays=self.max_decays), dict(actions, stop=True)

  monkeypatch.setattr(Plateau, 'update', spent)
  loop.train_and_evaluate(tiny_config(max_epochs=2, max_decays=1), workdir)
  monkeypatch.setattr(Plateau, 'update', real_update)
  stopped, meta = final_params(workdir)
  assert meta['epoch'] == 1 and meta['plateau']['num_decays'] == 1
  loop.train_and_evaluate(tiny_config(max_epochs=3, max_decays=1), workdir)
  again, meta = final_params(workdir)
  assert meta['epoch'] == 1 and int(again.step) == int(stopped.step)
  valid = [r['epoch'] for r in read_metrics(os.path.join(workdir, 'metrics.jsonl'))
           if r['split'] == 'valid']
  assert valid == [1]


def test_test_figures_are_placed_at_the_best_epoch(tmp_path, monkeypatch):
  """Epoch 2 made worse than epoch 1: the test evaluates (and the loss
  figure plots) epoch 1's checkpoint, not the end of the run."""
  workdir = str(tmp_path)
  real_update = Plateau.update

  def first_is_best(self, state, epoch, value):
    return real_update(self, state, epoch, value + 1e6 * epoch)

  monkeypatch.setattr(Plateau, 'update', first_is_best)
  loop.train_and_evaluate(tiny_config(), workdir)
  with open(os.path.join(workdir, 'final.json')) as f:
    final = json.load(f)
  assert (final['epochs'], final['best_epoch']) == (2, 1)
  records = read_metrics(os.path.join(workdir, 'metrics.jsonl'))
  [test] = [r for r in records if r['split'] == 'test']
  assert (test['epoch'], test['best_epoch']) == (2, 1)
  assert plotting.test_points(records, 'neg_elbo') == ([1], [test['neg_elbo']])
  # what evaluate, generate and latent_map load, and report, is that epoch
  best = restore.load_trained(workdir, which='best', splits=('valid',))
  latest = restore.load_trained(workdir, which='latest', splits=('valid',))
  assert (best.epoch, latest.epoch) == (1, 2)
  assert 0 < best.step < latest.step == test['step']


def test_resuming_with_another_config_says_what_changed(uninterrupted,
                                                       tmp_path, capsys):
  workdir = str(tmp_path / 'run')
  shutil.copytree(uninterrupted[0], workdir)
  capsys.readouterr()
  loop.train_and_evaluate(tiny_config(log_every_steps=5), workdir)
  out = capsys.readouterr().out
  assert ('warning: resuming with a config that differs from the one the run '
          'started with') in out
  assert 'train.log_every_steps: 3 -> 5' in out


def test_config_differences_lists_changed_added_and_removed_keys():
  cfg = tiny_config()
  saved = json.loads(cfg.to_json())
  assert restore.config_differences(saved, cfg) == []
  saved['train']['learning_rate'] = 0.5
  saved['data']['old_key'] = 1
  del saved['model']['latent_dim']
  assert restore.config_differences(saved, cfg) == [
      'data.old_key: 1 -> \'(absent)\'',
      f"model.latent_dim: '(absent)' -> {cfg.model.latent_dim!r}",
      f'train.learning_rate: 0.5 -> {cfg.train.learning_rate!r}']


def test_nan_stops_the_run_naming_the_step(tmp_path):
  cfg = tiny_config(learning_rate=1e30, optimizer='sgd', grad_clip=0.0,
                    checkpoint_every_steps=1, log_every_steps=50)
  workdir = str(tmp_path)
  with pytest.raises(loop.NonFiniteLossError, match=r'at step \d+') as err:
    loop.train_and_evaluate(cfg, workdir)
  bad = int(re.search(r'at step (\d+)', str(err.value)).group(1))
  assert bad >= 1     # step 0 is finite: the first update blows up
  # found at the first checkpoint's check, in the first epoch (counted from 1)
  assert re.search(r'\(epoch 1, found after batch \d+\)', str(err.value))
  state, meta = final_params(workdir, cfg)
  # the last good checkpoint is kept: saved before the bad step, all finite
  assert int(state.step) <= bad
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))


def test_vocabulary_mismatch_with_checkpoint_is_an_error(uninterrupted):
  workdir, _ = uninterrupted
  cfg = tiny_config()
  cfg.data.synthetic_train = 40       # another corpus -> another vocabulary
  with pytest.raises(DataError, match='does not match'):
    loop.train_and_evaluate(cfg, workdir)
