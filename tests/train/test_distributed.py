"""Multi-process start-up decisions and per-process data shards (no JAX
computation: the two-process runs are in test_multiprocess.py)."""

import numpy as np
import pytest

from vae_jax.train import distributed

SLURM_ONE_TASK = {'SLURM_JOB_ID': '7', 'SLURM_PROCID': '0',
                  'SLURM_NTASKS': '1', 'SLURM_STEP_NODELIST': 'node1',
                  'SLURM_LOCALID': '0'}


@pytest.mark.parametrize('env,expected', [
    ({}, None),
    ({'HOME': '/root'}, None),
    (SLURM_ONE_TASK, None),  # a one-task job is one process, as before
    (dict(SLURM_ONE_TASK, SLURM_NTASKS='4'), 'slurm'),
    (dict(SLURM_ONE_TASK, SLURM_NTASKS='4', SLURM_STEP_NUM_TASKS='4'),
     'slurm'),  # srun with 4 tasks
    # the batch step of an sbatch --ntasks=4 script: one process
    (dict(SLURM_ONE_TASK, SLURM_NTASKS='4', SLURM_STEP_NUM_TASKS='1'), None),
    ({'OMPI_MCA_orte_hnp_uri': 'x', 'OMPI_COMM_WORLD_SIZE': '1'}, None),
    ({'OMPI_MCA_orte_hnp_uri': 'x', 'OMPI_COMM_WORLD_SIZE': '8'}, 'openmpi'),
    ({'JAX_COORDINATOR_ADDRESS': '10.0.0.1:1234'},
     'JAX_COORDINATOR_ADDRESS'),
    ({'TPU_WORKER_HOSTNAMES': 'localhost'}, None),  # a single-host TPU VM
    ({'TPU_WORKER_HOSTNAMES': 'w0,w1,w2,w3'}, 'tpu'),
])
def test_cluster_from_env(env, expected):
  assert distributed.cluster_from_env(env) == expected


def test_single_machine_runs_do_not_initialize(monkeypatch):
  calls = []
  monkeypatch.setattr(distributed.jax.distributed, 'initialize',
                      lambda **kw: calls.append(kw))
  assert not distributed.maybe_initialize(env={})
  assert not distributed.maybe_initialize(env=SLURM_ONE_TASK)
  assert not distributed.maybe_initialize(
      mode='off', coordinator_address='h:1', num_processes=2, process_id=0)
  assert calls == []
  # flags, a cluster in the environment, or mode 'on' do
  assert distributed.maybe_initialize(coordinator_address='h:1',
                                      num_processes=2, process_id=1, env={})
  assert distributed.maybe_initialize(env=dict(SLURM_ONE_TASK,
                                               SLURM_NTASKS='2'))
  assert distributed.maybe_initialize(mode='on', env={})
  assert calls[0]['coordinator_address'] == 'h:1'
  assert calls[0]['num_processes'] == 2 and calls[0]['process_id'] == 1
  assert calls[1]['coordinator_address'] is None  # JAX reads the environment
  assert len(calls) == 3


def test_some_but_not_all_flags_is_a_clear_error():
  with pytest.raises(ValueError, match='give all of --coordinator_address'):
    distributed.maybe_initialize(coordinator_address='h:1', env={})
  with pytest.raises(ValueError, match='choose auto, on or off'):
    distributed.maybe_initialize(mode='yes')


def _sequences(n, seed=0):
  rng = np.random.default_rng(seed)
  return [np.append(rng.integers(4, 50, int(rng.integers(1, 30))), 2)
          .astype(np.int32) for _ in range(n)]


def test_process_shards_make_whole_global_batches():
  seqs = _sequences(203)
  shards = [distributed.ProcessShard(seqs, global_batch_size=16,
                                     boundaries=(10, 20, 31), pad_id=0,
                                     bos_id=1, index=i, count=4)
            for i in range(4)]
  epochs = [s.epoch(3, 1) for s in shards]
  assert len({len(e) for e in epochs}) == 1
  assert all(s.num_batches == len(epochs[0]) for s in shards)
  seen = []
  for step in zip(*epochs):
    # one shape a step, 4 rows a process, no padding rows (whole groups)
    assert len({b['ids'].shape for b in step}) == 1
    assert all(b['ids'].shape[0] == 4 for b in step)
    index = np.concatenate([b['index'] for b in step])
    assert (index >= 0).all()
    seen.extend(index.tolist())
  # every sentence at most once an epoch; only incomplete groups are left out
  assert len(seen) == len(set(seen))
  assert len(seqs) - len(seen) < 3 * 16


def test_process_shard_needs_a_divisible_batch():
  with pytest.raises(ValueError, match='not divisible by the process count 3'):
    distributed.ProcessShard(_sequences(20), global_batch_size=16,
                             boundaries=(31,), pad_id=0, bos_id=1, index=0,
                             count=3)
