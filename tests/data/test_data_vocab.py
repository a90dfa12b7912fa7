"""Tests for vae_jax.data.vocab."""

import hashlib

import numpy as np
import pytest

from vae_jax.data import DataError, Vocabulary

SENTENCES = [['b', 'a', 'c'], ['a', '<unk>', 'b'], ['a', 'd']]


def test_build_orders_by_count_then_alphabet_and_merges_specials():
  vocab = Vocabulary.build(SENTENCES)
  # a: 3, b: 2, c: 1, d: 1; the literal <unk> is the special token.
  assert vocab.words == ['<pad>', '<s>', '</s>', '<unk>', 'a', 'b', 'c', 'd']
  assert len(vocab) == 8
  assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2,
                                                                     3)


def test_build_max_size_and_min_count():
  assert Vocabulary.build(SENTENCES, max_size=2).words[4:] == ['a', 'b']
  assert Vocabulary.build(SENTENCES, min_count=2).words[4:] == ['a', 'b']
  assert len(Vocabulary.build(SENTENCES, max_size=0)) == 4


def test_encode_decode_round_trip():
  vocab = Vocabulary.build(SENTENCES)
  ids = vocab.encode(['a', 'zzz', 'd', '<unk>'])
  assert ids.dtype == np.int32
  np.testing.assert_array_equal(ids, [4, 3, 7, 3])
  np.testing.assert_array_equal(vocab.encode(iter(['b', 'c'])), [5, 6])
  assert vocab.encode([]).shape == (0,)
  assert vocab.decode([1, 4, 5, 2, 6, 0]) == ['a', 'b']
  assert vocab.decode([1, 4, 5, 2, 6], strip_special=False) == [
      '<s>', 'a', 'b', '</s>']
  assert vocab.decode(np.array([[4, 3, 0, 0]])) == ['a', '<unk>']
  with pytest.raises(ValueError, match='outside the vocabulary'):
    vocab.decode([8])


def test_save_load_and_fingerprint(tmp_path):
  vocab = Vocabulary.build(SENTENCES)
  path = tmp_path / 'sub' / 'vocab.txt'
  vocab.save(path)
  assert path.read_text() == '<pad>\n<s>\n</s>\n<unk>\na\nb\nc\nd\n'
  assert sorted(p.name for p in path.parent.iterdir()) == ['vocab.txt']
  loaded = Vocabulary.load(path)
  assert loaded == vocab
  assert loaded.fingerprint() == vocab.fingerprint() == hashlib.sha256(
      path.read_bytes()).hexdigest()
  assert Vocabulary.build(list(reversed(SENTENCES))).fingerprint() == (
      vocab.fingerprint())
  assert Vocabulary.build(SENTENCES, max_size=2).fingerprint() != (
      vocab.fingerprint())


def test_load_errors_name_the_file(tmp_path):
  with pytest.raises(DataError, match='missing.txt does not exist'):
    Vocabulary.load(tmp_path / 'missing.txt')
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'<pad>\n<s>\n</s>\n<unk>\nok\n\xffx\n')
  with pytest.raises(DataError, match=r'bad.txt line 6 is not valid UTF-8'):
    Vocabulary.load(bad)
  bad.write_bytes(b'a\nb\n')
  with pytest.raises(DataError, match=r'bad.txt is malformed'):
    Vocabulary.load(bad)


def test_invalid_token_lists_are_rejected():
  with pytest.raises(ValueError, match='starts with'):
    Vocabulary(['a', 'b'])
  with pytest.raises(ValueError, match='appears twice'):
    Vocabulary(['<pad>', '<s>', '</s>', '<unk>', 'a', 'a'])
  with pytest.raises(ValueError, match='line breaks'):
    Vocabulary(['<pad>', '<s>', '</s>', '<unk>', 'a\nb'])


def test_ptb_vocabulary_has_10002_entries(ptb_vocab, tmp_path):
  assert len(ptb_vocab) == 10002
  assert ptb_vocab.words.count('<unk>') == 1
  # The most frequent PTB word is 'the'; N (numbers) is among the top words.
  assert ptb_vocab.words[4] == 'the'
  assert ptb_vocab.encode(['N'])[0] < 20
  ptb_vocab.save(tmp_path / 'v.txt')
  assert Vocabulary.load(tmp_path / 'v.txt').fingerprint() == (
      ptb_vocab.fingerprint())
