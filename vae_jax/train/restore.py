"""Loads a trained run from its workdir: config, vocabulary, model, parameters."""

import json
import os
from typing import Any, NamedTuple

import ml_collections

from vae_jax.data import DataError
from vae_jax.train.checkpoint import Checkpointer
from vae_jax.train.inputs import load_vocabulary, prepare_inputs


def load_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise DataError(f'{path} not found: is {workdir!r} the workdir of a '
                    'training run (python -m experiments.train --workdir=...)?')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def _flatten(d, prefix: str = '') -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def config_differences(saved: dict, config: ml_collections.ConfigDict
                       ) -> list[str]:
  """'key: saved -> now' for every key whose value differs between a run's
  config.json (`saved`, as loaded from JSON) and `config`, keys present in
  only one of them included; sorted."""
  a = _flatten(saved)
  b = _flatten(json.loads(config.to_json()))
  missing = object()
  return [f'{k}: {a.get(k, "(absent)")!r} -> {b.get(k, "(absent)")!r}'
          for k in sorted(set(a) | set(b))
          if a.get(k, missing) != b.get(k, missing)]


class Trained(NamedTuple):
  """A run restored from its workdir (`load_trained`)."""
  config: ml_collections.ConfigDict
  model: Any
  params: Any
  inputs: Any
  step: int
  epoch: int  # the checkpoint's epoch: see `checkpoint_epoch`


def checkpoint_epoch(meta: dict, which: str) -> int:
  """The epoch a checkpoint's parameters come from, counted from 1.

  The training loop saves the best checkpoint with the 0-based epoch it
  validated: the best checkpoint of the first epoch is epoch 1. It saves
  the latest with the number of epochs completed, plus `batch_in_epoch`,
  the batches done of the next one when it stopped mid-epoch; this returns
  the epochs completed (0 for a checkpoint taken inside the first epoch,
  1 for one after the first epoch and some batches of the second).
  """
  if which == 'best':
    return int(meta['epoch']) + 1
  return int(meta['epoch'])


def load_trained(workdir: str, *, data_dir: str | None = None,
                 which: str = 'best', splits=('valid', 'test')) -> Trained:
  """Returns a run's (config, model, params, inputs, step, epoch): `Trained`.

  Args:
    workdir: the run's directory.
    data_dir: overrides the data directory stored in the run's config.
    which: 'best' (by validation loss) or 'latest'.
    splits: the splits to load and batch.
  """
  config = load_config(workdir)
  if data_dir:
    config.data.data_dir = data_dir
  vocab = load_vocabulary(workdir)
  if vocab is None:
    raise DataError(f'no vocab.txt in {workdir!r}: the run did not start')
  inputs = prepare_inputs(config, workdir, splits=tuple(splits), vocab=vocab)
  model, state, meta = restore_checkpoint(config, workdir, inputs,
                                         which=which)
  return Trained(config, model, state.params, inputs, int(state.step),
                 checkpoint_epoch(meta, which))


def load_trained_vae(workdir: str, *, purpose: str, **kwargs) -> Trained:
  """`load_trained` for tools that need a latent: a run of another model
  (the LM) is a `DataError` saying what it lacks, `purpose` ('it has no
  latent space to map')."""
  # pylint: disable=g-import-not-at-top
  from vae_jax.models import SentenceVAE
  trained = load_trained(workdir, **kwargs)
  if not isinstance(trained.model, SentenceVAE):
    raise DataError(f'{workdir!r} is not a VAE run (model.kind='
                    f'{trained.config.model.kind!r}): {purpose}')
  return trained


def batch_dependence_note(model) -> str | None:
  """For a model whose posterior depends on the rest of its batch
  (`SentenceVAE.uses_batch_statistics`, the head's own flag), a note to
  print beside figures drawn from its posterior means; None otherwise.

  BN-VAE normalises the means with each batch's own statistics, in
  evaluation too, and the batches are cut by length: what a batch's
  sentences share (their length first) is removed from their means, and a
  map or a correlation computed from them depends on the batching."""
  if not getattr(model, 'uses_batch_statistics', False):
    return None
  return ('note: this run normalises its posterior means with each '
          "batch's own statistics (BN-VAE), and the batches are cut by "
          'length: what a batch shares (its length first) is removed from '
          'the means, so these figures depend on the batching '
          '(BUILD_NOTES.md, "BN-VAE: final")')


def restore_checkpoint(config, workdir: str, inputs, *, which: str = 'latest'):
  """(model, train state, meta) of a run's `which` checkpoint ('latest' or
  'best'), restored onto a fresh one-device state built from `config`.

  Raises:
    DataError: the run has no such checkpoint.
  """
  # pylint: disable=g-import-not-at-top
  from vae_jax.train.loop import build_everything, init_state
  model, tx = build_everything(config, inputs)
  ckpt = Checkpointer(os.path.join(workdir, 'checkpoints', which))
  try:
    if ckpt.latest_step() is None:
      raise DataError(f'no {which!r} checkpoint under {workdir}/checkpoints')
    state, meta = ckpt.restore(init_state(config, model, tx, inputs))
  finally:
    ckpt.close()
  return model, state, meta
