"""The speed benchmark binary: its FLOP counts, and one small end-to-end run
of its training, aggressive-mode and IW-NLL parts on synthetic PTB-sized
data (one bucket shape, a few steps; MI + AU are the evaluation functions
tested in tests/train)."""

import json
import os
import subprocess
import sys

from experiments import benchmark


def test_flops_per_token_matches_the_docstring():
  lm, vae = benchmark.flops_per_token('lm'), benchmark.flops_per_token('vae')
  lstm = 2 * (256 * 1024 + 256 * 1024)
  assert lm['forward'] == lstm + 2 * 256 * 10002 == 6_169_600
  assert vae['forward'] == 2 * lstm + 2 * 32 * 1024 + 2 * 256 * 10002
  assert vae['forward'] == 7_283_712
  assert vae['train'] == 3 * vae['forward']
  assert vae['iw'] == lstm + 2 * 32 * 1024 + 2 * 256 * 10002


def test_benchmark_runs_every_part(tmp_path):
  out = tmp_path / 'bench.json'
  cmd = [sys.executable, '-m', 'experiments.benchmark',
         '--models=vae,aggressive', '--steps=2', '--aggressive_iters=1',
         '--aggressive_max_inner_steps=17', '--mi_au=false',
         '--num_buckets=1', '--iw_samples=4', '--iw_sentences=40',
         '--iw_buckets=1', f'--data_dir={tmp_path}/no_ptb_here',
         f'--json_out={out}']
  # PTB-sized programs: running them, not compiling them, is most of this
  # test, so it keeps XLA's default optimisation level (see conftest.py).
  env = dict(os.environ, XLA_FLAGS=' '.join(
      f for f in os.environ.get('XLA_FLAGS', '').split()
      if not f.startswith('--xla_backend_optimization_level')))
  run = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       cwd=os.path.dirname(os.path.dirname(__file__)), env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  res = json.loads(out.read_text())
  vae, aggr = res['models']
  assert vae['data'].startswith('synthetic') and res['matmul_ceiling_gflops'] > 0
  assert vae['train_steps'] == 2 and vae['tokens_per_s'] > 0
  assert vae['train_shapes'] == 1
  assert vae['iw_samples'] == 4 and vae['iw_total_s'] > 0
  assert vae['iw_nll_timed'] > 0
  assert aggr['aggressive_iterations'] == 1
  # Capped at 17, the inner loop makes 16 encoder steps (the check after 15
  # has no earlier window to compare with) before the decoder step.
  assert aggr['aggressive_encoder_steps_per_iteration'] == 16
  assert aggr['train_steps'] == 1 + aggr['aggressive_encoder_steps_per_iteration']
  assert (aggr['tokens_per_s'] > aggr['aggressive_data_tokens_per_s'] > 0)
  assert 'aggressive mode: 1 iterations' in run.stdout
  assert '| aggressive |' in run.stdout and '| vae |' in run.stdout
