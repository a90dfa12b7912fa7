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
