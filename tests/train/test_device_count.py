"""Evaluation over 2 and 4 devices, and checkpoints across device counts.

The runs happen in one subprocess (device_count_worker.py) with four forced
CPU devices, since the device count is fixed when JAX initialises.
"""

import os

import numpy as np
import pytest

import worker_process

# float summation order differs between device counts
RTOL = 1e-5


@pytest.fixture(scope='module')
def worker(tmp_path_factory):
  out = tmp_path_factory.mktemp('device_count')
  return worker_process.run('device_count_worker.py', out, devices=4), out


KEYS = ('rec', 'kl', 'neg_elbo', 'ppl', 'mi_batch', 'mi', 'iw_nll', 'iw_ppl')


@pytest.mark.parametrize('n', ['2', '4'])
def test_sharded_evaluation_gives_the_numbers_of_one_device(worker, n):
  ev = worker[0]['eval']
  one, got = ev['one'], ev[n]
  for k in KEYS:
    np.testing.assert_allclose(got[k], one[k], rtol=RTOL, atol=1e-5,
                               err_msg=f'{k} on {n} devices')
  assert got['au'] == one['au']
  assert got['num_sentences'] == one['num_sentences'] == 40
  assert got['num_tokens'] == one['num_tokens']
  np.testing.assert_allclose(got['iw_per_sentence'], one['iw_per_sentence'],
                             rtol=RTOL)


def test_evaluation_numbers_depend_on_the_draws(worker):
  """The equality above has teeth: other samples move each number by far
  more than the tolerance (so each device must draw the one-device
  samples, not just samples from the same distribution)."""
  ev = worker[0]['eval']
  for k in ('rec', 'mi_batch', 'mi'):
    assert abs(ev['other_draws'][k] - ev['one'][k]) > 100 * RTOL * abs(
        ev['one'][k]), k
  # K = 500 averages most of the noise away: compare sentence by sentence
  one = np.array(ev['one']['iw_per_sentence'])
  other = np.array(ev['other_draws']['iw_per_sentence'])
  assert np.max(np.abs(other - one) / np.abs(one)) > 100 * RTOL
  # a VAE whose posterior is not the prior
  assert ev['one']['kl'] > 0.05


def _params(out, name):
  with np.load(os.path.join(out, f'{name}.npz')) as f:
    return dict(f)


@pytest.mark.parametrize('resumed', ['none-1', 'shard_map-4', 'pmap-4'])
def test_checkpoint_from_two_devices_resumes_on_another_count(worker,
                                                              resumed):
  result, out = worker
  run = result['restore'][resumed]
  assert run['restored_step'] == 5 and run['final_step'] == 10
  assert run['meta'] == {'note': 'after 5 steps on 2 devices'}
  ref, got = _params(out, 'whole'), _params(out, f'resumed-{resumed}')
  start = _params(out, 'start')
  assert got.keys() == ref.keys()
  for k in ref:
    np.testing.assert_allclose(got[k], ref[k], rtol=RTOL, atol=1e-6,
                               err_msg=f'{resumed}: {k}')
  # the ten steps moved the parameters: the comparison has teeth
  assert max(np.abs(ref[k] - start[k]).max() for k in ref) > 1e-2
