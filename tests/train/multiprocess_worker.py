"""Two-process runs for test_multiprocess.py, joined on 127.0.0.1 (gloo).

Modes:
  worker PID NUM_PROCESSES PORT OUT_DIR
      one of the processes (2 forced CPU devices each): 6 steps of a small
      LM with shard_map and with pmap over the devices of all processes, each
      process feeding its own rows of the global batch; then a few steps of
      `train_and_evaluate` (shard_map) in OUT_DIR/loop, the checkpoint it
      wrote restored by all processes; then a longer run in OUT_DIR/full
      and the same in OUT_DIR/preempt, stopped by a SIGTERM to process 0
      and resumed.
  reference NUM_PROCESSES OUT_DIR
      one process, one device: the same 6 steps on the same global batches
      (the processes' rows concatenated in process order).

Parameters go to OUT_DIR as .npz files; a line `RESULT <json>` to stdout.
"""

import functools
import json
import os
import signal
import sys
import time

# Importing JAX starts no backend: jax.distributed.initialize, which must
# come before the first computation, can still run in `worker`.
import jax
import numpy as np

from experiments.configs import synthetic_vae
from vae_jax import schedules
from vae_jax.data import (BucketedBatcher, Vocabulary, encode_split,
                          generate_synthetic_corpus)
from vae_jax.models import build_model
from vae_jax.train import distributed, loop, parallel, restore
from vae_jax.train.checkpoint import Checkpointer, SaveTimer
from vae_jax.train.inputs import prepare_inputs
from vae_jax.train.interrupt import TrainingInterrupted
from vae_jax.train.logging_utils import MetricWriter
from vae_jax.train.state import create_train_state, make_optimizer
from vae_jax.train.steps import train_step

STEPS = 6
GLOBAL_BATCH = 16
MODEL = dict(kind='lm', embed_dim=8, dec_hidden=16, enc_hidden=16,
             cell='gru', dec_dropout_in=0.0, dec_dropout_out=0.0,
             word_dropout=0.0, z_init_state=True, z_concat_input=True,
             init_scale=0.1, embed_init_scale=0.1, unroll=1,
             latent='gaussian', latent_dim=4)


def flat(tree):
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}


def setup(index, count):
  """Model, optimizer, initial state, step and this process's batches."""
  corpus = generate_synthetic_corpus(seed=0, num_train=160, num_valid=8,
                                     num_test=8)
  vocab = Vocabulary.build(corpus.splits['train'])
  seqs, _ = encode_split(corpus.splits['train'], vocab, max_length=None)
  whole = BucketedBatcher(seqs, batch_size=GLOBAL_BATCH, num_buckets=2)
  shards = [distributed.ProcessShard(seqs, global_batch_size=GLOBAL_BATCH,
                                     boundaries=whole.boundaries,
                                     pad_id=vocab.pad_id, bos_id=vocab.bos_id,
                                     index=i, count=count)
            for i in range(count)]
  per_process = [s.epoch(0, 0)[:STEPS] for s in shards]
  model = build_model(MODEL, len(vocab))
  # SGD, not Adam: Adam's update hardly changes when every gradient is
  # scaled (a reduction that sums where it should average would pass),
  # and it magnifies rounding noise; with SGD at this rate a gradient 2x
  # too large moves some parameter by 0.72 over the 6 steps (measured).
  tx = make_optimizer(name='sgd', learning_rate=0.2, grad_clip=5.0)
  state = create_train_state(model, tx, whole.epoch(0, 0)[0], seed=0)
  step_fn = functools.partial(train_step, model=model, tx=tx,
                              kl_schedule=schedules.constant(0.0))
  return state, step_fn, per_process


def train(kind, step_fn, state, batches):
  p = parallel.make_parallel_train_step(kind, step_fn,
                                        batch_size=GLOBAL_BATCH)
  placed = p.put_state(state)
  sentences = 0.0
  for batch in batches:
    placed, m = p(placed, batch)
    jax.block_until_ready((placed, m))  # no overlapping collectives on CPU
    sentences += float(m['num_sentences'])
  return p.get_state(placed), sentences


def loop_config():
  c = synthetic_vae.get_config('smoke')
  c.model.kind, c.model.cell = 'lm', 'rnn'
  c.data.synthetic_train, c.data.synthetic_valid = 96, 32
  c.data.synthetic_test, c.data.num_buckets = 32, 1
  c.data.eval_batch_size = 32
  c.train.batch_size, c.train.max_steps = GLOBAL_BATCH, 4
  c.train.log_every_steps, c.train.checkpoint_every_steps = 2, 3
  c.train.parallel = 'shard_map'
  c.eval.num_generate, c.eval.max_decode_length = 1, 4
  return c


def restore_latest(config, workdir):
  """The loop's latest checkpoint, restored onto a fresh one-device state."""
  _, state, meta = restore.restore_checkpoint(
      config, workdir, prepare_inputs(config, workdir))
  return state, meta


def loop_run(out_dir):
  """A few steps of train_and_evaluate over both processes."""
  c = loop_config()
  workdir = os.path.join(out_dir, 'loop')
  test = loop.train_and_evaluate(c, workdir)
  state, meta = restore_latest(c, workdir)
  return test, int(state.step), meta, flat(state.params), jax.device_count()


def preempt_config():
  c = loop_config()
  c.train.max_steps = 12                # two epochs of 6 steps
  c.train.log_every_steps = 1
  c.train.checkpoint_every_steps = 100  # none by the step count
  # a timer shorter than a step: process 0's decision, broadcast at each
  # log step (every step here), saves every step on both processes
  c.train.checkpoint_every_minutes = 1e-7
  return c


SIGNAL_AT_STEP = 2


def preempt_run(pid, out_dir):
  """The run of `preempt_config` uninterrupted, then again with a SIGTERM to
  process 0 when it logs step SIGNAL_AT_STEP, resumed to the end.

  The uninterrupted run comes first: JAX's preemption service answers True
  for the agreed step from then on, in any later run of these processes.
  """
  c = preempt_config()
  full_dir, workdir = (os.path.join(out_dir, d) for d in ('full', 'preempt'))
  real_save, saved_steps = Checkpointer.save, []

  def save(self, step, *a, **k):
    if self.directory.endswith('latest'):
      saved_steps.append(step)
    return real_save(self, step, *a, **k)
  # process 1's clock stands still (never late): it saves only if it
  # follows process 0's broadcast decision
  real_init = SaveTimer.__init__

  def init(self, every_sec, clock=None):
    real_init(self, every_sec, clock=(lambda: 0.0) if pid else time.monotonic)
  Checkpointer.save, SaveTimer.__init__ = save, init
  try:
    loop.train_and_evaluate(c, full_dir)
  finally:
    Checkpointer.save, SaveTimer.__init__ = real_save, real_init
  real_write = MetricWriter.write

  def write(self, split, step, *a, **k):  # every process, every step
    out = real_write(self, split, step, *a, **k)
    if split == 'train' and step == SIGNAL_AT_STEP and pid == 0:
      os.kill(os.getpid(), signal.SIGTERM)
    if split == 'train' and step >= SIGNAL_AT_STEP:
      # steps of a real run's length: the notice takes under a second to
      # reach every process (0.8 s measured), these steps only milliseconds
      time.sleep(0.3)
    return out
  MetricWriter.write = write
  try:
    loop.train_and_evaluate(c, workdir)
    stopped = None
  except TrainingInterrupted as e:
    stopped = {'step': e.step, 'exit_code': e.exit_code}
  finally:
    MetricWriter.write = real_write
  saved, meta = restore_latest(c, workdir)
  result = {'stopped': stopped, 'saved_step': int(saved.step),
            'saved_batch': meta['batch_in_epoch'],
            'timer_saves': saved_steps}
  test = loop.train_and_evaluate(c, workdir)  # resumes
  full, _ = restore_latest(c, full_dir)
  resumed, _ = restore_latest(c, workdir)
  with open(os.path.join(full_dir, 'final.json')) as f:
    result['same_test'] = json.load(f)['test'] == test
  result['final_steps'] = [int(full.step), int(resumed.step)]
  result['same_params'] = all(
      np.array_equal(a, b) for a, b in zip(jax.tree.leaves(full.params),
                                           jax.tree.leaves(resumed.params)))
  return result


def worker(pid, count, port, out_dir):
  assert distributed.maybe_initialize(
      coordinator_address=f'127.0.0.1:{port}', num_processes=count,
      process_id=pid, initialization_timeout=60)
  state, step_fn, per_process = setup(pid, count)
  result = {'process': pid}
  for kind in ('shard_map', 'pmap'):
    final, sentences = train(kind, step_fn, state, per_process[pid])
    np.savez(os.path.join(out_dir, f'{kind}-p{pid}.npz'), **flat(final.params))
    result[kind] = {'step': int(final.step), 'sentences': sentences}
  test, step, meta, params, devices = loop_run(out_dir)
  np.savez(os.path.join(out_dir, f'loop-p{pid}.npz'), **params)
  result['loop'] = {'test': test, 'restored_step': step, 'meta_epoch':
                    meta['epoch'], 'devices': devices}
  result['preempt'] = preempt_run(pid, out_dir)
  print('RESULT ' + json.dumps(result), flush=True)


def reference(count, out_dir):
  state, step_fn, per_process = setup(0, count)
  # Step t's global batch: the processes' rows in process order.
  batches = [{k: np.concatenate([b[t][k] for b in per_process])
              for k in per_process[0][t]} for t in range(STEPS)]
  final, sentences = train('none', step_fn, state, batches)
  np.savez(os.path.join(out_dir, 'reference.npz'), **flat(final.params))
  print('RESULT ' + json.dumps({'step': int(final.step),
                                'sentences': sentences}), flush=True)


if __name__ == '__main__':
  if sys.argv[1] == 'worker':
    worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
  else:
    reference(int(sys.argv[2]), sys.argv[3])
