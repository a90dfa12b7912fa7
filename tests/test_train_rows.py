"""experiments/train_rows.py: the row queue, dry and on a tiny real row."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_TRAIN = ('--config.data.synthetic_train=64,--config.data.synthetic_valid=16,'
              '--config.data.synthetic_test=16,--config.train.max_epochs=1,'
              '--config.train.eval_diagnostics=False,'
              '--config.eval.num_generate=2')


def run(*args):
  return subprocess.run([sys.executable, '-m', 'experiments.train_rows', *args],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_dry_run_skips_evaluated_rows_and_keeps_the_order(tmp_path):
  runs = tmp_path / 'runs'
  os.makedirs(runs / 'ptb_lm')
  (runs / 'ptb_lm' / 'eval_test.json').write_text('{}')
  proc = run('--dry_run', f'--runs_dir={runs}', f'--data_dir={tmp_path}',
             '--rows=ptb_lm,ptb_vae_pretrain_fb,ptb_vae')
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert lines[0].startswith('ptb_lm: evaluated already')
  assert [l.split(':')[0] for l in lines[1:5]] == [
      'ptb_vae_pretrain_fb', 'ptb_vae_pretrain_fb', 'ptb_vae', 'ptb_vae']
  assert 'experiments.train' in lines[1] and 'experiments.evaluate' in lines[2]
  assert f'--workdir={runs}/ptb_vae_pretrain_fb' in lines[1]
  assert 'configs/ptb_vae_pretrain_fb.py ' in lines[1]
  assert sorted(os.listdir(runs)) == ['ptb_lm']  # nothing run, nothing made


def test_max_epochs_caps_each_stage_below_the_configs_own(tmp_path):
  def train_flags(max_epochs, *more):
    proc = run('--dry_run', f'--runs_dir={tmp_path}', f'--data_dir={tmp_path}',
               '--rows=ptb_vae_pretrain_fb,ptb_vae', f'--max_epochs={max_epochs}',
               *more)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [l for l in proc.stdout.splitlines() if 'experiments.train ' in l]
    return [[a for a in l.split() if a.startswith('--config.')] for l in lines]

  assert train_flags(50) == [
      ['--config.train.max_epochs=50',
       '--config.train.pretrain_encoder_epochs=50'],
      ['--config.train.max_epochs=50']]
  assert train_flags(0) == train_flags(100) == [[], []]
  # the pretraining stage capped on its own, with or without the main cap
  assert train_flags(20, '--pretrain_max_epochs=10') == [
      ['--config.train.max_epochs=20',
       '--config.train.pretrain_encoder_epochs=10'],
      ['--config.train.max_epochs=20']]
  assert train_flags(0, '--pretrain_max_epochs=10') == [
      ['--config.train.pretrain_encoder_epochs=10'], []]


def test_unknown_row_is_a_clear_error(tmp_path):
  proc = run(f'--runs_dir={tmp_path}', f'--data_dir={tmp_path}',
             '--rows=ptb_vae,ptb_vea')
  assert proc.returncode == 2
  assert "['ptb_vea']" in proc.stderr and 'ptb_vae_pretrain_fb' in proc.stderr
  assert os.listdir(tmp_path) == []


def test_real_row_is_trained_evaluated_then_skipped(tmp_path):
  runs = tmp_path / 'runs'
  args = ('--rows=synthetic_vae', '--config_arg=smoke', f'--runs_dir={runs}',
          f'--data_dir={tmp_path}', f'--extra_flags={TINY_TRAIN}')
  proc = run(*args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.load(open(runs / 'synthetic_vae' / 'eval_test.json'))
  assert result['num_sentences'] == 16 and result['iw_nll'] > 0
  assert os.path.exists(runs / 'synthetic_vae' / 'final.json')
  again = run(*args)
  assert again.returncode == 0
  assert again.stdout.startswith('synthetic_vae: evaluated already')


def test_extend_goes_on_only_with_rows_stopped_by_a_cap(tmp_path):
  runs = tmp_path / 'runs'
  for row, epochs, cap in (('ptb_lm', 94, 100),          # its fifth halving
                           ('ptb_vae', 28, 28),          # the cap
                           ('ptb_vae_cyclical', 40, 40)):  # the cap, too
    os.makedirs(runs / row)
    (runs / row / 'eval_test.json').write_text('{}')
    (runs / row / 'final.json').write_text(
        json.dumps({'epochs': epochs, 'max_epochs': cap}))
  proc = run('--dry_run', '--extend', '--max_epochs=40', f'--runs_dir={runs}',
             f'--data_dir={tmp_path}', '--rows=ptb_lm,ptb_vae,ptb_vae_cyclical')
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert lines[0] == ('ptb_lm: not extended: it ended by its own schedule '
                      'after epoch 94 of at most 100')
  assert lines[1].startswith('ptb_vae: would move its evaluation')
  assert 'experiments.train ' in lines[2] and (
      '--config.train.max_epochs=40' in lines[2])
  assert 'experiments.evaluate ' in lines[3]
  assert lines[4].startswith('ptb_vae_cyclical: not extended: it trained 40 '
                             'epochs, and the limit now is 40')
  for row in ('ptb_lm', 'ptb_vae', 'ptb_vae_cyclical'):  # a dry run moves nothing
    assert sorted(os.listdir(runs / row)) == ['eval_test.json', 'final.json']


def test_extend_resumes_a_capped_row_and_keeps_its_evaluation(tmp_path):
  runs = tmp_path / 'runs'
  uncapped = ','.join(f for f in TINY_TRAIN.split(',') if 'max_epochs' not in f)
  args = ('--rows=synthetic_vae', '--config_arg=smoke', f'--runs_dir={runs}',
          f'--data_dir={tmp_path}', f'--extra_flags={uncapped}')
  first = run(*args, '--max_epochs=1')  # the smoke config's own limit is 2
  assert first.returncode == 0, first.stderr[-3000:]
  workdir = runs / 'synthetic_vae'
  capped = json.loads((workdir / 'eval_test.json').read_text())
  again = run(*args, '--extend')
  assert again.returncode == 0, again.stderr[-3000:]
  assert 'its capped evaluation moved to' in again.stdout
  kept = workdir / 'capped_at_1_epochs'
  assert json.loads((kept / 'eval_test.json').read_text()) == capped
  assert json.loads((kept / 'final.json').read_text())['epochs'] == 1
  assert (kept / 'plots' / 'loss.png').exists()
  final = json.loads((workdir / 'final.json').read_text())
  assert (final['epochs'], final['max_epochs']) == (2, 2)
  assert json.loads((workdir / 'eval_test.json').read_text()) != capped
  with open(workdir / 'metrics.jsonl') as f:
    recs = [json.loads(l) for l in f]
  # resumed, not restarted: one validation record an epoch
  assert [r['epoch'] for r in recs if r['split'] == 'valid'] == [1, 2]
  third = run(*args, '--extend')  # at the config's own limit now
  assert third.returncode == 0
  assert third.stdout.startswith('synthetic_vae: not extended: it trained 2 '
                                 'epochs, and the limit now is 2')


def test_status_reads_each_rows_workdir_and_runs_nothing(tmp_path):
  runs = tmp_path / 'runs'
  os.makedirs(runs / 'ptb_lm')
  (runs / 'ptb_lm' / 'eval_test.json').write_text(
      json.dumps({'nll': 99.891, 'ppl': 95.364}))
  os.makedirs(runs / 'ptb_vae')
  # epoch 1 in 180 s; epoch 2 in 360 s, a break of an hour left out (the
  # restart's first record has no rate: its 100 steps since the last record
  # count at the next record's 10 a second); resumed under a 30-epoch cap,
  # which its train records carry, as a float like every logged figure
  # (config.json keeps the starting 100)
  recs = [{'split': 'train', 'step': 100, 'lr': 1.0, 'loss': 120.0,
           'time': 0.0, 'max_epochs': 100},
          {'split': 'valid', 'step': 1317, 'epoch': 1, 'loss': 110.5,
           'kl': 0.49, 'mi': 0.3, 'au': 2.0, 'time': 180.0},
          {'split': 'train', 'step': 1417, 'lr': 0.5, 'loss': 104.0,
           'time': 3780.0},
          {'split': 'train', 'step': 2417, 'lr': 0.5, 'loss': 104.0,
           'time': 3880.0, 'steps_per_sec': 10.0, 'max_epochs': 30.0},
          {'split': 'valid', 'step': 2634, 'epoch': 2, 'loss': 111.25,
           'kl': 0.04, 'mi': 0.01, 'au': 0.0, 'time': 4130.0}]
  with open(runs / 'ptb_vae' / 'metrics.jsonl', 'w') as f:
    f.write(''.join(json.dumps(r) + '\n' for r in recs) + '{"split": "tr')
  (runs / 'ptb_vae' / 'config.json').write_text(
      json.dumps({'train': {'max_epochs': 100}}))
  # the pretraining row while its stage 1 (an autoencoder) runs
  stage1 = runs / 'ptb_vae_pretrain_fb' / 'pretrain_encoder'
  os.makedirs(stage1)
  # picks its best by reconstruction (its -ELBO grows with the KL); its ETA
  # leads to the main run (stage 2), not to an evaluation
  (stage1 / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in (
      {'split': 'train', 'step': 100, 'loss': 150.0, 'time': 0.0},
      {'split': 'valid', 'step': 1317, 'epoch': 1, 'loss': 130.0, 'rec': 110.0,
       'time': 240.0},
      {'split': 'valid', 'step': 2634, 'epoch': 2, 'loss': 140.0,
       'rec': 105.5, 'time': 480.0})))
  (stage1 / 'config.json').write_text(
      json.dumps({'train': {'max_epochs': 50, 'model_selection': 'rec'}}))
  proc = run('--status', f'--runs_dir={runs}',
             '--rows=ptb_lm,ptb_vae,ptb_vae_pretrain_fb,ptb_vae_vmf')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert proc.stdout.splitlines() == [
      'ptb_lm: evaluated: NLL 99.89, PPL 95.36',
      'ptb_vae: training, 2 of at most 30 epochs (step 2634), last valid '
      'loss 111.25, best 110.50 (epoch 1), lr 0.5, KL 0.04, MI 0.01, AU 0, '
      'ETA <= 2h06m00s at 4.5 min an epoch, then its evaluation',
      'ptb_vae_pretrain_fb: pretraining the encoder: 2 of at most 50 epochs '
      '(step 2634), last valid reconstruction 105.50, best 105.50 (epoch 2), '
      'ETA <= 3h12m00s at 4.0 min an epoch, then the main run',
      'ptb_vae_vmf: not started']
  assert sorted(os.listdir(runs)) == ['ptb_lm', 'ptb_vae', 'ptb_vae_pretrain_fb']


def test_status_of_a_long_first_epoch_says_where_it_stands(tmp_path):
  """No epoch finished (an aggressive row's first takes hours): the share of
  epoch 1 done, its end from the last record's time and epoch ETA, and the
  encoder steps an update. (A subprocess, as the other status tests: the
  module's absl flags clash with those of other binaries imported in the
  same test process.)"""
  workdir = tmp_path / 'ptb_vae_aggressive'
  os.makedirs(workdir)
  t0 = 1796675000.0
  recs = [{'split': 'train', 'step': 100, 'epoch': 100 / 1317, 'time': t0,
           'encoder_steps': 53.85},
          {'split': 'train', 'step': 400, 'epoch': 400 / 1317,
           'time': t0 + 2400.0, 'epoch_eta_sec': 6777.0,
           'encoder_steps': 39.3}]
  (workdir / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in recs))
  ends = time.strftime('%H:%M', time.localtime(t0 + 2400.0 + 6777.0))
  status = run('--status', f'--runs_dir={tmp_path}',
                '--rows=ptb_vae_aggressive')
  assert status.returncode == 0, status.stderr[-2000:]
  assert status.stdout.strip() == (
      'ptb_vae_aggressive: training, step 400, no epoch finished yet, 30 % '
      f'of epoch 1 (ends about {ends} at the last logged pace; 39.3 encoder '
      'steps an update)')
  # a plain run's first record: no ETA yet, no encoder steps
  (workdir / 'metrics.jsonl').write_text(json.dumps(
      {'split': 'train', 'step': 100, 'epoch': 100 / 1317, 'time': t0}))
  status = run('--status', f'--runs_dir={tmp_path}',
                '--rows=ptb_vae_aggressive')
  assert status.stdout.strip().endswith('no epoch finished yet, 8 % of epoch 1')


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_terminating_the_queue_stops_its_training_child(tmp_path, signum):
  """`kill <queue pid>` or `kill -INT` reaches the running row (no orphan
  left training)."""
  pid_file = tmp_path / 'child.pid'
  child = ('import os, time; open(%r, "w").write(str(os.getpid())); '
           'time.sleep(120)' % str(pid_file))
  queue = subprocess.Popen(
      [sys.executable, '-c',
       'import sys; from experiments.train_rows import run_child; '
       f'sys.exit(-run_child([sys.executable, "-c", {child!r}], "."))'],
      cwd=ROOT)
  try:
    for _ in range(600):
      if pid_file.exists() and pid_file.read_text():
        break
      time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    queue.send_signal(signum)
    assert queue.wait(timeout=30) == signum  # run_child saw it: -N
  finally:
    queue.kill()
  for _ in range(600):  # reaped by run_child's wait, so gone, not a zombie
    try:
      os.kill(child_pid, 0)
    except ProcessLookupError:
      break
    time.sleep(0.05)
  else:
    os.kill(child_pid, signal.SIGKILL)
    raise AssertionError('the training child outlived its queue')


@pytest.mark.parametrize('child_rc,exit_status,message', [
    (-signal.SIGTERM, 128 + signal.SIGTERM,
     'ptb_vae: stopped by signal 15; rerun to resume it'),
    # a SIGTERM sent to the training alone: it saved and exited 143
    (128 + signal.SIGTERM, 128 + signal.SIGTERM,
     'ptb_vae: stopped by signal 15; rerun to resume it'),
    (3, 3, 'error: ptb_vae failed (exit 3); rerun to resume it')])
def test_queue_exit_status_says_how_the_row_ended(tmp_path, child_rc,
                                                  exit_status, message):
  """A row's training killed by signal N ends the queue with 128 + N, as a
  shell reports it; a failed one with the child's status. The rows after
  it are not started."""
  code = ('import sys; from absl import app; '
          'import experiments.train_rows as q; '
          f'q.run_child = lambda cmd, repo: {child_rc}; '
          f'sys.argv = ["train_rows", "--runs_dir={tmp_path}", '
          f'"--data_dir={tmp_path}", "--rows=ptb_vae,ptb_lm"]; '
          'app.run(q.main)')
  proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == exit_status, proc.stderr[-2000:]
  assert message in proc.stderr
  assert 'ptb_lm' not in proc.stdout


def _capped_workdir(path):
  files = {'eval_test.json': '{"iw_nll": 103.5}', 'eval_test.md': '| x |',
           'final.json': json.dumps({'epochs': 28, 'max_epochs': 28}),
           'samples.txt': 'a b c'}
  os.makedirs(path / 'plots')
  (path / 'plots' / 'loss.png').write_bytes(b'png')
  for name, text in files.items():
    (path / name).write_text(text)
  return files


def test_archive_evaluation_finishes_after_a_crash_at_any_point(
    tmp_path, monkeypatch):
  from experiments import ptb_rows
  real = {'copy2': ptb_rows.shutil.copy2, 'rename': os.rename,
          'remove': os.remove}
  crash_points = 0
  for crash_at in range(100):
    workdir = tmp_path / f'w{crash_at}'
    files = _capped_workdir(workdir)
    calls = [0]

    def failing(name):
      def call(*args, **kwargs):
        calls[0] += 1
        if calls[0] == crash_at + 1:
          raise KeyboardInterrupt(f'crash in {name}')
        return real[name](*args, **kwargs)
      return call

    monkeypatch.setattr(ptb_rows.shutil, 'copy2', failing('copy2'))
    monkeypatch.setattr(ptb_rows.os, 'rename', failing('rename'))
    monkeypatch.setattr(ptb_rows.os, 'remove', failing('remove'))
    try:
      ptb_rows.archive_evaluation(str(workdir))
      crashed = False
    except KeyboardInterrupt:
      crashed = True
    monkeypatch.undo()
    if not crashed:  # crash_at is past the last file operation
      break
    crash_points += 1
    # nothing lost: every file is in the workdir or in a complete archive
    dest = workdir / 'capped_at_28_epochs'
    for name, text in files.items():
      assert (workdir / name).exists() or (dest / name).read_text() == text
    if (workdir / 'eval_test.json').exists():  # still "evaluated": rerun
      assert ptb_rows.archive_evaluation(str(workdir)) == str(dest)
      # moved, the .partial leftover of a crash while copying gone too
      assert sorted(os.listdir(workdir)) == ['capped_at_28_epochs', 'plots']
    else:  # the row counts as not evaluated and trains on: no rerun; the
      # evaluation's other files stay until its next evaluation rewrites them
      assert set(os.listdir(workdir)) <= {'capped_at_28_epochs', 'plots',
                                          *files} - {'eval_test.json'}
    for name, text in files.items():
      assert (dest / name).read_text() == text
    assert (dest / 'plots' / 'loss.png').read_bytes() == b'png'
  # 4 copies, 1 rename, 4 removals
  assert crash_points == 9


def test_archive_evaluation_refuses_a_different_archive(tmp_path):
  from experiments import ptb_rows
  workdir = tmp_path / 'w'
  _capped_workdir(workdir)
  os.makedirs(workdir / 'capped_at_28_epochs')
  (workdir / 'capped_at_28_epochs' / 'eval_test.json').write_text('{}')
  with pytest.raises(FileExistsError, match='move it away first'):
    ptb_rows.archive_evaluation(str(workdir))
  assert (workdir / 'eval_test.json').read_text() == '{"iw_nll": 103.5}'
