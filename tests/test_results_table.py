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
  # the main run of the pretraining row ended at its epoch limit
  with open(os.path.join(runs, 'ptb_vae_pretrain_fb', 'config.json'), 'w') as f:
    json.dump({'train': {'max_epochs': 50}}, f)
  with open(os.path.join(runs, 'ptb_lm', 'config.json'), 'w') as f:
    json.dump({'train': {'max_epochs': 100}}, f)
  # a stage resumed under a lower cap: final.json has the limit it ended by
  with open(os.path.join(runs, 'ptb_vae_pretrain_fb', 'pretrain_encoder',
                         'config.json'), 'w') as f:
    json.dump({'train': {'max_epochs': 100}}, f)
  with open(os.path.join(runs, 'ptb_vae_pretrain_fb', 'pretrain_encoder',
                         'final.json'), 'w') as f:
    json.dump({'test': {}, 'step': 1, 'epochs': 31, 'max_epochs': 31}, f)
  rows = _rows(results_table.build_table(runs))
  assert len(rows) == len(results_table.ROWS) == 15
  # columns: -ELBO, rec, IW-NLL, PPL, KL, MI, AU, epochs; ours (published);
  # a VAE row's published IW-NLL is ln(PPL) * 82,430 / 3,761
  assert rows['LSTM-LM'] == ['–', '–', '101.50 (101.04)', '103.25 (100.47)',
                             '–', '–', '–', '94']
  assert rows['VAE + pretraining + free bits (Li)'] == [
      '103.00 (102.41)', '96.50', '100.25 (100.23)', '96.50 (96.86)',
      '6.50 (6.54)', '5.00 (5.31)', '31 (32)', '31 (limit)+50 (limit)']
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


def test_a_row_trained_on_shows_its_latest_capped_evaluation(tmp_path):
  runs = str(tmp_path)
  row = os.path.join(runs, 'ptb_vae_cyclical')
  for epochs, iw_nll in ((20, 105.0), (28, 103.5)):   # extended twice
    kept = os.path.join(row, f'capped_at_{epochs}_epochs')
    os.makedirs(kept)
    with open(os.path.join(kept, 'eval_test.json'), 'w') as f:
      json.dump({'neg_elbo': iw_nll + 0.5, 'iw_nll': iw_nll, 'kl': 0.03}, f)
    with open(os.path.join(kept, 'final.json'), 'w') as f:
      json.dump({'epochs': epochs, 'max_epochs': epochs}, f)
  os.makedirs(os.path.join(row, 'capped_at_40_epochs'))  # nothing kept in it
  rows = _rows(results_table.build_table(runs))
  cyc = rows['VAE + cyclical annealing']
  assert cyc[0] == '104.00 (102.81)' and cyc[2] == '103.50 (102.78)'
  assert cyc[-1] == '28 (limit), training on'
  # once the longer run is evaluated, its own figures replace the capped ones
  with open(os.path.join(row, 'eval_test.json'), 'w') as f:
    json.dump({'neg_elbo': 103.0, 'iw_nll': 102.5}, f)
  with open(os.path.join(row, 'final.json'), 'w') as f:
    json.dump({'epochs': 37, 'max_epochs': 100}, f)
  cyc = _rows(results_table.build_table(runs))['VAE + cyclical annealing']
  assert cyc[2] == '102.50 (102.78)' and cyc[-1] == '37'


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


def test_epoch_table_hours_leave_out_the_breaks(tmp_path):
  # a VAE run of two 10-step epochs logged every 5 steps, half an hour
  # apart; killed in epoch 2 and restarted two hours later from its step-10
  # checkpoint (the records past step 10 dropped on resume)
  def rec(split, step, epoch, time, **m):
    return dict(split=split, step=step, epoch=epoch, time=time, **m)
  valid = dict(neg_elbo=110.0, rec=105.5, kl=4.5, mi=2.25, au=7.0,
               mi_batch=2.0)
  rate = 5 / 1800
  records = [
      rec('train', 5, 0.5, 0.0, lr=1.0),                 # a first: no rate
      rec('train', 10, 1.0, 1800.0, lr=1.0, steps_per_sec=rate),
      rec('valid', 10, 1, 1836.0, **valid),
      rec('train', 15, 1.5, 9000.0, lr=0.5),             # the restart
      rec('train', 20, 2.0, 10800.0, lr=0.5, steps_per_sec=rate),
      rec('valid', 20, 2, 10836.0, **dict(valid, neg_elbo=108.0, au=8.0)),
  ]
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  table = results_table.epoch_table(str(tmp_path)).splitlines()
  assert table[0] == '| epoch | -ELBO | rec | KL | MI | AU | lr | hours |'
  # epoch 1: 1,836 s; epoch 2: + 5 steps at the rate after the restart
  # (1,800 s, not the 7,164 s since the last record) + 1,800 + 36
  assert table[2] == '| 1 | 110.00 | 105.50 | 4.50 | 2.25 | 7 | 1 | 0.51 |'
  assert table[3] == '| 2 | 108.00 | 105.50 | 4.50 | 2.25 | 8 | 0.5 | 1.52 |'
  assert len(table) == 4
  assert results_table.epoch_table(str(tmp_path), ['2']).splitlines()[2:] == [
      table[3]]
  # a learned vMF concentration adds its mean
  with open(tmp_path / 'metrics.jsonl', 'a') as f:
    f.write(json.dumps(rec('valid', 30, 3, 12636.0, kappa_mean=17.25,
                           kappa_p10=3.0, kappa_p90=40.0, **valid)) + '\n')
  table = results_table.epoch_table(str(tmp_path)).splitlines()
  assert table[0] == ('| epoch | -ELBO | rec | KL | MI | AU | kappa (mean) '
                      '| lr | hours |')
  assert table[2].startswith('| 1 | 110.00 | 105.50 | 4.50 | 2.25 | 7 | – |')
  assert table[4].startswith('| 3 | 110.00 | 105.50 | 4.50 | 2.25 | 7 | 17.25 |')
  # an LM run: NLL and PPL
  lm = [rec('train', 5, 1.0, 0.0, lr=1.0),
        rec('valid', 5, 1, 36.0, rec=101.25, kl=0.0, neg_elbo=101.25,
            ppl=103.5)]
  os.makedirs(tmp_path / 'lm')
  with open(tmp_path / 'lm' / 'metrics.jsonl', 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in lm)
  assert results_table.epoch_table(str(tmp_path / 'lm')).splitlines()[::2] == [
      '| epoch | NLL | PPL | lr | hours |', '| 1 | 101.25 | 103.50 | 1 | 0.01 |']


def test_epoch_table_command(tmp_path):
  def run(*flags):
    return subprocess.run(
        [sys.executable, '-m', 'experiments.results_table', *flags],
        cwd=REPO, capture_output=True, text=True, timeout=120)
  proc = run(f'--epochs_of={tmp_path}')
  assert proc.returncode == 1 and 'has no metrics.jsonl' in proc.stderr
  records = [dict(split='train', step=5, epoch=1.0, time=0.0, lr=1.0),
             dict(split='valid', step=5, epoch=1, time=36.0, rec=101.25,
                  kl=0.0, neg_elbo=101.25, ppl=103.5),
             dict(split='valid', step=10, epoch=2, time=72.0, rec=100.5,
                  kl=0.0, neg_elbo=100.5, ppl=99.0)]
  with open(tmp_path / 'metrics.jsonl', 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in records)
  proc = run(f'--epochs_of={tmp_path}', '--epochs=2')
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.strip().splitlines()
  assert lines[0] == '| epoch | NLL | PPL | lr | hours |'
  assert lines[2:] == ['| 2 | 100.50 | 99.00 | 1 | 0.02 |']
