"""The Corpus record: tokenized splits, optional factor labels and counts."""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Corpus:
  """A tokenized corpus.

  Attributes:
    name: registry name it was loaded under, e.g. 'ptb' or 'synthetic'.
    splits: 'train'/'valid'/'test' -> sentences, each a list of tokens.
    labels: split -> factor name -> <int>[num_sentences] (e.g. the synthetic
      corpus's topic, sentiment and tense); empty when there are none.
    stats: split -> counts: 'sentences' and 'words', and for corpora read
      from files also 'lines' and 'empty_lines' (skipped).
  """
  name: str
  splits: dict[str, list[list[str]]]
  labels: dict[str, dict[str, np.ndarray]] = dataclasses.field(
      default_factory=dict)
  stats: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    for split, factors in self.labels.items():
      n = len(self.splits.get(split, ()))
      for factor, values in factors.items():
        if len(values) != n:
          raise ValueError(f'corpus {self.name!r}: labels[{split!r}]'
                           f'[{factor!r}] has {len(values)} entries for {n} '
                           'sentences')
