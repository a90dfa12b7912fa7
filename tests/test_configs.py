"""Every experiment config loads, is locked, and names a buildable model."""

import glob
import importlib
import os

import pytest

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
  config = module.get_config(arg) if name != 'default' else module.get_config()
  assert config.is_locked
  with pytest.raises(AttributeError):
    config.train.lerning_rate = 1.0       # a typo is an error, not a new key
  build_model(config.model, 100)
  assert config.model.kind in ('lm', 'vae')


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
