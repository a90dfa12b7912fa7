"""Encoder pretraining (Li et al., 2019): an autoencoder first, then the VAE.

Stage 1 trains the same model as an autoencoder: KL weight 0 (the posterior
is still sampled, as in their `text_beta.py --beta 0`), no free bits, no
aggressive steps, the best checkpoint chosen by validation reconstruction.
Stage 2 (the configured run) starts from stage 1's best encoder and latent
head and a re-initialised decoder, with fresh optimizer state and step
counter, and trains with its own schedule and free bits (their
`text_anneal_fb.py --load_path ... --reset_dec --kl_start 0 --warm_up 10
--target_kl 8 --fb 2`).

Stage 1 is an ordinary run in its own workdir (by default
`<workdir>/pretrain_encoder`), with its own checkpoints: a run stopped in
stage 1 resumes there, and a run stopped after the switch finds stage 1
finished (its final.json) and starts stage 2 from the same state again.

The decoder of stage 2 is the initialisation of the configured seed, i.e.
the same values stage 1 started its decoder from (Li et al. draw new
values from the random state at the end of stage 1).
"""

import copy
import os

import ml_collections

from vae_jax.train import aggressive
from vae_jax.train.checkpoint import Checkpointer
from vae_jax.train.logging_utils import log
from vae_jax.train.state import TrainState, make_optimizer

STAGE1_DIR = 'pretrain_encoder'


def stage1_workdir(config, workdir: str) -> str:
  return config.train.pretrain_encoder_workdir or os.path.join(workdir,
                                                               STAGE1_DIR)


def stage1_config(config) -> ml_collections.ConfigDict:
  """The autoencoder run of stage 1, derived from the stage-2 config."""
  c = copy.deepcopy(config)
  with c.unlocked():
    c.objective.kl_schedule = ml_collections.ConfigDict(
        {'name': 'constant', 'value': 0.0})
    c.objective.kl_mode = 'standard'
    c.train.max_epochs = config.train.pretrain_encoder_epochs
    c.train.pretrain_encoder_epochs = 0
    c.train.pretrain_encoder_workdir = ''
    c.train.aggressive = False
    c.train.model_selection = 'rec'
  return c


def run_stage1(config, workdir: str) -> str:
  """Trains (or resumes, or finds finished) stage 1; returns its workdir."""
  from vae_jax.train.loop import train_and_evaluate  # pylint: disable=g-import-not-at-top
  directory = stage1_workdir(config, workdir)
  if not os.path.exists(os.path.join(directory, 'final.json')):
    log(f'encoder pretraining (stage 1, an autoencoder) in {directory}')
    train_and_evaluate(stage1_config(config), directory)
  return directory


def pretrained_params(config, directory: str, state: TrainState):
  """Parameters of stage 1's best checkpoint (structured like `state`'s)."""
  t = config.train
  # Stage 1 never runs aggressively: its checkpoints hold one optimizer.
  tx = make_optimizer(name=t.optimizer, learning_rate=t.learning_rate,
                      grad_clip=t.grad_clip, momentum=t.momentum)
  abstract = state.replace(opt_state=tx.init(state.params))
  ckpt = Checkpointer(os.path.join(directory, 'checkpoints', 'best'))
  try:
    if ckpt.latest_step() is None:
      raise FileNotFoundError(f'stage 1 in {directory} has no best checkpoint')
    return ckpt.restore(abstract)[0].params
  finally:
    ckpt.close()


def with_pretrained_encoder(config, workdir: str,
                            state: TrainState) -> TrainState:
  """Stage 2's initial state: `state` (a fresh initialisation) with the
  encoder and latent head of stage 1. Runs stage 1 first if needed."""
  directory = run_stage1(config, workdir)
  encoder = aggressive.split_params(
      pretrained_params(config, directory, state))['encoder']
  decoder = aggressive.split_params(state.params)['decoder']
  log(f'stage 2: encoder from {directory}, decoder re-initialised')
  # The optimizer state of a fresh run depends only on the shapes: keep it.
  return state.replace(params=aggressive.merge_params(
      {'encoder': encoder, 'decoder': decoder}))
