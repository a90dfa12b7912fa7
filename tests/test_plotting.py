"""Figures from metrics.jsonl: the latent panels of every VAE run."""

import os

import matplotlib.image
import numpy as np

from vae_jax import plotting
from vae_jax.train.logging_utils import MetricWriter, read_metrics


def _run(workdir, *, kl, with_mi=True):
  w = MetricWriter(os.path.join(workdir, 'metrics.jsonl'))
  for e in (1, 2, 3):
    w.write('train_epoch', 10 * e, e, loss=60.0 - e, rec=60.0 - e, kl=kl,
            neg_elbo=60.0 - e + kl)
    extra = {'mi_batch': 0.1 * e, 'mi': 0.2 * e, 'au': e} if with_mi else {}
    w.write('valid', 10 * e, e, loss=61.0 - e, rec=61.0 - e, kl=kl,
            neg_elbo=61.0 - e + kl, ppl=100.0, **extra)


def test_collapsed_vae_still_gets_its_latent_figure(tmp_path):
  """KL exactly 0 every epoch (total collapse) is a VAE all the same."""
  _run(str(tmp_path), kl=0.0)
  written = [os.path.basename(p) for p in plotting.plot_run(str(tmp_path))]
  assert written == ['loss.png', 'latent.png']
  img = matplotlib.image.imread(str(tmp_path / 'plots' / 'latent.png'))
  assert img.shape[1] > 2 * img.shape[0]          # three panels side by side
  assert np.std(img[..., :3]) > 0.05              # something is drawn


def test_language_model_gets_no_latent_figure(tmp_path):
  _run(str(tmp_path), kl=0.0, with_mi=False)
  written = [os.path.basename(p) for p in plotting.plot_run(str(tmp_path))]
  assert written == ['loss.png']


def test_learning_rate_halvings_are_found():
  records = [{'split': 'train', 'epoch': 1.5, 'lr': 1.0},
             {'split': 'valid', 'epoch': 2, 'lr': 0.1},  # not a train line
             {'split': 'train', 'epoch': 2.5, 'lr': 1.0},
             {'split': 'train', 'epoch': 20.1, 'lr': 0.5},
             {'split': 'train', 'epoch': 20.5, 'lr': 0.5},
             {'split': 'train', 'epoch': 26.1, 'lr': 0.25}]
  assert plotting.lr_change_epochs(records) == [20.1, 26.1]


def test_runs_compared_in_one_figure(tmp_path):
  os.makedirs(tmp_path / 'vae')
  os.makedirs(tmp_path / 'lm')
  _run(str(tmp_path / 'vae'), kl=2.0)
  _run(str(tmp_path / 'lm'), kl=0.0, with_mi=False)
  runs = {'VAE': str(tmp_path / 'vae'), 'LM': str(tmp_path / 'lm'),
          'not run': str(tmp_path / 'nowhere')}
  series = plotting.compared_series(runs)
  assert series['loss']['VAE'] == ([1, 2, 3], [60.0, 59.0, 58.0])
  assert series['loss']['LM'] == ([1, 2, 3], [60.0, 59.0, 58.0])
  assert series['au'] == {'VAE': ([1, 2, 3], [1, 2, 3])}  # the LM has none
  assert list(series['kl']) == ['VAE']  # nor a KL to show
  np.testing.assert_allclose(series['mi']['VAE'][1], [0.2, 0.4, 0.6])
  path = plotting.plot_runs(runs, str(tmp_path / 'out' / 'rows.png'))
  img = matplotlib.image.imread(path)
  assert img.shape[0] > 0.5 * img.shape[1]       # a 2 x 2 grid
  assert np.std(img[..., :3]) > 0.05
  assert plotting.plot_runs({'x': str(tmp_path / 'nowhere')},
                            str(tmp_path / 'none.png')) is None


def test_mi_ceiling_is_log_of_the_validation_count():
  """The whole-set MI of an autoencoder sits at log N (the pretraining
  stage of ptb_vae_pretrain_fb: 8.2 nats on 3,370 sentences)."""
  records = [{'split': 'train_epoch', 'epoch': 1, 'num_sentences': 42068},
             {'split': 'valid', 'epoch': 1, 'num_sentences': 3370.0},
             {'split': 'valid', 'epoch': 2, 'num_sentences': 3370.0}]
  np.testing.assert_allclose(plotting.mi_ceiling(records), np.log(3370))
  assert plotting.mi_ceiling(records[:1]) is None  # no validation count


def test_test_figures_stand_at_the_best_epoch_or_else_the_end():
  records = [{'split': 'valid', 'epoch': 1, 'neg_elbo': 9.0},
             {'split': 'test', 'epoch': 5, 'best_epoch': 3, 'neg_elbo': 7.0},
             {'split': 'test', 'epoch': 6, 'neg_elbo': 6.5},  # an older run
             {'split': 'test', 'epoch': 6, 'best_epoch': 4}]  # no such key
  assert plotting.test_points(records, 'neg_elbo') == ([3, 6], [7.0, 6.5])


def test_a_constant_kl_is_drawn_flat_without_an_offset(tmp_path,
                                                      monkeypatch):
  """A vMF run's KL is 17.86308 nats every epoch, up to float rounding
  (train and valid differ by 1.6e-4): plot_run's KL panels show a flat line
  with plain ticks, not the rounding blown up under a '+1.786e1' offset;
  a curve that moves keeps its own range."""
  import matplotlib.pyplot as plt
  w = MetricWriter(os.path.join(tmp_path, 'metrics.jsonl'))
  for e in (1, 2, 3):
    w.write('train_epoch', 10 * e, e, rec=60.0 - e, kl=17.86324,
            neg_elbo=77.9 - e)
    w.write('valid', 10 * e, e, rec=61.0 - e, kl=17.86308,
            neg_elbo=78.9 - e, mi=[0.49, 0.08, 0.002][e - 1], mi_batch=0.1,
            au=e)
  figures = {}
  def keep(fig, out_dir, name):  # instead of saving and closing it
    figures[name] = fig
    return name
  monkeypatch.setattr(plotting, '_save', keep)
  plotting.plot_run(str(tmp_path))
  kl_panels = (figures['loss.png'].axes[2], figures['latent.png'].axes[0])
  for ax in kl_panels:
    ax.figure.canvas.draw()
    lo, hi = ax.get_ylim()
    assert hi - lo >= 0.1 - 1e-12 and lo < 17.86308 and hi > 17.86324
    assert ax.yaxis.get_major_formatter().get_offset() == ''
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert any(t.startswith('17.8') for t in ticks), ticks
  lo, hi = figures['latent.png'].axes[1].get_ylim()   # MI, 0.002 to 0.49
  assert lo < 0.002 and 0.49 < hi < 0.6
  for fig in figures.values():
    plt.close(fig)


def test_a_learned_concentration_gets_its_own_panel(tmp_path):
  _run(str(tmp_path), kl=3.0)
  records = plotting.read_metrics(str(tmp_path / 'metrics.jsonl'))
  assert [k for k, _ in plotting.latent_panels(records)] == ['kl', 'mi', 'au']
  w = MetricWriter(str(tmp_path / 'metrics.jsonl'))
  w.write('valid', 40, 4, loss=57.0, rec=57.0, kl=3.0, neg_elbo=60.0,
          mi_batch=0.4, mi=0.8, au=4, kappa_mean=20.0, kappa_p10=5.0,
          kappa_p90=40.0)
  records = plotting.read_metrics(str(tmp_path / 'metrics.jsonl'))
  assert [k for k, _ in plotting.latent_panels(records)] == [
      'kl', 'mi', 'au', 'kappa_mean']
  plotting.plot_run(str(tmp_path))
  img = matplotlib.image.imread(str(tmp_path / 'plots' / 'latent.png'))
  assert img.shape[1] > 3.5 * img.shape[0]        # four panels side by side


def _steps_run(workdir, encoder_steps):
  os.makedirs(workdir)
  w = MetricWriter(os.path.join(workdir, 'metrics.jsonl'))
  for i, enc in enumerate(encoder_steps):
    extra = {'encoder_steps': enc} if enc is not None else {}
    w.write('train', 100 * (i + 1), (i + 1) / 2, loss=60.0, kl_weight=0.5,
            kl=2.0, **extra)
  w.write('valid', 100 * len(encoder_steps), 2, loss=61.0, rec=59.0, kl=2.0,
          neg_elbo=61.0, mi_batch=0.5, mi=0.6, au=3)
  plotting.plot_run(workdir)
  img = matplotlib.image.imread(os.path.join(workdir, 'plots', 'steps.png'))
  return read_metrics(os.path.join(workdir, 'metrics.jsonl')), img.shape


def test_aggressive_training_gets_its_encoder_steps_panel(tmp_path):
  records, shape = _steps_run(str(tmp_path / 'aggr'), [53.9, 47.7, 0.0, 0.0])
  assert plotting.aggressive_mode_ends(records) == [300]
  assert shape[0] > shape[1] * 0.8  # two panels, one above the other
  records, shape = _steps_run(str(tmp_path / 'plain'), [None, None])
  assert plotting.aggressive_mode_ends(records) == []
  assert shape[0] < shape[1] * 0.6  # one panel
