r"""Semantic hashing with the Bernoulli mixture prior (BMSH) against LSH.

Task 'sentiment' (default): the Yelp sentences of Shen et al. (2017) in
--data_dir (../shared/data/yelp). The database, which is also the training
set, is sentiment.test.{0,1}; --num_queries queries are drawn from
sentiment.dev.{0,1} and --heldout other dev sentences choose the best epoch.
Task 'domain': Yelp (label 0) against Yahoo (label 1) sentences of
../shared/data/text_autoencoders (test.txt: database, valid.txt: queries).

Reports precision@k by Hamming distance of our codes and of the baseline:
sign random projections of tf-idf (idf of the database) with the same number
of bits, plus the chance level (the label agreement of a random ranking).
Writes metrics.jsonl, plots/, vocab.txt and final.json to --workdir.

  python -m experiments.hashing --data_dir=../shared/data/yelp \
      --workdir=/work/runs/hashing_yelp
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
from vae_jax.diagnostics.retrieval import (precision_at_k,
                                           random_projection_codes)
from vae_jax.models.hashing import BernoulliMixtureHashing
from vae_jax.train.doc_loop import fit_document_model
from vae_jax.train.logging_utils import MetricWriter, log

_TASK = flags.DEFINE_enum('task', 'sentiment', ['sentiment', 'domain'],
                          'Which labels define relevance.')
_DATA = flags.DEFINE_string('data_dir', '../shared/data/yelp',
                            'sentiment: the Yelp directory with '
                            'sentiment.{test,dev}.{0,1}; domain: the '
                            'text_autoencoders directory with yelp/ and '
                            'yahoo/.')
_DOWNLOAD = flags.DEFINE_bool('download', False, 'Fetch missing files into '
                              '--data_dir (sha256-checked) where a network '
                              'exists.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.',
                               required=True)
_VOCAB = flags.DEFINE_integer('vocab_size', 2000, 'Most frequent words kept.')
_BITS = flags.DEFINE_integer('num_bits', 32, 'Hash code length m.')
_COMPONENTS = flags.DEFINE_integer('num_components', 10,
                                   'Mixture components C.')
_HIDDEN = flags.DEFINE_integer('hidden', 500, 'Units of both encoder layers.')
_BATCH = flags.DEFINE_integer('batch_size', 100, 'Documents per step.')
_LR = flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate.')
_EPOCHS = flags.DEFINE_integer('epochs', 20, 'Maximum epochs.')
_SECONDS = flags.DEFINE_float('max_seconds', 480.0,
                              'Stop after the epoch that passes this budget.')
_QUERIES = flags.DEFINE_integer('num_queries', 1000, 'Query documents.')
_HELDOUT = flags.DEFINE_integer('heldout', 2000,
                                'Held-out documents for model selection.')
_K = flags.DEFINE_integer('k', 100, 'Precision@k.')
_MAX_DB = flags.DEFINE_integer('max_db', 0, 'Use a random subset of this many '
                               'database documents (0: all; quick checks).')
_SEED = flags.DEFINE_integer('seed', 0, 'Parameters, samples, query draw, '
                             'tie-breaks and the baseline projection.')

_FILES = {
    'sentiment': ([('sentiment.test.0', 0), ('sentiment.test.1', 1)],
                  [('sentiment.dev.0', 0), ('sentiment.dev.1', 1)]),
    'domain': ([('yelp/test.txt', 0), ('yahoo/test.txt', 1)],
               [('yelp/valid.txt', 0), ('yahoo/valid.txt', 1)]),
}


# the corpus of vae_jax.data.download whose files each task reads
_CORPUS = {'sentiment': 'yelp', 'domain': 'text_autoencoders'}


def _labelled(files):
  docs, labels = [], []
  for name, label in files:
    part = bow.read_documents(os.path.join(_DATA.value, name))
    docs += part
    labels += [label] * len(part)
  return docs, np.asarray(labels)


def main(argv):
  del argv
  workdir = _WORKDIR.value
  db_files, query_files = _FILES[_TASK.value]
  try:
    ensure_files(_CORPUS[_TASK.value], _DATA.value,
                 [name for name, _ in db_files + query_files],
                 download=_DOWNLOAD.value)
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  db_docs, db_labels = _labelled(db_files)
  dev_docs, dev_labels = _labelled(query_files)
  if _MAX_DB.value:
    sub = np.random.default_rng(_SEED.value).permutation(
        len(db_docs))[:_MAX_DB.value]
    db_docs, db_labels = [db_docs[i] for i in sub], db_labels[sub]
  vocab = bow.build_bow_vocabulary(db_docs, _VOCAB.value)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'vocab.txt'), 'w') as f:
    f.write('\n'.join(vocab) + '\n')

  def nonempty(docs, labels, name):
    counts = bow.count_matrix(docs, vocab)
    keep = counts.sum(1) > 0
    log(f'{name}: {keep.sum()} documents ({(~keep).sum()} without a '
        f'vocabulary word dropped), label 1: {labels[keep].mean():.3f}')
    return counts[keep], labels[keep]

  db_counts, db_labels = nonempty(db_docs, db_labels, 'database (train)')
  dev_counts, dev_labels = nonempty(dev_docs, dev_labels, 'dev')
  need = _QUERIES.value + _HELDOUT.value
  if need > len(dev_counts):
    raise ValueError(f'--num_queries + --heldout = {need} is more than the '
                     f'{len(dev_counts)} dev documents')
  pick = np.random.default_rng(_SEED.value).permutation(len(dev_counts))
  q_idx, h_idx = pick[:_QUERIES.value], pick[_QUERIES.value:need]
  q_counts, q_labels = dev_counts[q_idx], dev_labels[q_idx]

  model = BernoulliMixtureHashing(
      vocab_size=len(vocab), num_bits=_BITS.value,
      num_components=_COMPONENTS.value, hidden=(_HIDDEN.value,) * 2)
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  if os.path.exists(metrics_path):
    os.remove(metrics_path)  # no resume: a rerun starts over
  params, history = fit_document_model(
      model, db_counts, dev_counts[h_idx], workdir_metrics=metrics_path,
      seed=_SEED.value, batch_size=_BATCH.value, learning_rate=_LR.value,
      max_epochs=_EPOCHS.value, max_seconds=_SECONDS.value, elbo_samples=1)
  best_epoch = int(np.argmin([h['neg_elbo'] for h in history])) + 1

  codes_fn = jax.jit(lambda p, c: model.apply({'params': p}, c,
                                              method=model.hash_codes))
  encode = lambda counts: np.concatenate([
      np.asarray(codes_fn(params, b['counts']))[b['index'] >= 0]
      for b in bow.bow_batches(counts, 1000)])
  db_codes, q_codes = encode(db_counts), encode(q_counts)
  k, seed = _K.value, _SEED.value
  ours = precision_at_k(q_codes, q_labels, db_codes, db_labels, k=k, seed=seed)
  tfidf_db = bow.tf_idf(db_counts)
  tfidf_q = bow.tf_idf(q_counts, db_counts)
  base = precision_at_k(
      random_projection_codes(tfidf_q, _BITS.value, seed=seed), q_labels,
      random_projection_codes(tfidf_db, _BITS.value, seed=seed), db_labels,
      k=k, seed=seed)
  chance = float(np.mean(np.where(q_labels == 1, db_labels.mean(),
                                  1 - db_labels.mean())))
  bits_used = int(np.sum(db_codes.std(0) > 0))
  result = {'task': _TASK.value, 'num_bits': _BITS.value, 'k': k,
            f'precision@{k}': ours,
            f'baseline_tfidf_lsh_precision@{k}': base,
            'chance_precision': chance, 'bits_varying_over_db': bits_used,
            'distinct_db_codes': int(len(np.unique(db_codes, axis=0))),
            'num_queries': int(len(q_codes)), 'num_db': int(len(db_codes)),
            'best_epoch': best_epoch, 'epochs': len(history),
            'heldout': history[best_epoch - 1]}
  with open(os.path.join(workdir, 'final.json'), 'w') as f:
    json.dump(result, f, indent=2)
  MetricWriter(metrics_path).write('test', 0, best_epoch, **{
      k_: v for k_, v in result.items() if isinstance(v, (int, float))})
  plotting.plot_run(workdir)
  log(f'precision@{k} over {len(q_codes)} queries, {len(db_codes)} database '
      f'documents, {_BITS.value} bits: BMSH {ours:.4f}, tf-idf random '
      f'projection {base:.4f}, chance {chance:.4f} (best epoch {best_epoch} '
      f'of {len(history)}; {bits_used} bits vary, '
      f'{result["distinct_db_codes"]} distinct codes)')


if __name__ == '__main__':
  app.run(main)
