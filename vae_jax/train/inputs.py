"""Config -> corpus, vocabulary and length-bucketed batchers."""

import dataclasses
import os
from typing import Any

import jax
from absl import logging

from vae_jax.data import (BucketedBatcher, Corpus, DataError, Vocabulary,
                          encode_split, load_corpus)

VOCAB_FILE = 'vocab.txt'


@dataclasses.dataclass
class Inputs:
  corpus: Corpus
  vocab: Vocabulary
  sequences: dict[str, list]          # split -> encoded sentences (+eos)
  batchers: dict[str, BucketedBatcher]
  stats: dict[str, dict[str, Any]]


def _corpus_kwargs(data_cfg) -> dict[str, Any]:
  kw: dict[str, Any] = {}
  if data_cfg.corpus == 'synthetic':
    kw.update(num_train=data_cfg.synthetic_train,
              num_valid=data_cfg.synthetic_valid,
              num_test=data_cfg.synthetic_test)
  if data_cfg.corpus == 'ptb':
    kw['download'] = data_cfg.download
  if data_cfg.corpus.startswith('tfds:'):
    kw['text_key'] = data_cfg.text_key
  return kw


def load_vocabulary(workdir: str) -> Vocabulary | None:
  path = os.path.join(workdir, VOCAB_FILE)
  return Vocabulary.load(path) if os.path.exists(path) else None


def prepare_inputs(config, workdir: str | None, *, splits=('train', 'valid', 'test'),
                   vocab: Vocabulary | None = None) -> Inputs:
  """Loads the corpus, builds (or checks) the vocabulary, encodes and batches.

  The vocabulary is built from the training split and saved as
  `<workdir>/vocab.txt`. If the workdir already holds one (a resumed run, or
  evaluation of a trained model), the rebuilt vocabulary must match it.
  """
  d = config.data
  corpus = load_corpus(d.corpus, data_dir=d.data_dir or None,
                       splits=tuple(splits), **_corpus_kwargs(d))
  saved = load_vocabulary(workdir) if workdir else None
  if vocab is None:
    if 'train' in corpus.splits:
      vocab = Vocabulary.build(corpus.splits['train'],
                               max_size=d.vocab_size or None)
    elif saved is not None:
      vocab = saved
    else:
      raise DataError('no training split to build a vocabulary from and no '
                      f'{VOCAB_FILE} in workdir {workdir!r}')
  if saved is not None and saved.fingerprint() != vocab.fingerprint():
    raise DataError(
        f'the vocabulary of corpus {d.corpus!r} ({len(vocab)} tokens) does not '
        f'match the one saved with the checkpoints in '
        f'{os.path.join(workdir, VOCAB_FILE)} ({len(saved)} tokens): '
        'use the corpus and data.vocab_size the run was started with, or a '
        'new --workdir')
  if workdir and saved is None:
    os.makedirs(workdir, exist_ok=True)
    if jax.process_index() == 0:  # one writer when several processes run
      vocab.save(os.path.join(workdir, VOCAB_FILE))
  sequences, batchers, stats = {}, {}, {}
  for split in splits:
    seqs, st = encode_split(corpus.splits[split], vocab,
                            max_length=d.max_length or None)
    if st.get('truncated'):
      logging.warning('%s: %d sentences truncated to %d words', split,
                      st['truncated'], d.max_length)
    st.update(corpus.stats.get(split, {}))
    bs = config.train.batch_size if split == 'train' else d.eval_batch_size
    sequences[split] = seqs
    batchers[split] = BucketedBatcher(
        seqs, batch_size=bs, num_buckets=d.num_buckets,
        pad_id=vocab.pad_id, bos_id=vocab.bos_id)
    stats[split] = st
  return Inputs(corpus=corpus, vocab=vocab, sequences=sequences,
                batchers=batchers, stats=stats)
