"""Two processes on 127.0.0.1 (gloo CPU collectives), two devices each.

multiprocess_worker.py runs the processes and a one-process reference
concurrently; a hang (a collective waiting for a peer) ends at the timeout
with every subprocess killed, and the test fails instead of stalling.
"""

import json
import os
import socket
import subprocess

import numpy as np
import pytest

import worker_process

NUM_PROCESSES = 2
TIMEOUT_S = 300


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  out = tmp_path_factory.mktemp('multiprocess')
  port = _free_port()
  script = 'multiprocess_worker.py'
  cmds = {f'process {i}': (worker_process.command(
      script, 'worker', i, NUM_PROCESSES, port, out), 2)
          for i in range(NUM_PROCESSES)}
  cmds['reference'] = (worker_process.command(script, 'reference',
                                              NUM_PROCESSES, out), 1)
  procs = {name: subprocess.Popen(cmd, env=worker_process.env(devices),
                                  text=True,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
           for name, (cmd, devices) in cmds.items()}
  results = {}
  try:
    for name, proc in procs.items():
      try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
      except subprocess.TimeoutExpired:
        pytest.fail(f'{name} did not finish in {TIMEOUT_S} s (a collective '
                    'waiting for a peer?)')
      results[name] = worker_process.result(name, proc.returncode, stdout,
                                            stderr)
  finally:
    for proc in procs.values():  # only ours, by handle
      if proc.poll() is None:
        proc.kill()
        proc.communicate()
  return results, out


def _params(out, name):
  with np.load(os.path.join(out, f'{name}.npz')) as f:
    return dict(f)


@pytest.mark.parametrize('kind', ['shard_map', 'pmap'])
def test_processes_agree_and_match_one_process(runs, kind):
  results, out = runs
  ref = _params(out, 'reference')
  for i in range(NUM_PROCESSES):
    got = _params(out, f'{kind}-p{i}')
    assert got.keys() == ref.keys()
    for k in ref:
      # bitwise the same on both processes (one replicated result) ...
      np.testing.assert_array_equal(got[k], _params(out, f'{kind}-p0')[k])
      # ... and one process's update on the global batch, to float rounding
      np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6,
                                 err_msg=f'{kind}, process {i}: {k}')
    run = results[f'process {i}'][kind]
    assert run['step'] == results['reference']['step'] == 6
    # metrics are global sums: both processes' rows, counted once
    assert run['sentences'] == results['reference']['sentences'] == 6 * 16


def test_training_loop_over_two_processes(runs):
  """train_and_evaluate with shard_map over 2 processes x 2 devices."""
  results, out = runs
  loops = [results[f'process {i}']['loop'] for i in range(NUM_PROCESSES)]
  assert all(l['devices'] == 4 for l in loops)
  # the same test metrics on both processes (one sharded evaluation)
  assert loops[0]['test'] == loops[1]['test']
  assert np.isfinite(loops[0]['test']['ppl'])
  # the checkpoint that both processes wrote restores on both, the same
  assert loops[0]['restored_step'] == loops[1]['restored_step'] == 4
  p0, p1 = _params(out, 'loop-p0'), _params(out, 'loop-p1')
  for k in p0:
    np.testing.assert_array_equal(p0[k], p1[k])
  # process 0 alone wrote the metrics: every step once, not once a process
  workdir = os.path.join(out, 'loop')
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  train = [r['step'] for r in records if r['split'] == 'train']
  assert train == [2, 4]
  assert [r['split'] for r in records].count('test') == 1
  for name in ('vocab.txt', 'config.json', 'final.json', 'samples.txt'):
    assert os.path.exists(os.path.join(workdir, name)), name


def test_two_process_checkpoint_restores_in_one_process(runs):
  """Here, in the test's own process (one process, one device)."""
  _, out = runs
  import multiprocess_worker  # pylint: disable=g-import-not-at-top
  state, meta = multiprocess_worker.restore_latest(
      multiprocess_worker.loop_config(), os.path.join(out, 'loop'))
  assert int(state.step) == 4 and meta['done']
  got = multiprocess_worker.flat(state.params)
  ref = _params(out, 'loop-p0')
  assert got.keys() == ref.keys()
  for k in ref:
    np.testing.assert_array_equal(got[k], ref[k])
