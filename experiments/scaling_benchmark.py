r"""Data-parallel training speed against the number of devices.

For the PTB LSTM LM or VAE (experiments/configs/ptb_{lm,vae}.py: embedding
256, LSTM 256, vocabulary 10,002) it trains on 1, 2, 4, ... devices with
each data-parallel form (`train.parallel` = shard_map, pmap; and 'none' on
one device as the baseline) and prints training tokens/s (real tokens,
words + </s>), the speed-up over one device of the same form and the
efficiency (speed-up / devices). Weak scaling: every device gets
--batch_per_device sentences, so the global batch grows with the count.

The sentences are random ids of one length (--sentence_length words), so
every step has the same shape and compiles once per form and count; the
timed steps come after one compiling call and one warm-up call.

  python -m experiments.scaling_benchmark --model=lm --devices=1,2,4,8

On a CPU, forced host devices (XLA_FLAGS=--xla_force_host_platform_device_
count=4) only check that the forms run: they share the machine's cores, so
more devices cannot be faster, and each step is waited on (collectives of
overlapping steps can hang on host devices). On GPUs and TPUs the steps are
dispatched back to back and waited on at the end.

Several hosts: start one process per host with the flags of
experiments/train.py (--coordinator_address, --num_processes, --process_id,
or srun); it then times the forms over all devices of all processes, each
process feeding its own rows, and process 0 prints the table. Compare with
a one-process run of the same binary for the speed-up across hosts.
"""

import json
import time

from absl import app, flags

from experiments import flags_common

FLAGS = flags.FLAGS
flags_common.define_distributed_flags()
flags.DEFINE_enum('model', 'lm', ['lm', 'vae'], 'PTB model configuration.')
flags.DEFINE_list('devices', [], 'Device counts to run (default 1, 2, 4, ... '
                  'up to all local devices).')
flags.DEFINE_list('kinds', ['shard_map', 'pmap'], 'Data-parallel forms.')
flags.DEFINE_integer('batch_per_device', 32, 'Sentences per device a step.')
flags.DEFINE_integer('sentence_length', 21, 'Words a sentence (PTB mean 21).')
flags.DEFINE_integer('steps', 20, 'Timed steps per run.')
flags.DEFINE_string('json_out', None, 'Also write the results here.')

VOCAB = 10002  # PTB's, with <pad> <s> </s> <unk>


def default_counts(available: int) -> list[int]:
  counts, n = [], 1
  while n <= available:
    counts.append(n)
    n *= 2
  if counts[-1] != available:
    counts.append(available)
  return counts


def run(kind: str, n: int, *, config, model, tx, sync_each_step: bool):
  """Tokens/s of `kind` on the first n local devices (all devices, with
  several processes)."""
  # pylint: disable=g-import-not-at-top
  import jax
  import numpy as np
  from vae_jax.data import BucketedBatcher
  from vae_jax.train.loop import make_train_step
  from vae_jax.train.state import create_train_state
  batch = FLAGS.batch_per_device * n
  processes = jax.process_count()
  rows = batch // processes  # this process's rows of every batch
  length = FLAGS.sentence_length + 1  # + </s>
  rng = np.random.default_rng(jax.process_index())
  seqs = [np.append(rng.integers(4, VOCAB, length - 1), 2).astype(np.int32)
          for _ in range(rows * 2)]
  batches = BucketedBatcher(seqs, batch_size=rows,
                            boundaries=(length,)).epoch(0, 0)
  config = config.copy_and_resolve_references()
  config.train.parallel, config.train.batch_size = kind, batch
  step = make_train_step(
      config, model, tx, len(batches),
      devices=jax.devices() if processes > 1 else jax.local_devices()[:n])
  state = step.put_state(create_train_state(model, tx, batches[0],
                                            seed=config.seed))
  t0 = time.perf_counter()
  for i in range(2):  # compile, then one warm-up call
    state, m = step(state, batches[i % len(batches)])
    jax.block_until_ready((state, m))
    if i == 0:
      compile_s = time.perf_counter() - t0
  tokens = 0
  t0 = time.perf_counter()
  for i in range(FLAGS.steps):
    b = batches[i % len(batches)]
    state, m = step(state, b)
    tokens += int(b['length'].sum()) * processes  # same length everywhere
    if sync_each_step:
      jax.block_until_ready((state, m))
  jax.block_until_ready((state, m))
  seconds = time.perf_counter() - t0
  return {'kind': kind, 'devices': n, 'global_batch': batch,
          'step_ms': 1e3 * seconds / FLAGS.steps,
          'tokens_per_s': tokens / seconds, 'compile_s': compile_s,
          'loss_per_sentence': float(m['loss_sum'] / m['num_sentences'])}


def markdown_table(rows: list[dict]) -> str:
  base = {r['kind']: r['tokens_per_s'] for r in rows if r['devices'] == 1}
  lines = ['| form | devices | global batch | step ms | tokens/s | speed-up '
           '| efficiency | first call s |',
           '| --- | --- | --- | --- | --- | --- | --- | --- |']
  for r in rows:
    speedup = (f"{r['tokens_per_s'] / base[r['kind']]:.2f} | "
               f"{r['tokens_per_s'] / base[r['kind']] / r['devices']:.2f}"
               if r['kind'] in base else '- | -')
    lines.append(f"| {r['kind']} | {r['devices']} | {r['global_batch']} | "
                 f"{r['step_ms']:.1f} | {r['tokens_per_s']:,.0f} | "
                 f"{speedup} | {r['compile_s']:.1f} |")
  return '\n'.join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  flags_common.initialize_distributed()  # before any computation
  # pylint: disable=g-import-not-at-top
  import jax
  from experiments.configs import ptb_lm, ptb_vae
  from vae_jax.models import build_model
  from vae_jax.train.state import make_optimizer
  config = (ptb_lm if FLAGS.model == 'lm' else ptb_vae).get_config()
  model = build_model(config.model, VOCAB)
  t = config.train
  tx = make_optimizer(name=t.optimizer, learning_rate=t.learning_rate,
                      grad_clip=t.grad_clip, momentum=t.momentum)
  available = jax.local_device_count()
  counts = ([int(n) for n in FLAGS.devices] if FLAGS.devices
            else default_counts(available))
  if max(counts) > available:
    raise app.UsageError(f'--devices asks for {max(counts)} devices; '
                         f'{available} are visible')
  processes = jax.process_count()
  chief = jax.process_index() == 0
  if processes > 1:  # every device of every process
    counts = [jax.device_count()]
  platform = jax.local_devices()[0].platform
  sync = platform == 'cpu'
  say = print if chief else (lambda *a, **k: None)
  say(f'{processes} process(es) x {available} {platform} devices '
      f'({jax.local_devices()[0].device_kind}); model {FLAGS.model}; '
      f'{FLAGS.batch_per_device} sentences of {FLAGS.sentence_length} words '
      f'a device; {FLAGS.steps} timed steps'
      + ('; each step waited on (CPU)' if sync else ''), flush=True)
  rows = []
  if processes == 1:  # the baseline: the plain jitted step
    rows.append(run('none', 1, config=config, model=model, tx=tx,
                    sync_each_step=sync))
  for kind in FLAGS.kinds:
    for n in counts:
      rows.append(run(kind, n, config=config, model=model, tx=tx,
                      sync_each_step=sync))
      say(f"{kind} on {n}: {rows[-1]['tokens_per_s']:,.0f} tokens/s",
          flush=True)
  say(markdown_table(rows))
  if FLAGS.json_out and chief:
    with open(FLAGS.json_out, 'w') as f:
      json.dump({'platform': platform, 'devices': jax.device_count(),
                 'processes': processes,
                 'device_kind': jax.local_devices()[0].device_kind,
                 'model': FLAGS.model, 'rows': rows}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
