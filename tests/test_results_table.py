"""experiments/results_table.py on tiny fake workdirs."""

import json
import os
import subprocess
import sys

from experiments import ptb_rows, results_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(runs, name, results):
  os.makedirs(os.path.join(runs, name))
  with open(os.path.join(runs, name, 'eval_test.json'), 'w') as f:
    json.dump(results, f)


def _rows(table):
  return {line.split(' | ')[0][2:]: [c.strip(' |') for c in line.split(' | ')[1:]]
          for line in table.splitlines() if line.startswith('| ')
          and not line.startswith('| model') and '---' not in line}


def test_table_from_fake_workdirs(tmp_path):
  runs = str(tmp_path)
  _write(runs, 'ptb_lm', {'nll': 101.5, 'ppl': 103.25, 'rec': 101.5})
  _write(runs, 'ptb_vae_pretrain_fb', {
      'neg_elbo': 103.0, 'rec': 96.5, 'kl': 6.5, 'iw_nll': 100.25,
      'iw_ppl': 96.5, 'ppl': 98.0, 'mi': 5.0, 'mi_batch': 3.1, 'au': 31})
  _write(runs, 'ptb_vae_vmf', {
      'neg_elbo': 110.0, 'rec': 97.75, 'kl': 12.25, 'iw_nll': 104.0,
      'iw_ppl': 110.5, 'mi': 4.0, 'au': 32})
  os.makedirs(os.path.join(runs, 'ptb_vae_bn'))      # trained, not evaluated
  # epochs from final.json, the pretraining stage's first
  for d, epochs in (('ptb_lm', 94), ('ptb_vae_pretrain_fb', 50),
                    ('ptb_vae_pretrain_fb/pretrain_encoder', 31)):
    os.makedirs(os.path.join(runs, d), exist_ok=True)
    with open(os.path.join(runs, d, 'final.json'), 'w') as f:
      json.dump({'test': {}, 'step': 1, 'epochs': epochs}, f)
  rows = _rows(results_table.build_table(runs))
  assert len(rows) == len(results_table.ROWS) == 13
  # columns: -ELBO, rec, IW-NLL, PPL, KL, MI, AU, epochs; ours (published);
  # a VAE row's published IW-NLL is ln(PPL) * 82,430 / 3,761
  assert rows['LSTM-LM'] == ['–', '–', '101.50 (101.04)', '103.25 (100.47)',
                             '–', '–', '–', '94']
  assert rows['VAE + pretraining + free bits (Li)'] == [
      '103.00 (102.41)', '96.50', '100.25 (100.23)', '96.50 (96.86)',
      '6.50 (6.54)', '5.00 (5.31)', '31 (32)', '31+50']
  assert rows['vMF VAE'] == ['110.00', '97.75', '104.00', '110.50', '12.25',
                             '4.00', '32', '–']
  assert rows['VAE + monotonic annealing'] == [
      'not run (101.28)', '–', '– (101.24)', '– (101.40)', '– (0.00)', '–',
      '– (0)', '–']
  # the published figures are test-set ones: none beside validation figures
  valid = _rows(results_table.build_table(runs, split='valid'))
  assert valid['LSTM-LM'] == ['not evaluated'] + ['–'] * 7
  assert valid['VAE + monotonic annealing'] == ['not run'] + ['–'] * 7
  assert rows['BN-VAE'][0] == 'not evaluated'
  assert rows['VAE + word dropout'][0] == 'not run'


def test_command_prints_the_table(tmp_path):
  _write(str(tmp_path), 'ptb_lm', {'nll': 101.5, 'ppl': 103.25, 'rec': 101.5})
  out = str(tmp_path / 'table.md')
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.results_table',
       f'--runs_dir={tmp_path}', f'--out={out}'],
      cwd=REPO, capture_output=True, text=True, check=True, timeout=120)
  assert '| LSTM-LM | – | – | 101.50 (101.04) |' in proc.stdout
  with open(out) as f:
    assert f.read() in proc.stdout


def test_values_that_round_to_zero_print_without_a_sign():
  assert ptb_rows.two_decimals(-1e-8) == '0.00'   # the Bernoulli rows' KL
  assert ptb_rows.two_decimals(-0.004) == '0.00'
  assert ptb_rows.two_decimals(-0.29) == '-0.29'  # an MI estimate below 0
  assert ptb_rows.two_decimals(101.005) == f'{101.005:.2f}'
