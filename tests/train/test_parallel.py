"""Data-parallel train steps: pmap and shard_map over 1, 2 and 4 devices.

The multi-device runs happen in one subprocess (parallel_worker.py) with four
forced CPU devices, since the device count is fixed when JAX initialises;
the assertions are here, on what it writes.
"""

import os

import numpy as np
import pytest

import worker_process

CASES = [(model, kind, n) for model in ('lm', 'vae')
         for kind in ('pmap', 'shard_map')
         for n in ((1, 2, 4) if model == 'lm' else (1, 4))]


@pytest.fixture(scope='module')
def worker(tmp_path_factory):
  out = tmp_path_factory.mktemp('parallel')
  return worker_process.run('parallel_worker.py', out, devices=4), out


def _params(out, name, step):
  with np.load(os.path.join(out, f'{name}-step{step}.npz')) as f:
    return dict(f)


@pytest.mark.parametrize('model,kind,n', CASES)
@pytest.mark.parametrize('step', [1, 10])
def test_update_equals_one_device_on_the_global_batch(worker, model, kind, n,
                                                      step):
  result, out = worker
  ref = _params(out, f'{model}-none-1', step)
  got = _params(out, f'{model}-{kind}-{n}', step)
  assert got.keys() == ref.keys()
  for k in ref:
    np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6,
                               err_msg=f'{model} {kind} on {n} devices, '
                               f'step {step}, {k}')
  if step == 10:  # training moved the parameters: a comparison with teeth
    first = _params(out, f'{model}-none-1', 1)
    assert max(np.abs(ref[k] - first[k]).max() for k in ref) > 1e-2
  # metrics are global sums, identical to the one-device step's
  for which in ('step1', 'step10'):
    m, m_ref = result['runs'][f'{model}-{kind}-{n}'][which], result['runs'][
        f'{model}-none-1'][which]
    assert m.keys() == m_ref.keys()
    for k in m_ref:
      np.testing.assert_allclose(m[k], m_ref[k], rtol=1e-5, err_msg=k)
  assert result['runs'][f'{model}-{kind}-{n}']['step10']['num_sentences'] == 8


def test_get_state_returns_state_on_the_first_device(worker):
  result, _ = worker
  for name, run in result['runs'].items():
    assert run['devices'] == [0], name


@pytest.mark.parametrize('kind', ['pmap', 'shard_map'])
@pytest.mark.parametrize('where', ['make', 'put_batch'])
def test_indivisible_batch_is_a_clear_error(worker, kind, where):
  msg = worker[0]['errors'][f'{kind}-{where}']
  assert msg is not None, 'no error raised'
  assert 'batch size 6' in msg and 'device count 4' in msg, msg


def test_each_shard_draws_its_own_noise(worker):
  keys = worker[0]['shard_keys']
  assert keys['1'] == [keys['unsharded']]  # one device: the unsharded key
  assert len({tuple(k) for k in keys['4']}) == 4, keys['4']


def test_kingma_free_bits_floor_is_on_the_global_minibatch(worker):
  k = worker[0]['kingma']
  # hand-computed: dim 0 mean 7.5 * 1.21 / 6 > 1 is above the floor, dim 1
  # mean 5.7 * 0.81 / 6 < 1 is not: 6 * (1.5125 + 1) and d/dtheta_0 only
  np.testing.assert_allclose(k['whole'], [6 * 2.5125, 2 * 1.1 * 7.5, 0.0],
                             rtol=1e-6)
  np.testing.assert_allclose(k['sharded'], k['whole'], rtol=1e-6)
  # a floor on each shard's own mean would be wrong here
  assert abs(k['per_shard_floor'][0] - k['whole'][0]) > 0.1


def test_kingma_free_bits_on_groups_is_on_the_global_minibatch(worker):
  k = worker[0]['kingma_total']
  # one group, the total KL: its batch mean (7.5 * 1.21 + 5.7 * 0.81) / 6
  # = 2.282 is below the floor 2.5, so the term is 6 * 2.5, no gradient
  np.testing.assert_allclose(k['whole'], [6 * 2.5, 0.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(k['sharded'], k['whole'], rtol=1e-6)
  # shard 1's own total (3.1) is above it: a per-shard floor would differ
  assert abs(k['per_shard_floor'][0] - k['whole'][0]) > 0.1


def test_loop_smoke_shard_map_on_four_devices(worker):
  """Smoke test of train_and_evaluate with train.parallel='shard_map'."""
  run = worker[0]['loop']
  # every training sentence counted once, not once per device
  assert run['epoch_sentences'] == [run['train_sentences']]
  # the checkpoint holds one copy and restores onto a single device
  assert run['restored_step'] == run['steps']
  assert run['restored_devices'] == [0]
  assert np.isfinite(run['test_neg_elbo'])
