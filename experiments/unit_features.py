r"""What a VAE's active units encode: each one's r with surface features.

  python -m experiments.unit_features --workdir=runs/ptb_vae_word_dropout \
      --data_dir=../shared/data/ptb [--split=test] [--checkpoint=best]

Encodes every sentence of the split with the run's checkpoint, takes the
active units (variance of the posterior mean >= 0.01) and prints, a unit a
row, Pearson's r of its posterior mean with the sentence's length in words,
its share of <unk> tokens and its share of number tokens; writes the same
to <workdir>/unit_features_<split>.json. See
`vae_jax.analysis.unit_features`.
"""

import json
import os
import sys

from absl import app, flags

flags.DEFINE_string('workdir', None, 'Run directory of a trained VAE.',
                    required=True)
flags.DEFINE_string('data_dir', None, "Overrides the run's data directory.")
flags.DEFINE_enum('split', 'test', ['train', 'valid', 'test'],
                  'The sentences to encode.')
flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'], 'Which one.')
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  # pylint: disable=g-import-not-at-top
  import numpy as np
  from vae_jax.analysis import unit_features
  from vae_jax.data import DataError
  from vae_jax.train.evaluation import encode_split
  from vae_jax.train.restore import batch_dependence_note, load_trained_vae
  # pylint: enable=g-import-not-at-top
  try:
    _, model, params, inputs, step, epoch = load_trained_vae(
        FLAGS.workdir, purpose='it has no latent units',
        data_dir=FLAGS.data_dir, splits=(FLAGS.split,), which=FLAGS.checkpoint)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  post = encode_split(params, model, inputs.batchers[FLAGS.split])
  means = np.asarray(post.mean(), np.float64)
  seqs = inputs.sequences[FLAGS.split]
  features = unit_features.sentence_features(seqs, inputs.vocab)
  rows = unit_features.unit_correlations(means, features)
  run = os.path.basename(os.path.normpath(FLAGS.workdir))
  print(f'{run} ({FLAGS.split}, {FLAGS.checkpoint} @ epoch {epoch}, step '
        f'{step}): {len(seqs)} sentences, {len(rows)} of {means.shape[1]} '
        'units active')
  print('feature means: ' + ', '.join(f'{k} {v.mean():.3f}'
                                      for k, v in features.items()))
  note = batch_dependence_note(model)
  if note:
    print(note)
  if rows:
    print(unit_features.markdown_table(rows))
  out = os.path.join(FLAGS.workdir, f'unit_features_{FLAGS.split}.json')
  with open(out, 'w') as f:
    json.dump({'split': FLAGS.split, 'checkpoint': FLAGS.checkpoint,
               'step': step, 'epoch': epoch, 'num_sentences': len(seqs),
               'latent_dim': int(means.shape[1]), 'active_units': len(rows),
               'feature_means': {k: float(v.mean())
                                 for k, v in features.items()},
               'units': rows, 'batch_dependent': note is not None},
              f, indent=2)
  print('written:', out)


if __name__ == '__main__':
  app.run(main)
