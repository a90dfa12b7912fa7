"""Runs for test_device_count.py in a process with four forced CPU devices.

1. Evaluation (ELBO sums, per-minibatch MI, whole-set MI, AU, IW-NLL with
   K = 500) of a small VAE on one device (`evaluation` without an
   evaluator) and sharded over 1, 2 and 4 devices (`ShardedEvaluator`).
2. A checkpoint written after 5 steps on 2 devices, restored onto 1 and 4
   devices (shard_map and pmap) and trained 5 more steps, against 10 steps
   on 2 devices without interruption.

Prints one line `RESULT <json>`; parameters go to OUT_DIR as .npz files.

Usage: python tests/train/device_count_worker.py OUT_DIR
"""

import functools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax import schedules
from vae_jax.data import BucketedBatcher, Vocabulary, encode_split
from vae_jax.data import generate_synthetic_corpus
from vae_jax.models import build_model
from vae_jax.train import evaluation, parallel
from vae_jax.train.checkpoint import Checkpointer
from vae_jax.train.parallel_eval import ShardedEvaluator
from vae_jax.train.state import create_train_state, make_optimizer
from vae_jax.train.steps import train_step

NUM_DEVICES = 4
MODEL = dict(embed_dim=8, dec_hidden=16, enc_hidden=16, cell='gru',
             dec_dropout_in=0.0, dec_dropout_out=0.0, word_dropout=0.0,
             z_init_state=True, z_concat_input=True, init_scale=0.1,
             embed_init_scale=0.1, unroll=1, latent='gaussian', latent_dim=4)
IW_SAMPLES, IW_CHUNK = 500, 50


def flat(tree) -> dict[str, np.ndarray]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}


def corpus(num_train, num_test):
  c = generate_synthetic_corpus(seed=0, num_train=num_train, num_valid=8,
                                num_test=num_test)
  vocab = Vocabulary.build(c.splits['train'])
  return c, vocab


def evaluation_runs():
  """The same numbers from one device and from 1, 2 and 4 shards."""
  c, vocab = corpus(200, 40)
  train, _ = encode_split(c.splits['train'], vocab, max_length=None)
  test, _ = encode_split(c.splits['test'], vocab, max_length=None)
  # 40 sentences in batches of 16, one shape: the last batch has 8 real
  # rows, so on 4 devices two shards hold only padding.
  batcher = BucketedBatcher(test, batch_size=16, num_buckets=1)
  iw_batches = batcher.epoch(0, 0, shuffle=False)
  model = build_model(dict(MODEL, kind='vae'), len(vocab))
  tx = make_optimizer(name='adam', learning_rate=1e-2)
  train_b = BucketedBatcher(train, batch_size=20, num_buckets=1)
  state = create_train_state(model, tx, train_b.epoch(0, 0)[0], seed=0)
  # Ten steps at a low KL weight move the posteriors away from the prior,
  # so that the numbers depend on the samples drawn (see 'other_draws').
  step = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                   kl_schedule=schedules.constant(0.05)))
  for batch in train_b.epoch(0, 0):
    state, _ = step(state, batch)
  params = state.params
  rng = jax.random.key(5)
  out = {}
  for n in (None, 2, 4):
    ev = None if n is None else ShardedEvaluator(
        model, devices=jax.local_devices()[:n])
    res = evaluation.evaluate_split(params, model, batcher, rng,
                                    evaluator=ev)
    iw = evaluation.iw_nll_split(params, model, iw_batches,
                                 jax.random.fold_in(rng, 1),
                                 num_samples=IW_SAMPLES, chunk_size=IW_CHUNK,
                                 evaluator=ev)
    res.update(iw_nll=iw['iw_nll'], iw_ppl=iw['iw_ppl'],
               iw_per_sentence=iw['per_sentence'])
    out['one' if n is None else str(n)] = res
  # Other samples on one device: how much the numbers move with the draws.
  out['other_draws'] = evaluation.evaluate_split(params, model, batcher,
                                                 jax.random.key(6))
  out['other_draws']['iw_per_sentence'] = evaluation.iw_nll_split(
      params, model, iw_batches, jax.random.key(7), num_samples=IW_SAMPLES,
      chunk_size=IW_CHUNK)['per_sentence']
  return out


def restore_runs(out_dir):
  """Checkpoint after 5 steps on 2 devices; resume on 1 and 4 devices."""
  c, vocab = corpus(160, 8)
  seqs, _ = encode_split(c.splits['train'], vocab, max_length=None)
  batches = BucketedBatcher(seqs, batch_size=16, num_buckets=1).epoch(0, 0)
  batches = batches[:10]
  model = build_model(dict(MODEL, kind='lm', cell='lstm'), len(vocab))
  tx = make_optimizer(name='adam', learning_rate=1e-2, grad_clip=5.0)
  state = create_train_state(model, tx, batches[0], seed=0)
  step_fn = functools.partial(train_step, model=model, tx=tx,
                              kl_schedule=schedules.constant(0.0))
  devices = jax.local_devices()

  def make(kind, n):
    return parallel.make_parallel_train_step(kind, step_fn,
                                             devices=devices[:n],
                                             batch_size=16)

  def train(p, state, todo):
    placed = p.put_state(jax.tree.map(jnp.copy, state))
    for batch in todo:
      placed, m = p(placed, batch)
      jax.block_until_ready((placed, m))  # no overlapping collectives on CPU
    return p.get_state(placed)

  on_two = make('shard_map', 2)
  whole = train(on_two, state, batches)
  half = train(on_two, state, batches[:5])
  ckpt = Checkpointer(os.path.join(out_dir, 'ckpt'))
  ckpt.save(5, half, {'note': 'after 5 steps on 2 devices'})
  ckpt.close()
  np.savez(os.path.join(out_dir, 'whole.npz'), **flat(whole.params))
  np.savez(os.path.join(out_dir, 'start.npz'), **flat(state.params))
  out = {}
  for kind, n in (('none', 1), ('shard_map', 4), ('pmap', 4)):
    ckpt = Checkpointer(os.path.join(out_dir, 'ckpt'))
    # The target is a fresh one-device state, as a restarted run builds it.
    restored, meta = ckpt.restore(create_train_state(model, tx, batches[0],
                                                     seed=0))
    ckpt.close()
    resumed = train(make(kind, n), restored, batches[5:])
    np.savez(os.path.join(out_dir, f'resumed-{kind}-{n}.npz'),
             **flat(resumed.params))
    out[f'{kind}-{n}'] = {'restored_step': int(restored.step),
                          'final_step': int(resumed.step),
                          'meta': meta}
  return out


def timed(fn, *args):
  t, c = time.perf_counter(), time.process_time()
  out = fn(*args)
  print(f'{fn.__name__}: {time.perf_counter() - t:.1f} s wall, '
        f'{time.process_time() - c:.1f} s CPU', file=sys.stderr)
  return out


def main(out_dir):
  if jax.local_device_count() != NUM_DEVICES:
    raise SystemExit(f'expected {NUM_DEVICES} devices, got '
                     f'{jax.local_device_count()}: set XLA_FLAGS='
                     f'--xla_force_host_platform_device_count={NUM_DEVICES}')
  result = {'eval': timed(evaluation_runs),
            'restore': timed(restore_runs, out_dir)}
  print('RESULT ' + json.dumps(result))


if __name__ == '__main__':
  main(sys.argv[1])
