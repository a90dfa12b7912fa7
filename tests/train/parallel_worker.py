"""Multi-device runs for test_parallel.py, in a process of its own.

The forced CPU device count (XLA_FLAGS=--xla_force_host_platform_device_count)
must be set before JAX initialises, so test_parallel.py runs this file in a
subprocess and reads what it writes: parameters as .npz files under the
output directory and everything else as JSON on stdout.

Usage: python tests/train/parallel_worker.py OUT_DIR
"""

import functools
import json
import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from vae_jax import schedules
from vae_jax.data import BucketedBatcher, Vocabulary, encode_split
from vae_jax.data import generate_synthetic_corpus
from vae_jax.distributions.gaussian import DiagGaussianPosterior
from vae_jax.models import build_model
from vae_jax.models.latents import GaussianLatent
from vae_jax.train import parallel
from vae_jax.train.losses import kl_objective_term
from vae_jax.train.state import create_train_state, make_optimizer
from vae_jax.train.steps import step_keys, train_step

NUM_DEVICES = 4
BATCH = 16
STEPS = 10
# No dropout: with it each shard draws its own masks (see `step_keys`).
MODEL = dict(embed_dim=8, dec_hidden=16, enc_hidden=16, cell='lstm',
             dec_dropout_in=0.0, dec_dropout_out=0.0, word_dropout=0.0,
             z_init_state=True, z_concat_input=True, init_scale=0.1,
             embed_init_scale=0.1, unroll=1, latent='gaussian', latent_dim=4)
KINGMA_THRESHOLD = 18.0


class NearlyDeterministicLatent(nn.Module):
  """A Gaussian head with log-variances shifted to -40 / -34.

  The latent noise is the one draw left in a VAE step without dropout, and
  each shard draws its own; at std <= e^-17 it changes z by less than float
  rounding, so runs over different device counts must agree to float
  tolerance. The KL stays a real function of the parameters (about 19.5 and
  16.5 nats per dimension, on either side of KINGMA_THRESHOLD).
  """
  latent_dim: int

  @nn.compact
  def __call__(self, features):
    post = GaussianLatent(self.latent_dim, init_scale=0.1)(features)
    shift = jnp.where(jnp.arange(self.latent_dim) % 2 == 0, -40.0, -34.0)
    return DiagGaussianPosterior(loc=post.loc, log_var=post.log_var + shift)


def flat(tree) -> dict[str, np.ndarray]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}


def floats(tree) -> dict[str, float]:
  return {k: float(v) for k, v in tree.items()}


def data():
  corpus = generate_synthetic_corpus(seed=0, num_train=200, num_valid=10,
                                     num_test=10)
  vocab = Vocabulary.build(corpus.splits['train'])
  seqs, _ = encode_split(corpus.splits['train'], vocab, max_length=None)
  batcher = BucketedBatcher(seqs, batch_size=BATCH, num_buckets=1)
  # One shape; the last batch has 8 real rows, so on 4 devices two shards
  # hold only padding.
  batches = batcher.epoch(0, 0, shuffle=False)[-STEPS:]
  assert (batches[-1]['length'] > 0).sum() == 8
  return vocab, batches


def run(kind, step_fn, state, batches, devices, out_dir, name):
  p = parallel.make_parallel_train_step(kind, step_fn, devices=devices,
                                        batch_size=BATCH)
  # A copy: the step donates the state it is given.
  placed = p.put_state(jax.tree.map(jnp.copy, state))
  metrics = []
  for i, batch in enumerate(batches):
    placed, m = p(placed, batch)
    jax.block_until_ready((placed, m))  # no overlapping collectives on CPU
    metrics.append(floats(m))
    if i in (0, len(batches) - 1):
      host = p.get_state(placed)
      np.savez(os.path.join(out_dir, f'{name}-step{i + 1}.npz'),
               **flat(host.params))
  assert host.params is not None and int(host.step) == len(batches)
  return {'step1': metrics[0], f'step{len(batches)}': metrics[-1],
          'devices': sorted({d.id for x in jax.tree.leaves(host)
                             for d in x.devices()})}


def equivalence(out_dir, vocab, batches):
  devices = jax.local_devices()
  out = {}
  for model_kind in ('lm', 'vae'):
    # The VAE with plain tanh cells: half the compile time of two LSTMs (the
    # LM covers the LSTM), and the test is about the step, not the cell.
    cell = 'rnn' if model_kind == 'vae' else 'lstm'
    model = build_model(dict(MODEL, kind=model_kind, cell=cell), len(vocab))
    if model_kind == 'vae':
      model = model.clone(latent=NearlyDeterministicLatent(MODEL['latent_dim']))
    tx = make_optimizer(name='sgd', learning_rate=0.5, grad_clip=5.0)
    state = create_train_state(model, tx, batches[0], seed=0)
    step_fn = functools.partial(
        train_step, model=model, tx=tx, kl_schedule=schedules.constant(1.0),
        kl_mode='free_bits_kingma' if model_kind == 'vae' else 'standard',
        kl_threshold=KINGMA_THRESHOLD)
    out[f'{model_kind}-none-1'] = run('none', step_fn, state, batches, None,
                                      out_dir, f'{model_kind}-none-1')
    for kind in ('pmap', 'shard_map'):
      for n in (1, 2, 4) if model_kind == 'lm' else (1, 4):  # compile time
        name = f'{model_kind}-{kind}-{n}'
        out[name] = run(kind, step_fn, state, batches, devices[:n], out_dir,
                        name)
  return out


def indivisible_errors(vocab, batches):
  model = build_model(dict(MODEL, kind='lm'), len(vocab))
  tx = make_optimizer(name='sgd', learning_rate=0.5)
  step_fn = functools.partial(train_step, model=model, tx=tx,
                              kl_schedule=schedules.constant(1.0))
  out = {}
  for kind in ('pmap', 'shard_map'):
    try:
      parallel.make_parallel_train_step(kind, step_fn, batch_size=6)
      out[f'{kind}-make'] = None
    except ValueError as e:
      out[f'{kind}-make'] = str(e)
    p = parallel.make_parallel_train_step(kind, step_fn)
    try:
      p.put_batch({k: v[:6] for k, v in batches[0].items()})
      out[f'{kind}-put_batch'] = None
    except ValueError as e:
      out[f'{kind}-put_batch'] = str(e)
  return out


def shard_keys():
  """Per-shard step keys: key data of the dropout stream per shard."""
  rng, step = jax.random.key(3), jnp.int32(7)
  out = {'unsharded': np.asarray(
      jax.random.key_data(step_keys(rng, step)['dropout'])).tolist()}
  for n in (1, NUM_DEVICES):
    mesh = parallel.data_mesh(jax.local_devices()[:n])
    f = jax.jit(jax.shard_map(
        lambda: jax.random.key_data(step_keys(
            rng, step, axis_name=parallel.AXIS)['dropout'])[None],
        mesh=mesh, in_specs=(), out_specs=P(parallel.AXIS)))
    out[str(n)] = np.asarray(f()).tolist()
  return out


def kingma_free_bits(threshold=1.0, groups=0):
  """Value and gradient of the Kingma free-bits term, whole batch vs shards.

  kl_per_dim = c * theta^2 with per-shard means on both sides of the
  threshold (1.0) in each dimension, and per-shard totals on both sides of
  2.5 (for groups=1), so a per-shard floor would differ.
  """
  c = jnp.array([[0.2, 3.0], [0.4, 2.0],    # shard 0: means 0.3, 2.5
                 [2.0, 0.1], [3.0, 0.1],    # shard 1: means 2.5, 0.1
                 [1.0, 0.2], [0.0, 0.0],    # shard 2: one real row
                 [0.9, 0.3], [0.0, 0.0]])   # shard 3: one real row
  mask = jnp.array([1, 1, 1, 1, 1, 0, 1, 0], bool)
  theta = jnp.array([1.1, 0.9])

  def term(theta, c, mask, axis_name=None):
    kpd = c * theta**2
    out = {'kl_per_dim': kpd, 'kl': kpd.sum(-1)}
    return kl_objective_term(out, mask, mode='free_bits_kingma',
                             threshold=threshold, groups=groups,
                             axis_name=axis_name)

  value, grad = jax.value_and_grad(term)(theta, c, mask)

  def body(theta, c, mask, axis_name):
    v, g = jax.value_and_grad(term)(
        jax.lax.pcast(theta, parallel.AXIS, to='varying'), c, mask, axis_name)
    return jax.lax.psum(v, parallel.AXIS), jax.lax.psum(g, parallel.AXIS)

  mesh = parallel.data_mesh()
  out = {'whole': [float(value)] + np.asarray(grad).tolist()}
  for name, axis in (('sharded', parallel.AXIS), ('per_shard_floor', None)):
    f = jax.jit(jax.shard_map(functools.partial(body, axis_name=axis),
                              mesh=mesh,
                              in_specs=(P(), P(parallel.AXIS), P(parallel.AXIS)),
                              out_specs=(P(), P())))
    v, g = f(theta, c, mask)
    out[name] = [float(v)] + np.asarray(g).tolist()
  return out


def loop_run(out_dir):
  """Smoke run of the training loop with shard_map over 4 devices (1 epoch).

  Returns the per-epoch sentence count (each training sentence counted once
  across devices), the test metrics, and the latest checkpoint's step as
  restored onto a one-device state, as a later run on any device count would.
  """
  # pylint: disable=g-import-not-at-top
  from experiments.configs import synthetic_vae
  from vae_jax.train import loop
  from vae_jax.train.checkpoint import Checkpointer
  from vae_jax.train.inputs import prepare_inputs
  from vae_jax.train.logging_utils import read_metrics
  c = synthetic_vae.get_config('smoke')
  c.data.synthetic_train, c.data.synthetic_valid = 96, 32
  c.data.synthetic_test = 32
  c.train.max_epochs, c.train.batch_size = 1, BATCH
  c.train.log_every_steps, c.train.checkpoint_every_steps = 3, 4
  c.train.eval_diagnostics = False
  c.train.parallel = 'shard_map'
  c.data.num_buckets, c.model.cell = 1, 'rnn'  # fewer and faster compiles
  c.eval.num_generate, c.eval.max_decode_length = 2, 8
  workdir = os.path.join(out_dir, 'loop')
  test = loop.train_and_evaluate(c, workdir)
  epochs = [r for r in read_metrics(os.path.join(workdir, 'metrics.jsonl'))
            if r['split'] == 'train_epoch']
  inputs = prepare_inputs(c, workdir)
  model, tx = loop.build_everything(c, inputs)
  target = loop.init_state(c, model, tx, inputs)
  ckpt = Checkpointer(os.path.join(workdir, 'checkpoints', 'latest'))
  state, _ = ckpt.restore(target)
  ckpt.close()
  return {'epoch_sentences': [r['num_sentences'] for r in epochs],
          'train_sentences': c.data.synthetic_train,
          'steps': inputs.batchers['train'].num_batches,
          'restored_step': int(state.step),
          'restored_devices': sorted({d.id for x in jax.tree.leaves(
              state.params) for d in x.devices()}),
          'test_neg_elbo': test['neg_elbo']}


def main(out_dir):
  if jax.local_device_count() != NUM_DEVICES:
    raise SystemExit(f'expected {NUM_DEVICES} devices, got '
                     f'{jax.local_device_count()}: set XLA_FLAGS='
                     f'--xla_force_host_platform_device_count={NUM_DEVICES}')
  vocab, batches = data()
  result = {'runs': equivalence(out_dir, vocab, batches),
            'errors': indivisible_errors(vocab, batches),
            'shard_keys': shard_keys(),
            'kingma': kingma_free_bits(),
            'kingma_total': kingma_free_bits(threshold=2.5, groups=1),
            'loop': loop_run(out_dir)}
  print('RESULT ' + json.dumps(result))


if __name__ == '__main__':
  main(sys.argv[1])
