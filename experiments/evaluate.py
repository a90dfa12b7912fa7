r"""Evaluates a trained run as the papers do: `python -m experiments.evaluate`.

LM: NLL per sentence and perplexity (eos counted, bos not).
VAE: -ELBO, reconstruction, KL, importance-weighted NLL with K samples and
its perplexity, mutual information (whole-set aggregate-posterior estimator
`mi`, Li et al. 2020 code; per-minibatch estimator `mi_batch`, He et al.
2019 code) and active units (Cov_x(E_q[z]) > 0.01).

  python -m experiments.evaluate --workdir=runs/ptb_vae \
      --data_dir=../shared/data/ptb --iw_samples=500

Writes <workdir>/eval_<split>.json and eval_<split>.md. Stopped during the
IW-NLL (35 minutes for PTB's test set at K = 500 on two CPU cores), the same
command goes on from the batches it finished (kept in
eval_<split>.iw_partial.json until the results are written). With more than one
device (or process: the flags of experiments/train.py) the batches are split
over all of them, with the numbers of one device up to float rounding.
"""

import json
import os
import sys
import time

from absl import app, flags

from experiments import flags_common, ptb_rows
from experiments.configs import default

flags.DEFINE_string('workdir', None, 'Run directory of a training run.',
                    required=True)
flags.DEFINE_string('data_dir', None, 'Overrides the run\'s data directory.')
flags.DEFINE_enum('split', 'test', ['valid', 'test'], 'Split to evaluate.')
flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'],
                  'Which checkpoint to evaluate.')
flags.DEFINE_integer('iw_samples', None, 'K of the IW-NLL (default: the '
                     'config\'s eval.iw_samples, 500 for the PTB configs); '
                     '0 skips it.')
flags.DEFINE_integer('seed', 0, 'Seed of the evaluation samples.')
flags.DEFINE_enum('parallel', 'auto', ['auto', 'none', 'shard_map'],
                  'Split evaluation batches over devices: auto does when '
                  'there is more than one and they divide the batch size; '
                  'none uses one device.')
flags_common.define_iw_batching_flags()
flags_common.define_distributed_flags()
flags_common.define_runtime_flags()
FLAGS = flags.FLAGS

ROWS = [('neg_elbo', '-ELBO'), ('rec', 'reconstruction'), ('kl', 'KL'),
        ('iw_nll', 'IW-NLL'), ('iw_ppl', 'PPL (IW)'), ('ppl', 'PPL (ELBO)'),
        ('mi', 'MI (whole set)'), ('mi_batch', 'MI (per minibatch)'),
        ('au', 'AU'), ('kappa_mean', 'kappa (mean)'),
        ('kappa_p10', 'kappa (10th percentile)'),
        ('kappa_p90', 'kappa (90th percentile)')]  # a learned vMF kappa


def markdown_table(results: dict, title: str) -> str:
  lines = [f'| {title} | value |', '| --- | --- |']
  for key, label in ROWS:
    if key in results:
      v = results[key]
      lines.append(f'| {label} | {ptb_rows.two_decimals(v)} |'
                   if isinstance(v, float) else f'| {label} | {v} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  flags_common.quiet_library_logs()
  flags_common.apply_runtime_flags()  # before the first computation
  flags_common.initialize_distributed()
  import jax  # pylint: disable=g-import-not-at-top
  from vae_jax.data import DataError  # pylint: disable=g-import-not-at-top
  from vae_jax.train import evaluation  # pylint: disable=g-import-not-at-top
  from vae_jax.train import iw_resume  # pylint: disable=g-import-not-at-top
  from vae_jax.train.distributed import is_chief  # pylint: disable=g-import-not-at-top
  from vae_jax.train.logging_utils import format_duration  # pylint: disable=g-import-not-at-top
  from vae_jax.train.parallel_eval import ShardedEvaluator  # pylint: disable=g-import-not-at-top
  from vae_jax.train.restore import load_trained  # pylint: disable=g-import-not-at-top
  try:
    config, model, params, inputs, step, epoch = load_trained(
        FLAGS.workdir, data_dir=FLAGS.data_dir, which=FLAGS.checkpoint,
        splits=(FLAGS.split,))
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  batcher = inputs.batchers[FLAGS.split]
  evaluator = None
  n, rows = jax.device_count(), next(iter(batcher.shapes))[0]
  if FLAGS.parallel == 'shard_map' or (FLAGS.parallel == 'auto' and n > 1):
    if FLAGS.parallel == 'auto' and rows % n:
      print(f'evaluating on one device: the run\'s data.eval_batch_size '
            f'{rows} does not split over {n} devices', flush=True)
    else:
      evaluator = ShardedEvaluator(model)
  key = jax.random.key(FLAGS.seed)
  base = os.path.join(FLAGS.workdir, f'eval_{FLAGS.split}')
  partial = None
  t0 = time.time()
  try:
    results = evaluation.evaluate_split(params, model, batcher,
                                        jax.random.fold_in(key, 0),
                                        evaluator=evaluator)
  except ValueError as e:  # an evaluation batch the devices do not divide
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  results['devices'] = 1 if evaluator is None else evaluator.num_devices
  results['seconds_elbo_mi_au'] = time.time() - t0
  if model.__class__.__name__ == 'RNNLanguageModel':
    results['nll'] = results['rec']
    results.pop('kl', None)
    results.pop('neg_elbo', None)
  k = config.eval.iw_samples if FLAGS.iw_samples is None else FLAGS.iw_samples
  if evaluation.is_vae(model) and k > 0:
    t1 = time.time()
    start = 0.0  # the share of the tokens an interrupted run scored

    def progress(done, total, fraction):
      if is_chief() and (done % max(total // 20, 1) == 0 or done == total):
        eta = ((time.time() - t1) / max(fraction - start, 1e-9)
               * (1 - fraction))
        print(f'IW-NLL K={k}: batch {done}/{total}, {100 * fraction:.0f} % '
              f'of the tokens, ETA {format_duration(eta)}', flush=True)

    # A run from before a key existed gets today's default; flags override.
    today = default.get_config().eval
    setting = lambda name, flag: (flag if flag else
                                  config.eval.get(name, today[name]))
    chunk = setting('iw_chunk', FLAGS.iw_chunk)
    memory_mb = setting('iw_memory_mb', None)
    iw_b = evaluation.iw_batcher(
        inputs.sequences[FLAGS.split],
        batch_size=setting('batch_size', FLAGS.iw_batch_size),
        num_buckets=setting('iw_buckets', FLAGS.iw_buckets),
        pad_id=inputs.vocab.pad_id, bos_id=inputs.vocab.bos_id,
        rows_multiple_of=1 if evaluator is None else evaluator.num_devices)
    batches = iw_b.epoch(0, 0, shuffle=False)
    print(f'IW-NLL K={k}: {len(batches)} batches of '
          f'{next(iter(iw_b.shapes))[0]} sentences in {len(iw_b.shapes)} '
          f'length bucket{"s" if len(iw_b.shapes) != 1 else ""} '
          f'({100 * iw_b.padding_fraction:.1f} % padding), '
          f'at most {chunk} samples a decoder pass', flush=True)
    partial = iw_resume.PartialIW(base + '.iw_partial.json', {
        'checkpoint': FLAGS.checkpoint, 'step': step, 'split': FLAGS.split,
        'iw_samples': k, 'seed': FLAGS.seed, 'chunk': chunk,
        'memory_mb': memory_mb, 'batches': iw_resume.batches_fingerprint(
            batches),
        'devices': 1 if evaluator is None else evaluator.num_devices},
                                  enabled=is_chief())
    completed = partial.load()
    if completed:
      tokens = [float(b['length'].sum()) for b in batches]
      start = sum(tokens[i] for i in completed) / sum(tokens)
      print(f'IW-NLL K={k}: going on from an interrupted evaluation '
            f'({partial.path}): {len(completed)} of {len(batches)} batches, '
            f'{100 * start:.0f} % of the tokens, done', flush=True)
    elif partial.ignored:
      print(f'IW-NLL K={k}: {partial.path} not used ({partial.ignored}); '
            'starting over', flush=True)
    iw = evaluation.iw_nll_split(params, model, batches,
                                 jax.random.fold_in(key, 1), num_samples=k,
                                 chunk_size=chunk, memory_mb=memory_mb,
                                 progress=progress, evaluator=evaluator,
                                 completed=completed, on_batch=partial.save)
    results.update(iw_nll=iw['iw_nll'], iw_ppl=iw['iw_ppl'], iw_samples=k,
                   iw_batch_size=next(iter(iw_b.shapes))[0],
                   iw_buckets=list(iw_b.boundaries),
                   iw_padding_fraction=iw_b.padding_fraction,
                   iw_chunks=iw['chunks'], seconds_iw=time.time() - t1,
                   iw_batches_resumed=len(completed))
  results.update(split=FLAGS.split, checkpoint=FLAGS.checkpoint, step=step,
                 epoch=epoch)
  if not is_chief():  # process 0 writes
    return
  with open(base + '.json', 'w') as f:
    json.dump(results, f, indent=2)
  if partial is not None:
    partial.remove()
  title = (f'{os.path.basename(os.path.normpath(FLAGS.workdir))} '
           f'({FLAGS.split}, {FLAGS.checkpoint} @ epoch {epoch}, '
           f'step {step})')
  if 'nll' in results:
    table = (f'| {title} | value |\n| --- | --- |\n'
             f'| NLL | {results["nll"]:.2f} |\n| PPL | {results["ppl"]:.2f} |\n')
  else:
    table = markdown_table(results, title)
  with open(base + '.md', 'w') as f:
    f.write(table)
  print(table)
  print('written:', base + '.json', base + '.md')


if __name__ == '__main__':
  app.run(main)
