"""The bag-of-words pipeline on a hand-made corpus."""

import numpy as np
import pytest

from vae_jax.data import bow

DOCS = [['the', 'cat', 'sat', 'on', 'the', 'mat', '.'],
        ['cat', 'cat', 'dog', '_UNK', '42', "n't", 'dog'],
        ['dog', 'barked', 'at', 'the', 'cat', '!']]


def test_vocabulary_counts_words_only_and_breaks_ties_alphabetically():
  # cat 4, dog 3, then barked / mat / sat once each: 'the', 'on', 'at',
  # "n't" are stop words, '.', '!', '42' have no letter, '_UNK' is OOV.
  assert bow.build_bow_vocabulary(DOCS, 3) == ['cat', 'dog', 'barked']
  assert bow.build_bow_vocabulary(DOCS, 10) == ['cat', 'dog', 'barked', 'mat',
                                                'sat']
  assert bow.build_bow_vocabulary(DOCS, 10, stop_words=()) == [
      'cat', 'dog', 'the', 'at', 'barked', 'mat', "n't", 'on', 'sat']


def test_count_matrix_and_tf_idf():
  vocab = ['cat', 'dog', 'mat']
  counts = bow.count_matrix(DOCS, vocab)
  np.testing.assert_array_equal(counts, [[1, 0, 1], [2, 2, 0], [1, 1, 0]])
  assert counts.dtype == np.float32
  x = bow.tf_idf(counts)
  idf = np.log(3 / np.array([3, 2, 1]))
  expected = counts * idf
  expected /= np.linalg.norm(expected, axis=1, keepdims=True)
  np.testing.assert_allclose(x, expected, rtol=1e-6)
  # idf from another matrix (the training documents)
  np.testing.assert_allclose(bow.tf_idf(counts[:1], counts), expected[:1],
                             rtol=1e-6)


def test_batches_pad_with_empty_rows_and_shuffle_by_seed_and_epoch():
  counts = np.arange(10, dtype=np.float32).reshape(5, 2) + 1
  batches = bow.bow_batches(counts, 2)
  assert len(batches) == 3
  np.testing.assert_array_equal(batches[2]['index'], [4, -1])
  np.testing.assert_array_equal(batches[2]['counts'], [[9, 10], [0, 0]])
  order = lambda s, e: np.concatenate(
      [b['index'] for b in bow.bow_batches(counts, 2, seed=s, epoch=e)])
  assert sorted(order(0, 0)[order(0, 0) >= 0]) == [0, 1, 2, 3, 4]
  np.testing.assert_array_equal(order(0, 1), order(0, 1))
  assert not np.array_equal(order(0, 0), order(0, 1))


def test_read_documents_errors_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match='nope.txt.*one tokenised'):
    bow.read_documents(str(tmp_path / 'nope.txt'))
  bad = tmp_path / 'bad.txt'
  bad.write_bytes(b'good line\n\xff\xfe bad\n')
  with pytest.raises(ValueError, match='bad.txt line 2 is not valid UTF-8'):
    bow.read_documents(str(bad))
  ok = tmp_path / 'ok.txt'
  ok.write_text('a b  c\n\nd\n')
  assert bow.read_documents(str(ok)) == [['a', 'b', 'c'], [], ['d']]
