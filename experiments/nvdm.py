r"""NVDM (Miao et al. 2016) on bag-of-words Yahoo Answers documents.

Trains on the documents of `val.txt` (all but --heldout drawn at random,
which choose the best epoch), evaluates on `test.txt`, and writes to --workdir:
vocab.txt, metrics.jsonl, plots/, final.json (test document perplexity from
the ELBO and from the IW bound) and topics.txt (the top words of the first
latent dimensions: the largest entries of each row of the decoder matrix).

  python -m experiments.nvdm --data_dir=../shared/data/yahoo \
      --workdir=/work/runs/nvdm_yahoo
"""

import json
import os
import sys

from absl import app
from absl import flags
import jax
import numpy as np

from vae_jax import plotting
from vae_jax.data import bow
from vae_jax.data.download import ensure_files
from vae_jax.data.errors import DataError
from vae_jax.models.nvdm import NVDM, top_words
from vae_jax.train.doc_loop import fit_document_model, heldout_summary
from vae_jax.train.doc_steps import evaluate_documents
from vae_jax.train.logging_utils import MetricWriter, log

_DATA = flags.DEFINE_string('data_dir', '../shared/data/yahoo',
                            'Directory with val.txt and test.txt.')
_DOWNLOAD = flags.DEFINE_bool('download', False, 'Fetch missing files into '
                              '--data_dir (sha256-checked) where a network '
                              'exists.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                               required=True)
_VOCAB = flags.DEFINE_integer('vocab_size', 2000, 'Most frequent words kept.')
_LATENT = flags.DEFINE_integer('latent_dim', 50, 'Latent dimension D.')
_HIDDEN = flags.DEFINE_integer('hidden', 500, 'Encoder hidden units.')
_ACT = flags.DEFINE_enum('activation', 'tanh', ['tanh', 'relu'],
                         'Encoder non-linearity.')
_BATCH = flags.DEFINE_integer('batch_size', 64, 'Documents per step.')
_LR = flags.DEFINE_float('learning_rate', 5e-4, 'Adam learning rate.')
_EPOCHS = flags.DEFINE_integer('epochs', 100, 'Maximum epochs.')
_SECONDS = flags.DEFINE_float('max_seconds', 600.0,
                              'Stop after the epoch that passes this budget.')
_HELDOUT = flags.DEFINE_integer('heldout', 1000,
                                'val.txt documents (a seeded random draw) '
                                'held out for model selection.')
_ELBO_S = flags.DEFINE_integer('elbo_samples', 20,
                               'Samples of the test reconstruction term.')
_IW_S = flags.DEFINE_integer('iw_samples', 100, 'K of the test IW bound.')
_TOP = flags.DEFINE_integer('top_dims', 10, 'Latent rows listed in topics.txt.')
_SEED = flags.DEFINE_integer('seed', 0, 'Parameters, order and samples.')


def main(argv):
  del argv
  workdir = _WORKDIR.value
  try:
    paths = ensure_files('yahoo', _DATA.value, ['val.txt', 'test.txt'],
                         download=_DOWNLOAD.value)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  train_docs = bow.read_documents(paths['val.txt'])
  test_docs = bow.read_documents(paths['test.txt'])
  if not 0 < _HELDOUT.value < len(train_docs):
    raise ValueError(f'--heldout={_HELDOUT.value} must be in (0, '
                     f'{len(train_docs)})')
  # val.txt is grouped by topic (1,000 documents of each of the 10 Yahoo
  # Answers classes, in order), so the held-out documents are a random draw,
  # not the last lines (which would be one whole class never trained on).
  pick = np.random.default_rng(_SEED.value).permutation(len(train_docs))
  fit_docs = [train_docs[i] for i in np.sort(pick[_HELDOUT.value:])]
  heldout_docs = [train_docs[i] for i in np.sort(pick[:_HELDOUT.value])]
  vocab = bow.build_bow_vocabulary(fit_docs, _VOCAB.value)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'vocab.txt'), 'w') as f:
    f.write('\n'.join(vocab) + '\n')
  splits = {}
  for name, docs in (('train', fit_docs),
                     ('heldout', heldout_docs),
                     ('test', test_docs)):
    counts = bow.count_matrix(docs, vocab)
    keep = counts.sum(1) > 0
    splits[name] = counts[keep]
    log(f'{name}: {keep.sum()} documents ({(~keep).sum()} without a '
        f'vocabulary word dropped), {counts.sum():.0f} words')
  model = NVDM(vocab_size=len(vocab), latent_dim=_LATENT.value,
               hidden=(_HIDDEN.value,), activation=_ACT.value)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  if os.path.exists(metrics_path):
    os.remove(metrics_path)  # no resume: a rerun starts over
  params, history = fit_document_model(
      model, splits['train'], splits['heldout'], workdir_metrics=metrics_path,
      seed=_SEED.value, batch_size=_BATCH.value,
      learning_rate=_LR.value, max_epochs=_EPOCHS.value,
      max_seconds=_SECONDS.value)
  best_epoch = int(np.argmin([h['neg_elbo'] for h in history])) + 1
  per_doc = evaluate_documents(params, model, bow.bow_batches(
      splits['test'], 100), jax.random.key(_SEED.value + 2),
      elbo_samples=_ELBO_S.value, iw_samples=_IW_S.value)
  test = heldout_summary(per_doc)
  topics = top_words(np.asarray(params['decoder']['kernel']), vocab,
                     num_dims=_TOP.value)
  with open(os.path.join(workdir, 'topics.txt'), 'w') as f:
    for d, words in enumerate(topics):
      f.write(f'z{d:<3d} ' + ' '.join(words) + '\n')
  with open(os.path.join(workdir, 'final.json'), 'w') as f:
    json.dump({'test': test, 'best_epoch': best_epoch,
               'epochs': len(history), 'vocab_size': len(vocab)}, f, indent=2)
  MetricWriter(metrics_path).write('test', 0, best_epoch, **test)
  plotting.plot_run(workdir)
  log(f'test ({test["num_docs"]} documents, best epoch {best_epoch}): '
      f'-ELBO {test["neg_elbo"]:.2f}, KL {test["kl"]:.2f}, document '
      f'perplexity {test["ppl"]:.1f} (ELBO), {test["iw_ppl"]:.1f} (IW, K='
      f'{_IW_S.value})')
  log('top words of the first latent dimensions:\n'
      + '\n'.join(f'  z{d}: ' + ' '.join(w) for d, w in enumerate(topics)))


if __name__ == '__main__':
  app.run(main)
