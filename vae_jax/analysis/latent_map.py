"""2-D maps of the latent space: where sentences of several corpora land.

A sentence VAE trained on text of two domains (or applied to them) is
expected to place their posteriors apart when its latent carries content,
and on top of each other, at the prior, when it collapsed. This module
projects posterior means onto the two principal axes of the set, measures
how well the corpora separate, and draws the map.

Separation is measured by a nearest-centroid classifier whose centroids are
the mean posterior means of half the sentences of each corpus, scored on the
other half (balanced accuracy: the mean over corpora of the fraction of
their held-out sentences assigned to them; 0.5 for two corpora is chance):

* from the held-out posterior means: scale-free, so it can be high for a
  collapsed VAE whose means all lie within 1e-3 of the prior mean (the PTB
  VAE of this repository separates PTB from Yelp sentences at 0.92 so);
* from one sample z ~ q(z | x) per held-out sentence, the code the decoder
  actually reads: a collapsed VAE is at chance here, because the posterior
  noise (of the prior's scale) swamps the differences of the means.

The map is drawn at the prior's scale for a Gaussian latent (its 1 and 2
standard-deviation circles, axes at least +-3), so a collapsed model shows
as a dot at the origin rather than as an enlarged cloud.
"""

from typing import Sequence

import numpy as np


def principal_axes(x: np.ndarray, num: int = 2, *, centre: bool = True):
  """Projection of the rows of x onto their first `num` principal axes.

  Args:
    x: <float>[N, D].
    num: axes kept; a latent with fewer dimensions is padded with zeros.
    centre: subtract the mean of x before projecting (PCA scores). With
      False the axes are the same (found from the centred data) but x is
      projected as it is, so the origin stays the latent space's origin
      (the mean of a Gaussian prior).

  Returns:
    (coords <float>[N, num], explained <float>[num]: the fraction of the
    total variance along each axis; 0 where the data has no variance).
  """
  x = np.asarray(x, np.float64)
  centred = x - x.mean(axis=0)
  # SVD of the centred data: right singular vectors are the principal axes.
  _, s, vt = np.linalg.svd(centred, full_matrices=False)
  k = min(num, vt.shape[0])
  coords = np.zeros((x.shape[0], num))
  coords[:, :k] = (centred if centre else x) @ vt[:k].T
  variance = s ** 2
  total = variance.sum()
  explained = np.zeros(num)
  if total > 0:
    explained[:k] = variance[:k] / total
  # A fixed sign per axis (its largest loading positive), so maps of the same
  # model do not flip between calls.
  for i in range(k):
    if vt[i, np.argmax(np.abs(vt[i]))] < 0:
      coords[:, i] = -coords[:, i]
  return coords, explained


def centroid_accuracy(x: np.ndarray, labels: np.ndarray,
                      queries: np.ndarray | None = None) -> float:
  """Held-out balanced accuracy of a nearest-centroid classifier.

  Centroids are the means of x over the even positions of each corpus'
  sentences; the odd positions are classified; the result is the mean over
  corpora of the fraction of their held-out sentences assigned to them.

  Args:
    x: <float>[N, D] points (posterior means).
    labels: <int>[N] corpus of each point, 0..C-1; every corpus needs at
      least two points.
    queries: <float>[N, D] what is classified at the held-out positions
      (e.g. a posterior sample of each sentence); default x itself.
  """
  x = np.asarray(x, np.float64)
  q = x if queries is None else np.asarray(queries, np.float64)
  labels = np.asarray(labels)
  classes = np.unique(labels)
  fit, held = [], []
  for c in classes:
    idx = np.flatnonzero(labels == c)
    if len(idx) < 2:
      raise ValueError(f'corpus {c} has {len(idx)} sentence(s); at least 2 '
                       'are needed (one to fit, one to score)')
    fit.append(idx[0::2])
    held.append(idx[1::2])
  centroids = np.stack([x[f].mean(axis=0) for f in fit])
  scores = []
  for i, h in enumerate(held):
    d = ((q[h, None, :] - centroids[None]) ** 2).sum(-1)
    scores.append(np.mean(np.argmin(d, axis=1) == i))
  return float(np.mean(scores))


def plot_latent_map(coords: np.ndarray, labels: np.ndarray,
                    names: Sequence[str], path: str, *, title: str,
                    explained: Sequence[float] | None = None,
                    subtitle: str = '', prior_scale: float | None = None
                    ) -> str:
  """Scatter of the 2-D coordinates, a colour per corpus; returns path.

  prior_scale: the standard deviation of a Gaussian prior centred at the
  origin; draws its 1- and 2-sd circles and keeps the axes at least
  +-3 sd wide, so the map shows the means at the prior's scale.
  """
  # pylint: disable=g-import-not-at-top
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6.4, 5.6))
  labels = np.asarray(labels)
  for i, name in enumerate(names):
    pts = coords[labels == i]
    ax.scatter(pts[:, 0], pts[:, 1], s=6, alpha=0.5, lw=0,
               label=f'{name} ({len(pts)})')
  if prior_scale:
    t = np.linspace(0, 2 * np.pi, 200)
    for k in (1, 2):
      ax.plot(k * prior_scale * np.cos(t), k * prior_scale * np.sin(t),
              color='0.5', ls='--', lw=0.8,
              label='prior: 1 and 2 sd' if k == 1 else None)
    reach = max(3 * prior_scale, 1.1 * float(np.max(np.abs(coords))))
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect('equal')
  axis = ['first', 'second']
  for i, setter in enumerate((ax.set_xlabel, ax.set_ylabel)):
    text = f'{axis[i]} principal axis of the posterior means'
    if explained is not None:
      text += f' ({100 * explained[i]:.0f} % of variance)'
    setter(text)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8, markerscale=3)
  ax.set_title(title + (f'\n{subtitle}' if subtitle else ''), fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path
