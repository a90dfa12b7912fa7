"""What the active units of a sentence VAE encode, in surface terms.

A VAE that escapes collapse with a few active units (word dropout on PTB
keeps one) may carry a single, shallow feature of the sentence. This
module correlates each active unit's posterior mean, over a set of
sentences, with features a user can read off the text: its length in
words, its share of `<unk>` tokens and its share of number tokens (`N`,
the Mikolov PTB's number token, or any token holding a digit). A unit that
tracks one of them at |r| near 1 carries little else.

Units are active as `vae_jax.diagnostics.active_units` counts them (its
variances and rule): the unbiased variance of their posterior mean over
the sentences is at least the threshold (0.01, Burda et al. 2016).
"""

from typing import Sequence

import numpy as np

from vae_jax.diagnostics import active_units

FEATURES = ('length', 'unk', 'number')


def number_ids(vocab) -> np.ndarray:
  """Ids of the vocabulary's number tokens: `N` or any token with a digit."""
  return np.asarray([i for i, w in enumerate(vocab.words)
                     if w == 'N' or any(c.isdigit() for c in w)], np.int64)


def sentence_features(seqs: Sequence[np.ndarray], vocab
                      ) -> dict[str, np.ndarray]:
  """<float64>[N] per feature of `FEATURES`, one entry a sentence.

  Args:
    seqs: encoded sentences, `</s>` at the end or not (it is not counted).
    vocab: their `Vocabulary`.
  """
  nums = number_ids(vocab)
  out = {k: np.zeros(len(seqs)) for k in FEATURES}
  for n, s in enumerate(seqs):
    s = np.asarray(s)
    s = s[s != vocab.eos_id]
    out['length'][n] = len(s)
    if len(s):
      out['unk'][n] = np.mean(s == vocab.unk_id)
      out['number'][n] = np.mean(np.isin(s, nums))
  return out


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
  """Pearson's r; NaN when either is constant (r is undefined)."""
  x, y = x - x.mean(), y - y.mean()
  denom = np.sqrt(np.sum(x * x) * np.sum(y * y))
  return float(np.sum(x * y) / denom) if denom > 0 else float('nan')


def unit_correlations(means: np.ndarray, features: dict[str, np.ndarray], *,
                      threshold: float = 0.01) -> list[dict]:
  """Each active unit's Pearson r with each feature, most variable first.

  Args:
    means: <float>[N, D] posterior means (`posterior.mean()`).
    features: name -> <float>[N], e.g. `sentence_features`.
    threshold: a unit is active when the unbiased variance of its mean is
      at least this.

  Returns:
    One dict a unit: {'unit': d, 'variance': Var_x E[z_d], 'r': {name: r}}.
  """
  means = np.asarray(means, np.float64)
  if means.ndim != 2 or means.shape[0] < 2:
    raise ValueError(f'means of shape {means.shape}: need [N >= 2, D]')
  for name, f in features.items():
    if np.shape(f) != means.shape[:1]:
      raise ValueError(f'feature {name!r} has shape {np.shape(f)}, the means '
                       f'{means.shape[0]} rows')
  # the AU diagnostic's own variances and rule, so the units listed are
  # the ones the evaluation counts
  _, variances = active_units(means, threshold=threshold)
  variances = np.asarray(variances, np.float64)
  active = [int(d) for d in np.argsort(-variances, kind='stable')
            if variances[d] >= threshold]
  return [{'unit': d, 'variance': float(variances[d]),
           'r': {k: _pearson(means[:, d], np.asarray(f, np.float64))
                 for k, f in features.items()}} for d in active]


def _cell(r: float) -> str:
  return 'n/a' if np.isnan(r) else f'{r:+.2f}'


def markdown_table(rows: list[dict], features: Sequence[str] = FEATURES,
                   title: str = 'unit') -> str:
  """The rows of `unit_correlations` as a markdown table; an undefined r (a
  constant feature) is written 'n/a'."""
  head = (f'| {title} | variance of the mean | '
          + ' | '.join(f'r with {k}' for k in features) + ' |')
  lines = [head, '| ' + ' | '.join(['---'] * (2 + len(features))) + ' |']
  for row in rows:
    lines.append(f'| {row["unit"]} | {row["variance"]:.4f} | '
                 + ' | '.join(_cell(row['r'][k]) for k in features) + ' |')
  return '\n'.join(lines) + '\n'
