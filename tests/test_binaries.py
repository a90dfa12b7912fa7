"""The experiment binaries end to end on a tiny config, and their errors."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--config=experiments/configs/synthetic_vae.py:smoke',
        '--config.data.synthetic_train=64', '--config.data.synthetic_valid=16',
        '--config.data.synthetic_test=16', '--config.train.max_epochs=1',
        '--config.train.eval_diagnostics=False', '--config.eval.num_generate=2']


def run(module, *args):
  return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  proc = run('experiments.train', *TINY, f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc.stdout


def test_train_binary_writes_outputs_and_says_where(trained):
  workdir, stdout = trained
  assert 'outputs in' in stdout and workdir in stdout
  final = json.load(open(os.path.join(workdir, 'final.json')))
  assert final['test']['num_sentences'] == 16
  assert final['test']['neg_elbo'] > 0
  assert os.path.exists(os.path.join(workdir, 'plots', 'loss.png'))
  samples = open(os.path.join(workdir, 'samples.txt')).read()
  assert 'reconstructions of test sentences' in samples


def test_evaluate_and_generate_binaries(trained):
  workdir, _ = trained
  proc = run('experiments.evaluate', f'--workdir={workdir}', '--iw_samples=4')
  assert proc.returncode == 0, proc.stderr[-3000:]
  res = json.load(open(os.path.join(workdir, 'eval_test.json')))
  assert res['num_sentences'] == 16 and res['iw_samples'] == 4
  # the IW bound with K samples is at least as tight as the 1-sample ELBO,
  # up to Monte Carlo noise of a tiny test set
  assert res['iw_nll'] <= res['neg_elbo'] + 1.0
  assert '| IW-NLL |' in open(os.path.join(workdir, 'eval_test.md')).read()
  proc = run('experiments.generate', f'--workdir={workdir}', '--num=2',
             '--interpolate=a b c|d e f', '--steps=3')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'interpolation' in proc.stdout


def test_misspelt_config_key_is_an_error(tmp_path):
  proc = run('experiments.train', *TINY, '--config.train.lerning_rate=0.1',
             f'--workdir={tmp_path}/w')
  assert proc.returncode != 0
  assert 'lerning_rate' in proc.stderr
  assert not os.path.exists(f'{tmp_path}/w')


def test_missing_corpus_is_a_clear_error_and_writes_nothing(tmp_path):
  proc = run('experiments.train', '--config=experiments/configs/ptb_lm.py',
             f'--data_dir={tmp_path}/nowhere', f'--workdir={tmp_path}/w')
  assert proc.returncode == 1
  assert 'ptb.train.txt' in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(f'{tmp_path}/w')
