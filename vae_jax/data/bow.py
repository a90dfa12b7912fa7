"""Bag-of-words documents: reading, a frequency vocabulary, count matrices.

The document models (NVDM, the hashing model) see a document as its vector
of word counts over a fixed vocabulary of the most frequent words. The
pipeline is text file (one tokenised document a line) -> token lists ->
`build_bow_vocabulary` (on the training documents only) -> `count_matrix`
<float32>[N, V] -> fixed-shape batches with padding rows (`bow_batches`).

What a word is, here: a whitespace token of the (already lower-cased,
tokenised) corpus that contains at least one letter, is not an
out-of-vocabulary marker of the corpus (`_UNK`), and is not an English stop
word (`STOP_WORDS`, the NLTK list): punctuation, numbers and function words
are dropped before counting, as in the bag-of-words corpora of the NVDM
paper (20News, RCV1), so the latent dimensions' top words are content words.
"""

import collections
import math
import os
import re
from typing import Iterable, Sequence

import numpy as np

# The English stop words of NLTK (nltk.corpus.stopwords, the 153 whole words
# of its 179), plus the contraction pieces this corpus's tokenisation
# produces ("do n't", "it 's").
STOP_WORDS = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him
his himself she her hers herself it its itself they them their theirs
themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through
during before after above below to from up down in out on off over under again
further then once here there when where why how all any both each few more
most other some such no nor not only own same so than too very s t can will
just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn
haven isn ma mightn mustn needn shan shouldn wasn weren won wouldn
""".split()) | frozenset({"n't", "'s", "'m", "'re", "'ve", "'ll", "'d"})
UNKNOWN_MARKERS = frozenset({'_UNK', '<unk>', '_num_'})
_HAS_LETTER = re.compile(r'[^\W\d_]')


def read_documents(path: str) -> list[list[str]]:
  """One document a line, tokens separated by whitespace.

  Raises:
    FileNotFoundError: naming the path and the expected format.
    ValueError: for a line that is not UTF-8 (naming file and line).
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'document file {path} not found: expected a text file with one '
        'tokenised document per line (e.g. ../shared/data/yahoo/val.txt)')
  docs = []
  with open(path, 'rb') as f:
    for i, raw in enumerate(f, 1):
      try:
        line = raw.decode('utf-8')
      except UnicodeDecodeError as e:
        raise ValueError(f'document file {path} line {i} is not valid UTF-8: '
                         f'{e}') from None
      docs.append(line.split())
  return docs


def is_word(token: str, *, stop_words: Iterable[str] = STOP_WORDS) -> bool:
  """A countable word: has a letter, is no OOV marker and no stop word."""
  return (token not in UNKNOWN_MARKERS and token not in stop_words
          and _HAS_LETTER.search(token) is not None)


def build_bow_vocabulary(docs: Sequence[Sequence[str]], size: int, *,
                         stop_words: Iterable[str] = STOP_WORDS) -> list[str]:
  """The `size` most frequent words of `docs` (see `is_word`).

  Ties are broken alphabetically, so the vocabulary is a function of the
  documents alone.
  """
  stop = frozenset(stop_words)
  counts = collections.Counter(t for d in docs for t in d
                               if is_word(t, stop_words=stop))
  ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
  return [w for w, _ in ranked[:size]]


def count_matrix(docs: Sequence[Sequence[str]],
                 vocab: Sequence[str]) -> np.ndarray:
  """Word counts <float32>[N, V]; tokens outside `vocab` are not counted."""
  index = {w: i for i, w in enumerate(vocab)}
  out = np.zeros((len(docs), len(vocab)), np.float32)
  for n, d in enumerate(docs):
    for t in d:
      j = index.get(t)
      if j is not None:
        out[n, j] += 1.0
  return out


def tf_idf(counts: np.ndarray, doc_freq_from: np.ndarray | None = None
           ) -> np.ndarray:
  """tf-idf rows, L2-normalised: tf * log(N / df), <float32>[N, V].

  Args:
    counts: <float>[N, V] term counts.
    doc_freq_from: the count matrix whose document frequencies define idf
      (the training documents); default `counts` itself.
  """
  ref = counts if doc_freq_from is None else doc_freq_from
  df = np.maximum((ref > 0).sum(0), 1)
  idf = np.log(ref.shape[0] / df).astype(np.float32)
  x = counts * idf
  norm = np.linalg.norm(x, axis=1, keepdims=True)
  return (x / np.maximum(norm, 1e-12)).astype(np.float32)


def bow_batches(counts: np.ndarray, batch_size: int, *,
                seed: int | None = None, epoch: int = 0
                ) -> list[dict[str, np.ndarray]]:
  """Fixed-shape batches {'counts': [B, V], 'index': [B]} of the documents.

  The last batch is filled with empty rows (all-zero counts, index -1), which
  every loss masks (a document with no word has no likelihood term). With a
  seed the order is a permutation that depends only on (seed, epoch).

  Args:
    counts: <float32>[N, V].
    batch_size: B.
    seed: None for the stored order, else the shuffling seed.
    epoch: folded into the shuffle.
  """
  n = counts.shape[0]
  order = (np.arange(n) if seed is None else
           np.random.default_rng([seed, epoch]).permutation(n))
  num = max(1, math.ceil(n / batch_size))
  pad = num * batch_size - n
  index = np.concatenate([order, -np.ones(pad, np.int64)])
  batches = []
  for b in range(num):
    idx = index[b * batch_size:(b + 1) * batch_size]
    real = idx >= 0
    out = np.zeros((batch_size,) + counts.shape[1:], counts.dtype)
    out[real] = counts[idx[real]]
    batches.append({'counts': out, 'index': idx.astype(np.int32)})
  return batches
