"""Fixtures for the data tests: the shared PTB files (skipped when absent)."""

import os
import pathlib

import pytest

from vae_jax.data import Vocabulary, encode_split, load_corpus

_REPO = pathlib.Path(__file__).resolve().parents[2]


def shared_data_dir() -> pathlib.Path:
  return pathlib.Path(os.environ.get('VAE_JAX_SHARED_DATA',
                                     _REPO.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
  """The shared data directory (its corpora may be absent)."""
  return shared_data_dir()


@pytest.fixture(scope='session')
def ptb_dir() -> pathlib.Path:
  directory = shared_data_dir() / 'ptb'
  if not (directory / 'ptb.train.txt').is_file():
    pytest.skip(f'PTB not found in {directory} (set VAE_JAX_SHARED_DATA to '
                'the folder holding ptb/)')
  return directory


@pytest.fixture(scope='session')
def ptb_corpus(ptb_dir):
  return load_corpus('ptb', data_dir=str(ptb_dir.parent))


@pytest.fixture(scope='session')
def ptb_vocab(ptb_corpus):
  return Vocabulary.build(ptb_corpus.splits['train'])


@pytest.fixture(scope='session')
def ptb_train_sequences(ptb_corpus, ptb_vocab):
  sequences, _ = encode_split(ptb_corpus.splits['train'], ptb_vocab,
                              max_length=None)
  return sequences


def _write_lines(path: pathlib.Path, lines: list[bytes | str]) -> pathlib.Path:
  """Writes lines (str as UTF-8) each followed by a newline."""
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(b''.join(
      (l.encode('utf-8') if isinstance(l, str) else l) + b'\n' for l in lines))
  return path


def _tree(directory: pathlib.Path) -> list[str]:
  """Every path under `directory`, relative and sorted (to detect writes)."""
  if not directory.exists():
    return []
  return sorted(str(p.relative_to(directory)) for p in directory.rglob('*'))


@pytest.fixture
def write_lines():
  """write_lines(path, lines): lines (str as UTF-8, or bytes) + newlines."""
  return _write_lines


@pytest.fixture
def tree():
  """tree(directory): sorted relative paths under it (to detect writes)."""
  return _tree
