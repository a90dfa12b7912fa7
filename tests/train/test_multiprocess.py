"""Two processes on 127.0.0.1 (gloo CPU collectives), two devices each.

multiprocess_worker.py runs the processes and a one-process reference
concurrently; a failed process ends the run at once, and a hang (a
collective waiting for a peer) at the timeout, with every subprocess killed,
so the test fails instead of stalling.
"""

import json
import os
import socket
import subprocess
import time

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
  # Output to files, not pipes: a full pipe would stall a worker, and with
  # it its peer's collectives.
  logs, procs = {}, {}
  for name, (cmd, devices) in cmds.items():
    logs[name] = (open(out / f'{name}.out', 'w+'),
                  open(out / f'{name}.err', 'w+'))
    procs[name] = subprocess.Popen(cmd, env=worker_process.env(devices),
                                   text=True, stdout=logs[name][0],
                                   stderr=logs[name][1])

  def output(name):
    return [f.seek(0) or f.read() for f in logs[name]]

  try:
    deadline = time.monotonic() + TIMEOUT_S
    while any(p.poll() is None for p in procs.values()):
      failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
      if failed:  # its peer would wait for it until the timeout
        worker_process.result(failed[0], procs[failed[0]].returncode,
                              *output(failed[0]))
      if time.monotonic() > deadline:
        pytest.fail(f'the processes did not finish in {TIMEOUT_S} s (a '
                    'collective waiting for a peer?)')
      time.sleep(0.2)
    results = {name: worker_process.result(name, p.returncode, *output(name))
               for name, p in procs.items()}
  finally:
    for proc in procs.values():  # only ours, by handle
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    for files in logs.values():
      for f in files:
        f.close()
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
      # (sums in another order; 1.2e-7 measured). The worker trains with
      # SGD: a gradient 2x too large would be off by up to 0.72 (measured
      # by doubling the rate). (With Adam, used before, a 2x gradient
      # hardly showed, and rounding noise in a near-zero gradient was
      # magnified to 1.75e-6 on a Zen 4 host.)
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


def test_sigterm_to_one_process_stops_all_at_one_step_with_a_checkpoint(runs):
  """JAX's preemption service passes the SIGTERM to process 0 on to process
  1; both save at the step they agree on and raise TrainingInterrupted, and
  the resumed run ends as the uninterrupted one, bit for bit."""
  import multiprocess_worker  # pylint: disable=g-import-not-at-top
  results, _ = runs
  runs_ = [results[f'process {i}']['preempt'] for i in range(NUM_PROCESSES)]
  assert runs_[0] == runs_[1]
  r = runs_[0]
  assert r['stopped'] is not None, 'the run was not stopped'
  step = r['stopped']['step']
  # after the signal, before the end (12 steps), at a step both saved
  assert multiprocess_worker.SIGNAL_AT_STEP <= step < 12
  assert r['stopped']['exit_code'] == 128 + 15
  assert r['saved_step'] == step and r['saved_batch'] == step % 6
  assert r['final_steps'] == [12, 12]
  # the uninterrupted run saved by its timer at every step but the epochs'
  # last, which the epoch ends saved: the same steps on both processes
  assert r['timer_saves'] == list(range(1, 13))
  assert r['same_params'] and r['same_test']
