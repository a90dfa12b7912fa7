"""Tests for vae_jax.data.synthetic: determinism and label alignment."""

import numpy as np

from vae_jax.data import generate_synthetic_corpus
from vae_jax.data import synthetic


def _lexicon(table):
  return {w for group in table for item in group
          for w in (item if isinstance(item, tuple) else (item,))}


def test_deterministic_in_seed_and_independent_splits():
  a = generate_synthetic_corpus(seed=5, num_train=50, num_valid=20, num_test=20)
  b = generate_synthetic_corpus(seed=5, num_train=50, num_valid=20, num_test=20)
  c = generate_synthetic_corpus(seed=6, num_train=50, num_valid=20, num_test=20)
  d = generate_synthetic_corpus(seed=5, num_train=10, num_valid=20, num_test=20)
  assert a.splits == b.splits
  for split in a.splits:
    for factor in synthetic.FACTORS:
      np.testing.assert_array_equal(a.labels[split][factor],
                                    b.labels[split][factor])
  assert a.splits['train'] != c.splits['train']
  # The valid/test streams do not depend on num_train.
  assert d.splits['valid'] == a.splits['valid']
  assert {s: len(v) for s, v in a.splits.items()} == {
      'train': 50, 'valid': 20, 'test': 20}


def test_labels_are_aligned_with_the_words():
  corpus = generate_synthetic_corpus(seed=0, num_train=2000, num_valid=0,
                                     num_test=0)
  sentences, labels = corpus.splits['train'], corpus.labels['train']
  assert corpus.splits['valid'] == [] and labels['topic'].dtype == np.int32
  nouns = [set(n) for n in synthetic._NOUNS]
  positive, negative = (set(synthetic._ADJECTIVES[1]),
                        set(synthetic._ADJECTIVES[0]))
  present = {v[0] for vs in synthetic._VERBS + synthetic._SENTIMENT_VERBS
             for v in vs} | {'is'}
  past = {v[1] for vs in synthetic._VERBS + synthetic._SENTIMENT_VERBS
          for v in vs} | {'was'}
  for words, topic, sentiment, tense, template in zip(
      sentences, labels['topic'], labels['sentiment'], labels['tense'],
      labels['template']):
    words = set(words)
    assert not words & set().union(*(nouns[:topic] + nouns[topic + 1:]))
    assert not words & (negative if sentiment else positive)
    assert words & (past if tense else present)
    assert not words & (present if tense else past)
    assert 0 <= template < len(synthetic.TEMPLATES)
  for factor, values in synthetic.FACTORS.items():
    counts = np.bincount(labels[factor], minlength=len(values))
    # Uniform factors: every value about 2000 / len(values) times.
    assert counts.min() > 0.7 * 2000 / len(values), (factor, counts)


def test_lengths_and_vocabulary_size():
  corpus = generate_synthetic_corpus()
  assert [len(v) for v in corpus.splits.values()] == [10000, 1000, 1000]
  lengths = [len(s) for s in corpus.splits['train']]
  assert min(lengths) == 5 and max(lengths) <= 22
  assert 10 < np.mean(lengths) < 14
  vocabulary = {w for s in corpus.splits['train'] for w in s}
  assert 200 <= len(vocabulary) <= 300
  assert corpus.stats['train'] == {'sentences': 10000, 'words': sum(lengths)}
