"""Corpus registry: a name -> tokenized train/valid/test splits.

Names:
  'synthetic'       generated from a grammar with known factors; no files.
  'ptb'             ptb.{train,valid,test}.txt in <data_dir> or
                    <data_dir>/ptb, sha256-checked (verify=False to skip);
                    download=True fetches them where a network exists.
  'textdir:<path>'  any directory of one-sentence-per-line train.txt /
  or 'textdir'      valid.txt / test.txt (or <prefix>.<split>.txt); the
                    bare name reads <data_dir>.
  'tfds:<name>'     a prepared TFDS dataset read with tfds.data_source
                    (array_record; no TensorFlow needed), text_key='text'.

The data directory is the `data_dir` argument, else $VAE_JAX_DATA_DIR, else
~/.cache/vae_jax/data.
"""

import os
from typing import Callable, Sequence

from absl import logging
import numpy as np

from vae_jax.data import ptb as ptb_lib
from vae_jax.data import synthetic
from vae_jax.data import text_files
from vae_jax.data.corpus import Corpus
from vae_jax.data.errors import DataError
from vae_jax.data.ptb import download_ptb
from vae_jax.data.vocab import Vocabulary

__all__ = ['Corpus', 'DataError', 'download_ptb', 'encode_split',
           'load_corpus', 'register_corpus', 'resolve_data_dir']

DATA_DIR_ENV = 'VAE_JAX_DATA_DIR'
DEFAULT_DATA_DIR = os.path.join('~', '.cache', 'vae_jax', 'data')
DEFAULT_SPLITS = ('train', 'valid', 'test')

_LOADERS: dict[str, Callable[..., Corpus]] = {}


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> str:
  """The argument, else $VAE_JAX_DATA_DIR, else ~/.cache/vae_jax/data."""
  if data_dir is None:
    data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
  return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


def register_corpus(name: str):
  """Decorator: registers `loader(arg, *, data_dir, splits, **kwargs)`.

  `arg` is the part of the corpus name after ':' (None if there is none).
  """
  def wrap(loader):
    if name in _LOADERS:
      raise ValueError(f'corpus {name!r} is already registered')
    _LOADERS[name] = loader
    return loader
  return wrap


def load_corpus(name: str, *, data_dir: str | os.PathLike | None = None,
                splits: Sequence[str] = DEFAULT_SPLITS, **kwargs) -> Corpus:
  """Loads a corpus by registry name.

  Args:
    name: 'synthetic', 'ptb', 'textdir', 'textdir:<path>' or 'tfds:<name>'.
    data_dir: where the files are (see module docstring for the default).
    splits: which splits to load.
    **kwargs: options of that corpus: synthetic (seed, num_train, num_valid,
      num_test), ptb (verify=True, download=False), textdir (prefix),
      tfds (text_key='text').

  Returns:
    The Corpus, with `splits` holding exactly the requested splits.

  Raises:
    DataError: unknown name, or missing / malformed files (the message names
      the file and line and says how to fix it).
    TypeError: an option the corpus does not take.
  """
  kind, sep, arg = name.partition(':')
  if kind not in _LOADERS:
    raise DataError(f'unknown corpus {name!r}: known corpora are '
                    f'{", ".join(sorted(_LOADERS))} (textdir and tfds take '
                    "':<path>' / ':<dataset name>')")
  splits = tuple(splits)
  if not splits:
    raise DataError(f'load_corpus({name!r}) was given no splits to load')
  return _LOADERS[kind](arg if sep else None, data_dir=data_dir,
                        splits=splits, **kwargs)


def _read_splits(name: str, paths: dict[str, str]) -> Corpus:
  sentences, stats = {}, {}
  for split, path in paths.items():
    sentences[split], stats[split] = text_files.read_sentences(path)
  return Corpus(name=name, splits=sentences, stats=stats)


@register_corpus('synthetic')
def _load_synthetic(arg, *, data_dir, splits, **kwargs) -> Corpus:
  del data_dir  # Generated, not read.
  if arg:
    raise DataError(f"corpus 'synthetic' takes no ':{arg}' part")
  corpus = synthetic.generate_synthetic_corpus(**kwargs)
  unknown = set(splits) - set(corpus.splits)
  if unknown:
    raise DataError(f'synthetic corpus has no split(s) {sorted(unknown)}; '
                    f'it has {sorted(corpus.splits)}')
  return Corpus(name=corpus.name,
                splits={s: corpus.splits[s] for s in splits},
                labels={s: corpus.labels[s] for s in splits},
                stats={s: corpus.stats[s] for s in splits})


@register_corpus('ptb')
def _load_ptb(arg, *, data_dir, splits, verify: bool = True,
              download: bool = False) -> Corpus:
  if arg:
    raise DataError(f"corpus 'ptb' takes no ':{arg}' part")
  unknown = set(splits) - set(ptb_lib.PTB_SPLITS)
  if unknown:
    raise DataError(f'PTB has no split(s) {sorted(unknown)}; it has '
                    f'{list(ptb_lib.PTB_SPLITS)}')
  data_dir = resolve_data_dir(data_dir)
  directory = ptb_lib.find_ptb_dir(data_dir)
  complete = directory is not None and all(
      os.path.isfile(os.path.join(directory, ptb_lib.ptb_file_name(s)))
      for s in splits)
  if not complete and download:
    directory = directory or os.path.join(data_dir, 'ptb')
    logging.info('downloading PTB into %s', directory)
    ptb_lib.download_ptb(directory)
  hint = (f'the files may also be in {os.path.join(data_dir, "ptb")}; '
          + ptb_lib.PTB_HINT)
  paths = text_files.find_split_files(directory or data_dir, splits,
                                      prefix='ptb', hint=hint)
  if verify:
    for split, path in paths.items():
      ptb_lib.verify_ptb_file(path, split)
  return _read_splits('ptb', paths)


@register_corpus('textdir')
def _load_textdir(arg, *, data_dir, splits,
                  prefix: str | None = None) -> Corpus:
  directory = os.path.abspath(os.path.expanduser(arg)) if arg else (
      resolve_data_dir(data_dir))
  paths = text_files.find_split_files(directory, splits, prefix=prefix)
  return _read_splits(f'textdir:{directory}', paths)


@register_corpus('tfds')
def _load_tfds(arg, *, data_dir, splits, text_key: str = 'text') -> Corpus:
  if not arg:
    raise DataError("corpus 'tfds' needs a dataset name: 'tfds:<name>', e.g. "
                    "'tfds:vae_jax_text_lines/ptb'")
  # Imported here so that tensorflow_datasets loads only when it is used.
  from vae_jax.data import tfds_text  # pylint: disable=g-import-not-at-top
  return tfds_text.load_tfds_corpus(arg, data_dir=resolve_data_dir(data_dir),
                                    text_key=text_key, splits=splits)


def encode_split(sentences: Sequence[Sequence[str]], vocab: Vocabulary, *,
                 max_length: int | None) -> tuple[list[np.ndarray], dict]:
  """Maps sentences to word ids followed by </s> (no <s>).

  Args:
    sentences: tokenized sentences.
    vocab: the vocabulary; unknown words become <unk>.
    max_length: sentences with more words are cut to this many words (then
      </s> is appended); None keeps every word.

  Returns:
    (sequences, stats): <int32>[min(n_words, max_length) + 1] per sentence,
    and {'sentences', 'tokens' (</s> included), 'truncated', 'unk'}.
  """
  if max_length is not None and max_length < 1:
    raise ValueError(f'max_length must be >= 1 or None, got {max_length}')
  cut = [s if max_length is None else s[:max_length] for s in sentences]
  lengths = np.fromiter(map(len, cut), dtype=np.int64, count=len(cut))
  ids = vocab.encode([token for s in cut for token in s])
  # Each sequence is a slice of one buffer: words then </s>.
  flat = np.full(int(lengths.sum()) + len(cut), vocab.eos_id, dtype=np.int32)
  ends = np.cumsum(lengths + 1)
  starts = ends - lengths - 1
  word_positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
  flat[np.arange(len(ids)) + word_positions] = ids
  sequences = [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
  truncated = sum(len(s) > len(c) for s, c in zip(sentences, cut))
  stats = {'sentences': len(sequences), 'tokens': int(flat.size),
           'truncated': int(truncated),
           'unk': int(np.count_nonzero(ids == vocab.unk_id))}
  if truncated:
    logging.info('encode_split: %d of %d sentences truncated to %d words',
                 truncated, len(sequences), max_length)
  return sequences, stats
