r"""Samples, reconstructions and interpolations from a trained run.

  python -m experiments.generate --workdir=runs/synthetic_vae --num=10
  python -m experiments.generate --workdir=runs/synthetic_vae \
      --sentences="the chef praised the soup ." --sample
  python -m experiments.generate --workdir=runs/synthetic_vae \
      --interpolate="sentence one|sentence two" --steps=5
  python -m experiments.generate --workdir=runs/ptb_vae --ban_unk

Prior samples (z ~ p(z)) for a VAE, or samples from the LM; with
--sentences, reconstructions from the posterior's mode (the mean of a
Gaussian posterior, the mean direction of a vMF, the most probable code of a
discrete one) and from a posterior sample; with --interpolate, greedy
decodings along the line between the two posterior modes (the great
circle for a vMF latent). Greedy decoding unless --sample; --ban_unk keeps
<unk> out of the output.
"""

import sys

from absl import app, flags

flags.DEFINE_string('workdir', None, 'Run directory of a training run.',
                    required=True)
flags.DEFINE_string('data_dir', None, 'Overrides the run\'s data directory.')
flags.DEFINE_integer('num', 10, 'Number of prior samples.')
flags.DEFINE_bool('sample', False, 'Sample each token instead of argmax.')
flags.DEFINE_string('sentences', None, '|-separated sentences to reconstruct.')
flags.DEFINE_string('interpolate', None, 'Two |-separated sentences.')
flags.DEFINE_integer('steps', 5, 'Interpolation points (ends included).')
flags.DEFINE_integer('max_length', 40, 'Longest generated sentence.')
flags.DEFINE_integer('seed', 0, 'Sampling seed.')
flags.DEFINE_bool('ban_unk', False,
                  'Never generate <unk> (greedy decoding of a PTB model '
                  'otherwise often repeats it to the length limit).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from experiments.flags_common import quiet_library_logs  # pylint: disable=g-import-not-at-top
  quiet_library_logs()
  # pylint: disable=g-import-not-at-top
  import jax
  import jax.numpy as jnp
  import numpy as np
  from vae_jax.analysis import generation
  from vae_jax.analysis.decoding import decode
  from vae_jax.data import BucketedBatcher, DataError
  from vae_jax.models import SentenceVAE
  from vae_jax.train.restore import load_trained
  try:
    config, model, params, inputs, step, epoch = load_trained(
        FLAGS.workdir, data_dir=FLAGS.data_dir, splits=('valid',))
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  vocab = inputs.vocab
  key = jax.random.key(FLAGS.seed)
  greedy = not FLAGS.sample
  is_vae = isinstance(model, SentenceVAE)
  print(f'== {"prior" if is_vae else "LM"} samples '
        f'({"greedy" if greedy else "sampled"}), epoch {epoch}, step {step} ==')
  for s in generation.prior_samples(params, model, vocab, key, num=FLAGS.num,
                                    max_length=FLAGS.max_length, greedy=greedy,
                                    ban_unk=FLAGS.ban_unk):
    print(s)

  def as_batch(sentences):
    seqs = [vocab.encode(s.split() + [vocab.EOS]) for s in sentences]
    b = BucketedBatcher(seqs, batch_size=len(seqs), num_buckets=1,
                        pad_id=vocab.pad_id, bos_id=vocab.bos_id)
    batch = b.epoch(0, 0, shuffle=False)[0]
    order = np.argsort(batch['index'])
    return {k: np.asarray(v)[order] for k, v in batch.items()}

  if FLAGS.sentences and is_vae:
    sents = [s.strip() for s in FLAGS.sentences.split('|') if s.strip()]
    batch = as_batch(sents)
    modes = generation.reconstructions(params, model, vocab, batch, key,
                                       max_length=FLAGS.max_length,
                                       greedy=greedy, use_mode=True,
                                       ban_unk=FLAGS.ban_unk)
    samples = generation.reconstructions(params, model, vocab, batch,
                                         jax.random.fold_in(key, 1),
                                         max_length=FLAGS.max_length,
                                         greedy=greedy, use_mode=False,
                                         ban_unk=FLAGS.ban_unk)
    print('\n== reconstructions ==')
    for s, m, z in zip(sents, modes, samples):
      print(f'x        : {s}\nmode z   : {m}\nz ~ q    : {z}\n')
  if FLAGS.interpolate and is_vae:
    ends = [s.strip() for s in FLAGS.interpolate.split('|')]
    if len(ends) != 2:
      raise app.UsageError('--interpolate takes exactly two |-separated '
                           'sentences')
    batch = as_batch(ends)
    post = model.apply({'params': params}, batch['ids'], batch['length'],
                       method=SentenceVAE.encode)
    mode = post.mode()
    t = jnp.linspace(0.0, 1.0, FLAGS.steps)
    z = generation.interpolate(mode[0], mode[1], FLAGS.steps,
                               spherical=config.model.latent == 'vmf')
    ids = decode(params, model, z, key, batch=FLAGS.steps,
                 max_length=FLAGS.max_length, bos_id=vocab.bos_id,
                 eos_id=vocab.eos_id, pad_id=vocab.pad_id, greedy=True,
                 banned_ids=generation.banned_ids(vocab, FLAGS.ban_unk))
    print('\n== interpolation between posterior modes ==')
    for ti, s in zip(np.asarray(t), generation.ids_to_text(vocab, ids)):
      print(f'{ti:.2f}  {s}')


if __name__ == '__main__':
  app.run(main)
