"""Tests for vae_jax.data.corpora and text_files: registry, reading, errors."""

import logging as std_logging

import numpy as np
import pytest

from vae_jax.data import DataError, Vocabulary, encode_split, load_corpus
from vae_jax.data import corpora


@pytest.fixture
def text_dir(tmp_path, write_lines):
  d = tmp_path / 'corpus'
  write_lines(d / 'train.txt', [' a b c ', '', 'b  c', '   ', 'd'])
  write_lines(d / 'valid.txt', ['a x'])
  write_lines(d / 'test.txt', ['c', 'b a'])
  return d


def test_textdir_reads_tokens_and_counts_empty_lines(text_dir):
  corpus = load_corpus(f'textdir:{text_dir}')
  assert corpus.splits == {'train': [['a', 'b', 'c'], ['b', 'c'], ['d']],
                           'valid': [['a', 'x']],
                           'test': [['c'], ['b', 'a']]}
  assert corpus.stats['train'] == {'lines': 5, 'sentences': 3, 'words': 6,
                                   'empty_lines': 2}
  assert corpus.stats['test']['empty_lines'] == 0
  assert corpus.name == f'textdir:{text_dir}'


def test_bom_and_crlf_are_not_tokens(tmp_path):
  (tmp_path / 'train.txt').write_bytes(b'\xef\xbb\xbfa b\r\n\r\nc\r\n')
  corpus = load_corpus(f'textdir:{tmp_path}', splits=('train',))
  assert corpus.splits['train'] == [['a', 'b'], ['c']]
  assert corpus.stats['train']['empty_lines'] == 1


def test_textdir_from_data_dir_env_and_prefix_naming(tmp_path, write_lines,
                                                     monkeypatch):
  d = tmp_path / 'yahoo'
  write_lines(d / 'yahoo.train.txt', ['One Two'])
  write_lines(d / 'val.txt', ['three'])
  monkeypatch.setenv('VAE_JAX_DATA_DIR', str(d))
  corpus = load_corpus('textdir', splits=('train', 'valid'))
  # No lower-casing; 'valid' accepts val.txt.
  assert corpus.splits == {'train': [['One', 'Two']], 'valid': [['three']]}
  assert corpus.stats['train']['words'] == 2


def test_data_dir_resolution(monkeypatch, tmp_path):
  monkeypatch.delenv('VAE_JAX_DATA_DIR', raising=False)
  monkeypatch.setenv('HOME', str(tmp_path))
  assert corpora.resolve_data_dir() == str(
      tmp_path / '.cache' / 'vae_jax' / 'data')
  monkeypatch.setenv('VAE_JAX_DATA_DIR', str(tmp_path / 'env'))
  assert corpora.resolve_data_dir() == str(tmp_path / 'env')
  assert corpora.resolve_data_dir(tmp_path / 'arg') == str(tmp_path / 'arg')


def test_non_utf8_line_names_file_line_byte_and_column(text_dir, write_lines,
                                                       tree):
  path = write_lines(text_dir / 'train.txt',
                     ['ok line', 'fine', 'ab\xe9', b'ab\xffcd', 'x'])
  before = tree(text_dir)
  with pytest.raises(DataError) as e:
    load_corpus('textdir', data_dir=text_dir)
  assert str(e.value) == (
      f'corpus file {path} line 4 is not valid UTF-8 (byte 0xff at column 3)'
      ': re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)')
  assert tree(text_dir) == before


def test_empty_split_names_the_file(text_dir, write_lines, tree):
  path = write_lines(text_dir / 'valid.txt', ['', '  ', ''])
  before = tree(text_dir)
  with pytest.raises(DataError, match=rf'corpus file {path} has no sentences '
                     r'\(3 lines, all empty\)'):
    load_corpus(f'textdir:{text_dir}')
  (text_dir / 'valid.txt').write_bytes(b'')
  with pytest.raises(DataError, match=r'valid.txt has no sentences \(0 lines'):
    load_corpus(f'textdir:{text_dir}')
  assert tree(text_dir) == before


def test_missing_directory_lists_expected_files_and_remedies(tmp_path, tree):
  missing = tmp_path / 'nowhere'
  with pytest.raises(DataError) as e:
    load_corpus('textdir', data_dir=missing)
  message = str(e.value)
  assert f'corpus directory {missing} does not exist' in message
  for split in ('train', 'valid', 'test'):
    assert f'{missing}/{split}.txt (or <prefix>.{split}.txt)' in message
  assert '--data_dir' in message and 'VAE_JAX_DATA_DIR' in message
  assert 'valid: valid/val/dev/validation' in message
  assert tree(tmp_path) == []


def test_missing_split_is_named(text_dir):
  (text_dir / 'test.txt').unlink()
  with pytest.raises(DataError, match=r'has no file for split\(s\) test\. '
                     rf'Expected one sentence per line in:\n  {text_dir}/'
                     r'test\.txt'):
    load_corpus(f'textdir:{text_dir}')
  assert load_corpus(f'textdir:{text_dir}', splits=['train']).splits.keys() == {
      'train'}


def test_ambiguous_prefix_needs_choice(tmp_path, write_lines):
  for prefix in ('ptb', 'ptb.char'):
    for split in ('train', 'valid', 'test'):
      write_lines(tmp_path / f'{prefix}.{split}.txt', [prefix])
  with pytest.raises(DataError, match='several files for split'):
    load_corpus(f'textdir:{tmp_path}')
  corpus = load_corpus(f'textdir:{tmp_path}', prefix='ptb.char')
  assert corpus.splits['test'] == [['ptb.char']]


def test_unknown_corpus_and_option():
  with pytest.raises(DataError, match=r"unknown corpus 'wiki'.*ptb, "
                     'synthetic, textdir, tfds'):
    load_corpus('wiki')
  with pytest.raises(TypeError, match='verfy'):
    load_corpus('ptb', verfy=False)
  with pytest.raises(DataError, match='needs a dataset name'):
    load_corpus('tfds')


def test_synthetic_through_registry():
  corpus = load_corpus('synthetic', splits=('valid',), num_valid=7, seed=3)
  assert list(corpus.splits) == ['valid']
  assert len(corpus.splits['valid']) == 7
  assert corpus.labels['valid']['topic'].shape == (7,)


def test_encode_split_appends_eos_truncates_and_counts(caplog):
  vocab = Vocabulary.build([['a', 'b', 'c']])
  sentences = [['a', 'b'], ['c', 'x', 'a', 'b', 'c'], ['b']]
  with caplog.at_level(std_logging.INFO):
    sequences, stats = encode_split(sentences, vocab, max_length=3)
  assert [s.tolist() for s in sequences] == [[4, 5, 2], [6, 3, 4, 2], [5, 2]]
  assert all(s.dtype == np.int32 for s in sequences)
  assert stats == {'sentences': 3, 'tokens': 9, 'truncated': 1, 'unk': 1}
  assert '1 of 3 sentences truncated to 3 words' in caplog.text
  sequences, stats = encode_split(sentences, vocab, max_length=None)
  assert [len(s) for s in sequences] == [3, 6, 2]
  assert stats == {'sentences': 3, 'tokens': 11, 'truncated': 0, 'unk': 1}
  assert encode_split([], vocab, max_length=4) == (
      [], {'sentences': 0, 'tokens': 0, 'truncated': 0, 'unk': 0})
