r"""A 2-D map of a VAE's latent space over sentences of several corpora.

  python -m experiments.latent_map --workdir=runs/ptb_vae \
      --corpus=ptb=../shared/data/ptb/ptb.test.txt \
      --corpus=yelp=../shared/data/text_autoencoders/yelp/test.txt

Encodes up to --max_sentences random lines of each corpus (one tokenised
sentence a line, words split on whitespace, mapped through the run's
vocabulary: words it does not know become <unk>, and the rate is
reported), projects the posterior means onto their first two principal
axes and draws them a colour per corpus (<workdir>/plots/latent_map.png
unless --out; for a Gaussian latent at the prior's scale, with its 1 and
2 sd circles). Prints and writes beside the figure (.json) how well the
corpora separate: the held-out balanced accuracy of a nearest-centroid
classifier from the posterior means (in the map and in the whole latent
space) and from one posterior sample a sentence, the code the decoder
reads (0.5 for two corpora is chance; a collapsed VAE is there from the
samples, though its means may still separate by tiny amounts). See
`vae_jax.analysis.latent_map`.
"""

import json
import os
import sys

from absl import app, flags

flags.DEFINE_string('workdir', None, 'Run directory of a trained VAE.',
                    required=True)
flags.DEFINE_string('data_dir', None, "Overrides the run's data directory.")
flags.DEFINE_multi_string('corpus', [], 'NAME=PATH of a corpus (repeat, at '
                          'least two).')
flags.DEFINE_integer('max_sentences', 2000, 'Lines drawn from each corpus.')
flags.DEFINE_integer('seed', 0, 'Seed of the draw.')
flags.DEFINE_enum('checkpoint', 'best', ['best', 'latest'], 'Which one.')
flags.DEFINE_string('out', None, 'Figure path (default: '
                    '<workdir>/plots/latent_map.png); the .json goes beside.')
flags.DEFINE_string('title', None, 'Figure title (default: the run).')
FLAGS = flags.FLAGS


def parse_corpora(specs: list[str]) -> list[tuple[str, str]]:
  out = []
  for spec in specs:
    name, sep, path = spec.partition('=')
    if not sep or not name or not path:
      raise app.UsageError(f'--corpus={spec!r}: expected NAME=PATH')
    out.append((name, path))
  if len(out) < 2:
    raise app.UsageError('give at least two --corpus=NAME=PATH')
  if len({n for n, _ in out}) != len(out):
    raise app.UsageError('the --corpus names must differ')
  return out


def read_lines(path: str, max_sentences: int, seed: int) -> list[list[str]]:
  """Up to max_sentences non-empty lines as word lists, a seeded draw in
  file order."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  with open(path, encoding='utf-8') as f:
    lines = [line.split() for line in f]
  lines = [w for w in lines if w]
  if len(lines) > max_sentences:
    keep = np.sort(np.random.default_rng(seed).choice(
        len(lines), max_sentences, replace=False))
    lines = [lines[i] for i in keep]
  return lines


def main(argv):
  del argv
  from experiments.flags_common import quiet_library_logs  # pylint: disable=g-import-not-at-top
  quiet_library_logs()
  corpora = parse_corpora(FLAGS.corpus)
  for name, path in corpora:
    if not os.path.isfile(path):
      print(f'error: corpus {name}: no file {path!r}', file=sys.stderr)
      sys.exit(1)
  # pylint: disable=g-import-not-at-top
  import jax
  import numpy as np
  from vae_jax.analysis import latent_map
  from vae_jax.data import BucketedBatcher, DataError
  from vae_jax.train.evaluation import encode_split
  from vae_jax.train.restore import batch_dependence_note, load_trained_vae
  try:
    config, model, params, inputs, step, epoch = load_trained_vae(
        FLAGS.workdir, purpose='it has no latent space to map',
        data_dir=FLAGS.data_dir, splits=('valid',), which=FLAGS.checkpoint)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  vocab = inputs.vocab
  max_len = int(config.data.get('max_length', 0) or 0)
  seqs, labels, stats = [], [], {}
  for i, (name, path) in enumerate(corpora):
    lines = read_lines(path, FLAGS.max_sentences, FLAGS.seed + i)
    if len(lines) < 2:
      print(f'error: corpus {name} ({path}) has {len(lines)} non-empty '
            'line(s); at least 2 are needed', file=sys.stderr)
      sys.exit(1)
    words = unk = 0
    for w in lines:
      w = w[:max_len] if max_len else w
      ids = vocab.encode(w)
      words += len(ids)
      unk += int(np.sum(ids == vocab.unk_id))
      seqs.append(np.concatenate([ids, [vocab.eos_id]]).astype(np.int32))
      labels.append(i)
    stats[name] = {'path': path, 'sentences': len(lines), 'words': words,
                   'unk_rate': unk / max(words, 1)}
  labels = np.asarray(labels)
  batcher = BucketedBatcher(seqs, batch_size=256, num_buckets=4,
                            pad_id=vocab.pad_id, bos_id=vocab.bos_id)
  post = encode_split(params, model, batcher)
  means = np.asarray(post.mean(), np.float64)
  samples = np.asarray(post.sample(jax.random.key(FLAGS.seed), 1)[0],
                       np.float64)
  gaussian = config.model.latent == 'gaussian'
  # Projected as they are: the origin is the prior's mean.
  coords, explained = latent_map.principal_axes(means, centre=False)
  acc_map = latent_map.centroid_accuracy(coords, labels)
  acc_full = latent_map.centroid_accuracy(means, labels)
  acc_sample = latent_map.centroid_accuracy(means, labels, queries=samples)
  names = [n for n, _ in corpora]
  out = FLAGS.out or os.path.join(FLAGS.workdir, 'plots', 'latent_map.png')
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  title = FLAGS.title or (f'{os.path.basename(os.path.normpath(FLAGS.workdir))}'
                          f' (epoch {epoch}, step {step}): posterior means')
  latent_map.plot_latent_map(
      coords, labels, names, out, title=title, explained=explained,
      prior_scale=1.0 if gaussian else None,
      subtitle=(f'corpus told apart (held out) from the means: '
                f'{acc_map:.2f} in 2-D, {acc_full:.2f} in {means.shape[1]}-D;'
                f'\nfrom z ~ q(z|x): {acc_sample:.2f}'))
  note = batch_dependence_note(model)
  result = {'workdir': FLAGS.workdir, 'step': step, 'epoch': epoch,
            'checkpoint': FLAGS.checkpoint, 'corpora': stats,
            'latent_dim': int(means.shape[1]),
            'explained_variance': [float(v) for v in explained],
            'centroid_accuracy_map': acc_map,
            'centroid_accuracy_latent': acc_full,
            'centroid_accuracy_sample': acc_sample,
            'mean_spread': float(np.sqrt(np.mean(np.var(means, axis=0)))),
            'batch_dependent': note is not None}
  with open(os.path.splitext(out)[0] + '.json', 'w') as f:
    json.dump(result, f, indent=1)
  for name in names:
    s = stats[name]
    print(f'{name}: {s["sentences"]} sentences, {s["words"]} words, '
          f'{100 * s["unk_rate"]:.1f} % unknown to the run\'s vocabulary')
  print(f'principal axes: {100 * explained[0]:.1f} % and '
        f'{100 * explained[1]:.1f} % of the variance of the posterior means '
        f'(rms spread per dimension {result["mean_spread"]:.3g})')
  print(f'nearest-centroid accuracy (held out, balanced; chance '
        f'{1 / len(names):.2f}): from the posterior means {acc_map:.3f} in '
        f'the map and {acc_full:.3f} in the {means.shape[1]}-dimensional '
        f'latent space; from one z ~ q(z|x) a sentence (what the decoder '
        f'reads) {acc_sample:.3f}')
  if note:
    print(note)
  print(f'figure: {out}')


if __name__ == '__main__':
  app.run(main)
