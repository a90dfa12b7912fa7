"""vae_jax.analysis.unit_features: active units against surface features."""

import numpy as np
import pytest
from scipy import stats

from vae_jax.analysis import unit_features
from vae_jax.data import Vocabulary
from vae_jax.diagnostics import active_units


def test_correlations_of_the_active_units_match_scipy():
  rng = np.random.default_rng(0)
  n = 400
  length = rng.integers(3, 40, n).astype(float)
  unk = rng.uniform(0, 0.3, n)
  means = np.stack([
      1e-3 * rng.normal(size=n),            # inactive (variance 1e-6)
      0.05 * length + 0.2 * rng.normal(size=n),   # tracks the length
      rng.normal(size=n),                   # active, tracks nothing
      -3.0 * unk + 0.1 * rng.normal(size=n)], axis=1)  # tracks <unk>, r < 0
  rows = unit_features.unit_correlations(means, {'length': length, 'unk': unk})
  # the units active_units counts, most variable first
  count, var = active_units(means)
  assert [r['unit'] for r in rows] == [2, 1, 3] and len(rows) == int(count)
  np.testing.assert_allclose([r['variance'] for r in rows],
                             np.asarray(var)[[2, 1, 3]], rtol=1e-5)
  for row in rows:
    for name, f in (('length', length), ('unk', unk)):
      expected = stats.pearsonr(means[:, row['unit']], f).statistic
      np.testing.assert_allclose(row['r'][name], expected, rtol=1e-10)
  assert rows[1]['r']['length'] > 0.9 and rows[2]['r']['unk'] < -0.9
  assert abs(rows[0]['r']['length']) < 0.2


def test_threshold_is_inclusive_and_a_constant_feature_gives_nan():
  means = np.array([[0.0, 0.0], [0.2, 1.0], [0.0, 2.0]])  # variances .0133, 1
  # exactly unit 0's variance as the AU diagnostic computes it
  rows = unit_features.unit_correlations(
      means, {'c': np.ones(3)}, threshold=float(active_units(means)[1][0]))
  assert [r['unit'] for r in rows] == [1, 0]
  assert np.isnan(rows[0]['r']['c'])
  assert unit_features.unit_correlations(means, {}, threshold=2.0) == []


def test_bad_shapes_are_clear_errors():
  with pytest.raises(ValueError, match='feature .x. has shape'):
    unit_features.unit_correlations(np.zeros((3, 2)), {'x': np.zeros(4)})
  with pytest.raises(ValueError, match='need'):
    unit_features.unit_correlations(np.zeros((1, 2)), {})


def test_sentence_features_by_hand():
  vocab = Vocabulary(list(Vocabulary.build([['a']]).words[:4])
                     + ['the', 'N', 'rose', '1990s', 'a1'])
  seqs = [vocab.encode('the N rose N zzz'.split()),     # zzz -> <unk>
          np.append(vocab.encode('the 1990s a1'.split()), vocab.eos_id),
          np.asarray([vocab.eos_id])]                   # empty sentence
  f = unit_features.sentence_features(seqs, vocab)
  np.testing.assert_allclose(f['length'], [5, 3, 0])
  np.testing.assert_allclose(f['unk'], [1 / 5, 0, 0])
  np.testing.assert_allclose(f['number'], [2 / 5, 2 / 3, 0])
  assert sorted(vocab.words[i] for i in unit_features.number_ids(vocab)) == [
      '1990s', 'N', 'a1']


def test_markdown_table():
  rows = [{'unit': 8, 'variance': 0.5597, 'r': {'length': -0.0323,
                                                'unk': 0.387}}]
  assert unit_features.markdown_table(rows, ('length', 'unk')).splitlines() == [
      '| unit | variance of the mean | r with length | r with unk |',
      '| --- | --- | --- | --- |',
      '| 8 | 0.5597 | -0.03 | +0.39 |']
  rows[0]['r']['unk'] = float('nan')  # a constant feature: r undefined
  assert unit_features.markdown_table(rows, ('length', 'unk')).splitlines()[
      -1] == '| 8 | 0.5597 | -0.03 | n/a |'


def test_tools_refuse_a_run_without_a_latent(monkeypatch):
  """unit_features and latent_map load through load_trained_vae: an LM's
  workdir is a DataError that names the model kind and what it lacks."""
  import ml_collections
  from vae_jax.data import DataError
  from vae_jax.train import restore
  lm = restore.Trained(ml_collections.ConfigDict({'model': {'kind': 'lm'}}),
                       object(), {}, None, 10, 1)
  monkeypatch.setattr(restore, 'load_trained', lambda workdir, **kw: lm)
  with pytest.raises(DataError, match=r"'runs/lm' is not a VAE run "
                     r"\(model.kind='lm'\): it has no latent units"):
    restore.load_trained_vae('runs/lm', purpose='it has no latent units')


def test_batch_dependence_note_names_bn_models_only():
  """The maps and correlations of a BN-VAE run's means depend on its
  batches; latent_map and unit_features print this note for it alone. The
  note asks the model (the flag its encode uses to pass the batch mask),
  not the config."""
  from experiments.configs import ptb_lm, ptb_vae, ptb_vae_bn, ptb_vae_vmf
  from vae_jax.models import build_model
  from vae_jax.train import restore
  note = lambda c: restore.batch_dependence_note(build_model(c.model, 50))
  bn = ptb_vae_bn.get_config()
  assert 'BN-VAE' in note(bn) and 'depend on the batching' in note(bn)
  for other in (ptb_vae, ptb_vae_vmf, ptb_lm):
    assert note(other.get_config()) is None, other.__name__
  bn.model.latent_kwargs.bn_gamma = 0.0  # BN off: batch-independent again
  assert note(bn) is None
