"""Retrieval by Hamming distance between binary codes: precision@k.

The protocol of the semantic-hashing papers (VDSH, NASH, BMSH): every query
document ranks the database documents by the Hamming distance between hash
codes, and precision@k is the fraction of the k nearest that share the
query's label, averaged over queries. Ties at the k-th distance are common
with short codes; they are broken by one random order of the database,
fixed by a seed (a ranking by index would favour whatever order the corpus
files put the labels in).
"""

import numpy as np


def hamming_distances(query_codes: np.ndarray,
                      db_codes: np.ndarray) -> np.ndarray:
  """<int32>[Q, N] number of differing bits between {0, 1} codes."""
  q = np.asarray(query_codes, np.float32)
  d = np.asarray(db_codes, np.float32)
  return np.rint(q @ (1.0 - d).T + (1.0 - q) @ d.T).astype(np.int32)


def precision_at_k(query_codes: np.ndarray, query_labels: np.ndarray,
                   db_codes: np.ndarray, db_labels: np.ndarray, *, k: int,
                   seed: int = 0, chunk: int = 256) -> float:
  """Mean over queries of the fraction of the k Hamming-nearest with its label.

  Args:
    query_codes: <{0,1}>[Q, m].
    query_labels: <int>[Q].
    db_codes: <{0,1}>[N, m], N >= k.
    db_labels: <int>[N].
    k: neighbours retrieved.
    seed: the random order of the database that breaks ties.
    chunk: queries per distance matrix (memory only).
  """
  n = len(db_codes)
  if not 0 < k <= n:
    raise ValueError(f'precision_at_k: need 0 < k <= {n} database items, '
                     f'got k={k}')
  tie = np.empty(n, np.float64)
  tie[np.random.default_rng(seed).permutation(n)] = np.arange(n) / n
  db_labels = np.asarray(db_labels)
  hits = []
  for s in range(0, len(query_codes), chunk):
    dist = hamming_distances(query_codes[s:s + chunk], db_codes) + tie
    top = np.argpartition(dist, k - 1, axis=1)[:, :k]
    hits.append((db_labels[top]
                 == np.asarray(query_labels[s:s + chunk])[:, None]).mean(1))
  return float(np.concatenate(hits).mean())


def random_projection_codes(features: np.ndarray, num_bits: int, *,
                            seed: int = 0) -> np.ndarray:
  """Sign random projection (Charikar 2002): 1[features @ G > 0], G ~ N(0, 1).

  On L2-normalised tf-idf this is locality-sensitive hashing for the cosine
  similarity: P(bit differs) = angle / pi.

  Returns:
    <int8>[N, num_bits].
  """
  g = np.random.default_rng(seed).standard_normal(
      (features.shape[1], num_bits)).astype(np.float32)
  return (features @ g > 0).astype(np.int8)
