"""The training loop: `train_and_evaluate(config, workdir)`.

Host-side only: it feeds fixed-shape batches to the jitted pure step, logs
sums every N steps (never a per-step host round trip), evaluates every
epoch, halves the learning rate on plateaus, checkpoints, and resumes from
the latest checkpoint when started again in the same workdir.
"""

import contextlib
import functools
import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax import schedules
from vae_jax.train import aggressive, pretrain
from vae_jax.models import build_model
from vae_jax.train import distributed, evaluation
from vae_jax.train.interrupt import StopRequest, TrainingInterrupted
from vae_jax.train.checkpoint import Checkpointer, SaveTimer
from vae_jax.train.inputs import Inputs, prepare_inputs
from vae_jax.train.logging_utils import (MetricWriter, Progress, log,
                                         metrics_line)
from vae_jax.train.parallel import ParallelStep, make_parallel_train_step
from vae_jax.train.parallel_eval import ShardedEvaluator, check_eval_batch_size
from vae_jax.train.plateau import Plateau
from vae_jax.train.restore import config_differences
from vae_jax.train.state import (TrainState, count_params, create_train_state,
                                 get_learning_rate, make_optimizer,
                                 set_learning_rate)
from vae_jax.train.steps import (merge_metrics_jit, param_norm, summarize,
                                  train_step)
from vae_jax.train.workdir_lock import exclusive_workdir


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or inf; the run stopped without saving that state."""


class ConfigError(ValueError):
  """The config's model block cannot build a model (found before any file
  is written)."""


def check_model_config(config) -> None:
  """Builds the model on a placeholder vocabulary, so that an unknown kind or
  latent family, or a latent head's option it does not take (a misspelt
  `model.latent_kwargs` key), is an error before the workdir is created."""
  try:
    build_model(config.model, 8)
  except (TypeError, ValueError) as e:
    raise ConfigError(f'config model block: {e}') from None


def kl_schedule_from_config(sched_cfg, steps_per_epoch: int):
  """Builds the KL-weight schedule; `*_epochs` keys are converted to steps."""
  d = dict(sched_cfg)
  for k in list(d):
    if k.endswith('_epochs'):
      d[k[:-len('_epochs')] + '_steps'] = int(round(d.pop(k) * steps_per_epoch))
  return schedules.make_schedule(d)


RELAXED_LATENTS = ('gumbel', 'gumbel_st')


def temperature_schedule_from_config(config, steps_per_epoch: int):
  """The Gumbel-softmax tau schedule, or None (`objective.temperature_schedule`
  name 'none': the head's fixed `latent_kwargs.temperature`).

  `*_epochs` keys are converted to steps like the KL schedule's. Only the
  relaxed heads use a temperature; a schedule for another is an error.
  """
  d = dict(config.objective.get('temperature_schedule', {}) or {})
  if d.get('name', 'none') == 'none':
    return None
  if config.model.kind != 'vae' or config.model.latent not in RELAXED_LATENTS:
    raise ValueError(
        f'config objective.temperature_schedule={d} is set but model.latent='
        f'{config.model.latent!r} has no temperature: use one of '
        f'{RELAXED_LATENTS}, or name=\'none\'')
  return kl_schedule_from_config(d, steps_per_epoch)


def lr_cycle_from_config(config, steps_per_epoch: int):
  """The learning-rate factor of `train.lr_cycle` (Fu et al.'s per-cycle
  restart, `schedules.cosine_restarts` over the cycles of the cyclical KL
  schedule), or None when the option is off."""
  if not config.train.get('lr_cycle', False):
    return None
  kl = dict(config.objective.kl_schedule)
  if config.model.kind != 'vae' or kl.get('name') != 'cyclical':
    raise ValueError(
        'config train.lr_cycle=True restarts the learning rate with the '
        "cycles of objective.kl_schedule name='cyclical'; this run has "
        f'model.kind={config.model.kind!r}, objective.kl_schedule={kl}')
  cycles = {k: v for k, v in kl.items()
            if k in ('total_steps', 'total_epochs', 'num_cycles')}
  return kl_schedule_from_config(dict(cycles, name='cosine_restarts'),
                                 steps_per_epoch)


def build_everything(config, inputs: Inputs):
  model = build_model(config.model, len(inputs.vocab),
                      unk_id=inputs.vocab.unk_id, pad_id=inputs.vocab.pad_id,
                      bos_id=inputs.vocab.bos_id)
  t = config.train
  # Aggressive training keeps separate encoder and decoder optimizers. (The
  # config.json of a run from before that option lacks the key.)
  make = (aggressive.make_split_optimizer if t.get('aggressive', False)
          else make_optimizer)
  tx = make(name=t.optimizer, learning_rate=t.learning_rate,
            grad_clip=t.grad_clip, momentum=t.momentum)
  return model, tx


def init_state(config, model, tx, inputs: Inputs) -> TrainState:
  batcher = inputs.batchers.get('train') or next(iter(inputs.batchers.values()))
  example = batcher.epoch(config.seed, 0)[0]
  return create_train_state(model, tx, example, seed=config.seed)


def make_train_step(config, model, tx, steps_per_epoch: int, *,
                    devices=None) -> ParallelStep:
  """The train step over `config.train.parallel` (see `vae_jax.train.parallel`)
  on `devices` (default: all), or with `config.train.aggressive` an
  `aggressive.AggressiveStep`."""
  schedule = (kl_schedule_from_config(config.objective.kl_schedule,
                                      steps_per_epoch)
              if config.model.kind == 'vae' else schedules.constant(0.0))
  tau = temperature_schedule_from_config(config, steps_per_epoch)
  if config.train.aggressive:
    return aggressive.make_aggressive_step(config, model, tx, schedule, tau)
  step = functools.partial(train_step, model=model, tx=tx,
                           kl_schedule=schedule,
                           kl_mode=config.objective.kl_mode,
                           kl_threshold=config.objective.kl_threshold,
                           # absent from the config.json of older runs
                           kl_groups=config.objective.get('kl_groups', 0),
                           temperature_schedule=tau)
  return make_parallel_train_step(config.train.parallel, step,
                                  batch_size=config.train.batch_size,
                                  devices=devices)


def _check_finite(acc, where: str) -> None:
  bad = int(acc['first_nonfinite_step'])
  if bad != np.iinfo(np.int32).max:
    raise NonFiniteLossError(
        f'the training loss became NaN or inf at step {bad} ({where}); the run '
        'stopped and the last good checkpoint was kept. Lower '
        'train.learning_rate, check train.grad_clip, or resume from the '
        'checkpoint with a different seed.')


def train_and_evaluate(config, workdir: str) -> dict[str, Any]:
  """Trains `config` in `workdir` (resuming if it holds a checkpoint).

  Writes: vocab.txt, config.json, metrics.jsonl, checkpoints/{latest,best},
  plots/*.png, samples.txt and final.json (test metrics). With several
  processes (`vae_jax.train.distributed`) every process runs this, reads its
  own rows of each batch and gets the same results; process 0 writes the
  files and all of them the checkpoints (orbax). Process 0 holds the
  workdir's lock while it runs: a second run of the same workdir raises
  `WorkdirBusyError` before it changes anything.

  Returns:
    The final test metrics.
  """
  check_model_config(config)
  inputs = prepare_inputs(config, workdir)  # creates workdir once data is good
  with contextlib.ExitStack() as stack:  # closed in reverse on any exit
    if distributed.is_chief():
      stack.enter_context(exclusive_workdir(workdir))
    return _train_and_evaluate(config, workdir, inputs, stack)


def _train_and_evaluate(config, workdir: str, inputs: Inputs,
                        stack: contextlib.ExitStack) -> dict[str, Any]:
  from vae_jax import plotting  # pylint: disable=g-import-not-at-top
  from vae_jax.analysis import generation  # pylint: disable=g-import-not-at-top
  model, tx = build_everything(config, inputs)
  train_b = inputs.batchers['train']
  if jax.process_count() > 1:  # this process's rows of every global batch
    train_b = distributed.ProcessShard(
        inputs.sequences['train'], global_batch_size=config.train.batch_size,
        boundaries=train_b.boundaries, pad_id=inputs.vocab.pad_id,
        bos_id=inputs.vocab.bos_id)
  steps_per_epoch = train_b.num_batches
  chief = distributed.is_chief()
  t = config.train
  if t.model_selection not in ('loss', 'rec'):
    raise ValueError(f'config train.model_selection={t.model_selection!r}: '
                     "choose 'loss' or 'rec'")
  total_steps = steps_per_epoch * t.max_epochs
  if t.max_steps:
    total_steps = min(total_steps, t.max_steps)
  for split, st in inputs.stats.items():
    log(f'{split}: {st}')

  state = init_state(config, model, tx, inputs)
  # closed when the run ends, is interrupted or fails (`stack`)
  latest = stack.enter_context(contextlib.closing(
      Checkpointer(os.path.join(workdir, 'checkpoints', 'latest'))))
  best = stack.enter_context(contextlib.closing(
      Checkpointer(os.path.join(workdir, 'checkpoints', 'best'))))
  writer = MetricWriter(os.path.join(workdir, 'metrics.jsonl'), enabled=chief)
  plateau = Plateau(patience=t.decay_patience, factor=t.lr_decay,
                    min_epoch=t.decay_min_epoch, max_decays=t.max_decays)
  meta = {'epoch': 0, 'batch_in_epoch': 0, 'plateau': plateau.initial_state(),
          'epoch_sums': None, 'done': False,
          'vocab_fingerprint': inputs.vocab.fingerprint(),
          'aggressive': aggressive.initial_mode(t.aggressive)}
  if latest.latest_step() is not None:
    state, meta = latest.restore(state)
    meta.setdefault('aggressive', aggressive.initial_mode(False))
    writer.truncate_after(int(state.step))
    log(f'resuming from {latest.directory} at step {int(state.step)} '
        f'(epoch {meta["epoch"] + 1}, after batch {meta["batch_in_epoch"]})')
    saved = os.path.join(workdir, 'config.json')
    if chief and os.path.exists(saved):
      with open(saved) as f:
        changed = config_differences(json.load(f), config)
      if changed:  # e.g. a longer run on purpose; but say so
        log('warning: resuming with a config that differs from the one the '
            f'run started with ({saved}, left as it is): ' + '; '.join(changed))
  else:
    if t.pretrain_encoder_epochs:  # Li et al. (2019): stage 1, an autoencoder
      state = pretrain.with_pretrained_encoder(config, workdir, state)
    if chief:
      with open(os.path.join(workdir, 'config.json'), 'w') as f:
        f.write(config.to_json(indent=2))
      log(f'model: {config.model.kind} with {count_params(state.params):,} '
          f'parameters; {steps_per_epoch} steps per epoch')

  p_train_step = make_train_step(config, model, tx, steps_per_epoch)
  lr_factor = lr_cycle_from_config(config, steps_per_epoch)

  def plateau_rate(num_decays):  # what lr_factor scales, from the config
    return t.learning_rate * t.lr_decay ** num_decays
  # Data-parallel runs evaluate over the same devices (same numbers).
  evaluator = None
  if t.parallel != 'none':
    check_eval_batch_size(config.data.eval_batch_size, jax.device_count())
    evaluator = ShardedEvaluator(model)
  eval_rng = jax.random.key(config.seed + 1)
  progress = Progress(total_steps, int(state.step))
  step = int(state.step)
  # Recomputed under this config, not read from meta['done']: a run that
  # ended at max_epochs (or max_steps) goes on when resumed with a larger
  # one; one whose learning-rate decays are spent stays stopped.
  stop = plateau.stopped(meta['plateau']) or step >= total_steps
  precompiled = False

  # besides every checkpoint_every_steps: once this much wall time passed
  save_timer = SaveTimer(60.0 * t.get('checkpoint_every_minutes', 0.0))

  def save_latest(meta_update, host_state):
    meta.update(meta_update)
    latest.save(step, host_state, meta)
    save_timer.saved()

  # A SIGTERM or Ctrl-C stops the run at the next step with a checkpoint;
  # with several processes a SIGTERM to any stops all at one agreed step
  # (vae_jax/train/interrupt.py).
  with StopRequest(multiprocess=jax.process_count() > 1) as stop_request:
    while not stop and meta['epoch'] < t.max_epochs:
      epoch = meta['epoch']  # 0-based, as the data order and the plateau rule
      number = epoch + 1  # 1-based: the console, metrics.jsonl and the tables
      batches = train_b.epoch(config.seed, epoch)
      acc = None
      epoch_acc = ({k: jnp.asarray(v) for k, v in meta['epoch_sums'].items()}
                   if meta['epoch_sums'] else None)
      t_epoch = time.time()
      if lr_factor is not None:  # from (epoch, decays): the same on resume
        state = set_learning_rate(
            state, plateau_rate(meta['plateau']['num_decays'])
            * float(lr_factor(epoch * steps_per_epoch)))
      lr = get_learning_rate(state)  # changes only between epochs
      # Within the epoch `state` is placed on the devices (replicated); outside
      # it, it is the one-device state checkpoints hold.
      state = p_train_step.put_state(state)
      if t.aggressive:
        p_train_step.begin_epoch(batches, meta['aggressive']['active'])
      workers = t.get('compile_workers', 1)
      if not precompiled and workers > 1 and not t.aggressive:
        t_compile = time.time()  # bucket shapes side by side
        shapes = p_train_step.precompile(state, batches, max_workers=workers)
        log(f'compiled the train step for {shapes} batch shapes in '
            f'{time.time() - t_compile:.1f} s')
      precompiled = True
      i = meta['batch_in_epoch'] - 1
      for i in range(meta['batch_in_epoch'], len(batches)):
        state, m = p_train_step(state, batches[i])
        step += 1
        acc = merge_metrics_jit(acc, m) if acc is not None else m
        epoch_acc = (merge_metrics_jit(epoch_acc, m) if epoch_acc is not None
                     else m)
        last = i == len(batches) - 1 or step >= total_steps
        logged = step % t.log_every_steps == 0 or last
        if logged:
          _check_finite(acc, f'epoch {number}, found after batch {i + 1}')
          summary = summarize(acc)
          summary['lr'] = lr
          # this run's limit, if it was resumed with another
          summary['max_epochs'] = t.max_epochs
          summary['param_norm'] = float(param_norm(state.params))
          rates = progress.update(step, summary['num_tokens'],
                                  epoch_steps_left=len(batches) - 1 - i)
          summary.update(rates)
          writer.write('train', step, epoch + (i + 1) / len(batches), **summary)
          log(Progress.line(step, total_steps, number, rates, summary,
                            eta_is_bound=t.max_decays > 0))
          acc = None
        periodic = (step % t.checkpoint_every_steps == 0
                    or save_timer.due(sync=logged and not last))
        if (stop_request.check(step) or periodic) and not last:
          _check_finite(epoch_acc, f'epoch {number}, found after batch {i + 1}')
          sums = jax.tree.map(lambda x: x.item(), epoch_acc)
          save_latest({'batch_in_epoch': i + 1, 'epoch_sums': sums},
                      p_train_step.get_state(state))
          if stop_request.signum:
            raise TrainingInterrupted(stop_request.signum, step,
                                      latest.directory)
        if step >= total_steps:
          stop = True
          break
      # -- end of epoch (or of the step budget) -------------------------------
      state = p_train_step.get_state(state)
      t_eval = time.perf_counter()
      epoch_done = i == len(batches) - 1
      if epoch_acc:
        writer.write('train_epoch', step, number, **summarize(epoch_acc),
                     seconds=time.time() - t_epoch)
      valid = evaluation.evaluate_split(
          state.params, model, inputs.batchers['valid'],
          jax.random.fold_in(eval_rng, epoch),
          diagnostics=config.train.eval_diagnostics, evaluator=evaluator)
      writer.write('valid', step, number, **valid)
      log(f'epoch {number} valid: ' + metrics_line(valid))
      if epoch_done:
        pstate, actions = plateau.update(meta['plateau'], epoch,
                                         valid[t.model_selection])
        if meta['aggressive']['active']:
          meta['aggressive'] = aggressive.next_mode(meta['aggressive'],
                                                    valid['mi_batch'])
          if not meta['aggressive']['active']:
            log(f'validation MI fell to {valid["mi_batch"]:.3f}: aggressive '
                'training ends')
      else:  # stopped mid-epoch by the step budget: no plateau bookkeeping
        pstate, actions = meta['plateau'], {'improved': False, 'decay': False,
                                            'stop': False}
      meta['plateau'] = pstate
      if actions['improved']:
        best.save(step, state, {'epoch': epoch, 'valid': valid})
      if actions['decay']:
        lr = get_learning_rate(state) * t.lr_decay
        if t.reload_best_on_decay and best.latest_step() is not None:
          state, _ = best.restore(state)
          state = state.replace(step=jnp.asarray(step, jnp.int32))
        state = set_learning_rate(state, lr)
        what = f'learning rate -> {lr:g}'
        if lr_factor is not None:  # each epoch scales it anew
          what = (f'learning rate before the cycle factor -> '
                  f'{plateau_rate(pstate["num_decays"]):g}')
        log(f'validation plateau: {what} '
            f'(decay {pstate["num_decays"]}/{t.max_decays})')
      if actions['stop']:
        log(f'stopping after {pstate["num_decays"]} learning-rate decays')
        stop = True
      meta['epoch'] = epoch + 1 if epoch_done else epoch
      meta['batch_in_epoch'] = 0 if epoch_done else i + 1
      meta['done'] = stop or meta['epoch'] >= t.max_epochs
      meta['epoch_sums'] = (None if epoch_done or epoch_acc is None else
                            jax.tree.map(lambda x: x.item(), epoch_acc))
      save_latest({}, state)
      if chief:
        plotting.plot_run(workdir)
      progress.exclude(time.perf_counter() - t_eval)
      if stop_request.signum:  # came during the last step or the evaluation
        raise TrainingInterrupted(stop_request.signum, step, latest.directory)

  # -- final evaluation with the best parameters -----------------------------
  params, best_epoch = state.params, meta['epoch']
  if best.latest_step() is not None:
    best_state, best_meta = best.restore(state)
    params, best_epoch = best_state.params, best_meta['epoch'] + 1
  test = evaluation.evaluate_split(params, model, inputs.batchers['test'],
                                   jax.random.fold_in(eval_rng, 10**6),
                                   evaluator=evaluator)
  # the record's epoch is where the run ended; the figures are best_epoch's
  writer.write('test', step, meta['epoch'], best_epoch=best_epoch, **test)
  if chief:
    with open(os.path.join(workdir, 'final.json'), 'w') as f:
      json.dump({'test': test, 'step': step, 'epochs': meta['epoch'],
                 'best_epoch': best_epoch, 'max_epochs': t.max_epochs},
                f, indent=2)
    generation.write_samples(os.path.join(workdir, 'samples.txt'), model,
                             params, inputs, config, seed=config.seed)
    plotting.plot_run(workdir)
  log('test: ' + metrics_line(test))
  return test
