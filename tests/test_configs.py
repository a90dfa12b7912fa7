"""Every experiment config loads, is locked, and names a buildable model."""

import glob
import importlib
import os

import pytest

from experiments.configs import default
from vae_jax.models import build_model

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'experiments', 'configs')
NAMES = sorted(os.path.splitext(os.path.basename(p))[0]
               for p in glob.glob(os.path.join(CONFIG_DIR, '*.py'))
               if not p.endswith('__init__.py'))


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('arg', [None, 'smoke'])
def test_config_loads_and_builds(name, arg):
  module = importlib.import_module(f'experiments.configs.{name}')
  config = module.get_config(arg)
  assert config.is_locked
  with pytest.raises(AttributeError):
    config.train.lerning_rate = 1.0       # a typo is an error, not a new key
  build_model(config.model, 100)
  assert config.model.kind in ('lm', 'vae')
  if arg == 'smoke':  # default.smoke's sizes, on the generated corpus
    small = default.smoke(default.get_config())
    assert config.data.corpus == 'synthetic'
    for key in ('train.max_epochs', 'train.batch_size', 'model.latent_dim',
                'model.dec_hidden', 'data.synthetic_train'):
      group, name = key.split('.')
      assert config[group][name] == small[group][name], key


def test_unknown_config_argument_is_an_error():
  from experiments.configs import ptb_vae
  with pytest.raises(ValueError, match='smoke'):
    ptb_vae.get_config('smok')


@pytest.mark.parametrize('name,latent,tau', [
    ('ptb_vae_bernoulli', 'bernoulli', None),
    ('ptb_vae_gumbel', 'gumbel', 1.0),
    ('ptb_vae_gumbel_st', 'gumbel_st', 1.0),
    ('ptb_vae_categorical_st', 'categorical_st', None),
])
def test_discrete_ptb_rows(name, latent, tau):
  from vae_jax.train.loop import temperature_schedule_from_config
  module = importlib.import_module(f'experiments.configs.{name}')
  for arg in (None, 'smoke'):
    config = module.get_config(arg)
    assert config.model.latent == latent
    assert config.data.corpus == ('ptb' if arg is None else 'synthetic')
    sched = temperature_schedule_from_config(config, 1315)
    if tau is None:
      assert sched is None
    else:  # Jang et al.: max(0.5, exp(-1e-4 t))
      assert [round(float(sched(t)), 4) for t in (0, 5000, 10**5)] == [
          tau, 0.6065, 0.5]


def _flat(d, prefix=''):
  out = {}
  for k, v in d.items():
    if isinstance(v, dict) and v:
      out.update(_flat(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


PTB_ROWS = {
    'ptb_vae_aggressive': {'train.aggressive': True,
                           'train.checkpoint_every_steps': 200},
    'ptb_vae_bn': {'model.latent_kwargs.bn_gamma': 0.6,
                   'model.latent_kwargs.bn_eps': 1e-12},
    'ptb_vae_fb_kingma': {'objective.kl_mode': 'free_bits_kingma',
                          'objective.kl_threshold': 0.25},
    'ptb_vae_fb_li': {'objective.kl_mode': 'free_bits_li',
                      'objective.kl_threshold': 8.0},
    'ptb_vae_pretrain_fb': {'train.pretrain_encoder_epochs': 100,
                            'objective.kl_schedule.start': 0.0,
                            'objective.kl_mode': 'free_bits_li',
                            'objective.kl_threshold': 8.0},
    'ptb_vae_vmf': {'model.latent': 'vmf', 'model.latent_kwargs.kappa': 80.0},
    'ptb_vae_vmf_learned': {'model.latent': 'vmf',
                            'model.latent_kwargs.learn_kappa': True},
    'ptb_vae_word_dropout': {'model.word_dropout': 0.25},
}


@pytest.mark.parametrize('name', sorted(PTB_ROWS))
def test_ptb_rows_change_only_their_remedy(name):
  from experiments.configs import ptb_vae
  base = _flat(ptb_vae.get_config().to_dict())
  row = _flat(importlib.import_module(
      f'experiments.configs.{name}').get_config().to_dict())
  changed = {k: v for k, v in row.items() if base.get(k, object()) != v}
  assert changed == PTB_ROWS[name]
  assert set(base) - set(row) <= {'model.latent_kwargs'}  # empty -> filled


def test_ptb_cyclical_row_follows_fu_et_al():
  """M = 4 cycles of 10 epochs, rising 0 -> 1 over the first half."""
  from experiments.configs import ptb_vae_cyclical
  from vae_jax.train.loop import kl_schedule_from_config
  schedule = kl_schedule_from_config(
      ptb_vae_cyclical.get_config().objective.kl_schedule, 1000)
  values = [float(schedule(t)) for t in (0, 2500, 5000, 9999, 10000, 35000,
                                         40000, 90000)]
  assert values == pytest.approx([0.0, 0.5, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0],
                                 abs=1e-3)


@pytest.mark.parametrize('name', NAMES)
def test_every_config_uses_only_known_keys(name):
  module = importlib.import_module(f'experiments.configs.{name}')
  assert default.unknown_keys(module.get_config()) == []


def test_unknown_keys_of_an_unlocked_user_config():
  c = default.get_config()
  c.unlock()
  c.train.lerning_rate = 0.5                 # typo of a known key
  c.evaluation = {'k': 1}                    # an unknown group
  c.model.latent_kwargs.learn_kappa = True   # open blocks are not checked
  c.objective.kl_schedule.ratio = 0.5
  assert default.unknown_keys(c) == ['evaluation', 'train.lerning_rate']
  with pytest.raises(ValueError, match=r'keys: evaluation, train\.lerning_rate '
                     r'\(did you mean train\.learning_rate\?\);'):
    default.check_keys(c)
  default.check_keys(default.get_config())   # the base config passes
