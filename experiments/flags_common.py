"""Flags shared by the experiment binaries; translated into arguments here."""

import os

from absl import flags
from absl import logging
from ml_collections import config_flags

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'configs')


def define_config_flags(default_config: str) -> None:
  # The config files lock themselves (`default.get_config`) except the open
  # blocks (the latent head's options, the temperature schedule), so a
  # misspelt key is still an error while a head's option that the config
  # does not set (--config.model.latent_kwargs.learn_kappa=True) can be
  # given: ml_collections parses an override of a new key only with
  # accept_new_attributes, which needs lock_config=False. `resolve` then
  # checks every key against the base config (`default.check_keys`), so a
  # user's config file that does not lock itself gets the same error.
  config_flags.DEFINE_config_file(
      'config', os.path.join(CONFIG_DIR, default_config),
      'ml_collections config file; append ":smoke" for a seconds-long run. '
      'Override keys with --config.train.learning_rate=0.5 (a misspelt key '
      'is an error); the latent head\'s options may be added, e.g. '
      '--config.model.latent_kwargs.learn_kappa=True.', lock_config=False,
      accept_new_attributes=True)
  flags.DEFINE_string('workdir', None,
                      'Run directory (metrics, checkpoints, plots). Default: '
                      'runs/<config name>. Starting again in the same '
                      'workdir resumes from its latest checkpoint.')
  flags.DEFINE_string('data_dir', None,
                      'Directory holding the corpus files (overrides '
                      'config.data.data_dir and $VAE_JAX_DATA_DIR).')


def define_iw_batching_flags() -> None:
  """How the IW-NLL batches the split (`evaluation.iw_batcher`); 0 = config."""
  flags.DEFINE_integer('iw_batch_size', 0, "Sentences per IW-NLL batch; 0: "
                       "the config's eval.batch_size.")
  flags.DEFINE_integer('iw_buckets', 0, 'Length buckets of the IW-NLL '
                       "batches; 0: the config's eval.iw_buckets.")
  flags.DEFINE_integer('iw_chunk', 0, 'At most this many IW samples a '
                       "decoder pass; 0: the config's eval.iw_chunk.")


def define_runtime_flags() -> None:
  """Flags of process-wide settings (`vae_jax.runtime`)."""
  from vae_jax import runtime  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string(
      'compilation_cache_dir', runtime.default_compilation_cache_dir(),
      'Keep compiled steps here (JAX persistent compilation cache), so a '
      'resumed or repeated run does not compile them again; empty: off.')


def apply_runtime_flags() -> None:
  """Before the first computation: glibc keeps freed memory for XLA's
  per-step buffers (`runtime.reuse_freed_memory`) and the compilation cache
  of --compilation_cache_dir is turned on."""
  from vae_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.reuse_freed_memory()
  runtime.enable_compilation_cache(flags.FLAGS.compilation_cache_dir)


def quiet_library_logs() -> None:
  """Orbax and JAX log every checkpoint step at INFO; progress lines are
  printed anyway, so show library logs from WARNING unless --verbosity is
  given."""
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)


def resolve(config) -> tuple[object, str]:
  """Applies --data_dir and returns (config, workdir)."""
  quiet_library_logs()
  # pylint: disable=g-import-not-at-top
  from absl import app
  from experiments.configs import default
  f = flags.FLAGS
  config_path = config_flags.get_config_filename(f['config'])
  try:
    default.check_keys(config)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  if f.data_dir:
    config.data.data_dir = f.data_dir
  workdir = f.workdir
  if not workdir:
    name = os.path.splitext(os.path.basename(
        (config_path or 'run').split(':')[0]))[0]
    if config_path and ':' in config_path:
      name += '_' + config_path.split(':', 1)[1]
    workdir = os.path.join('runs', name)
  return config, workdir


def define_distributed_flags() -> None:
  """Flags of multi-process runs (see vae_jax.train.distributed)."""
  flags.DEFINE_enum(
      'distributed', 'auto', ['auto', 'on', 'off'],
      'Join other processes with jax.distributed.initialize: auto does when '
      'the flags below are given or the environment shows a multi-process '
      'launch (Slurm srun with several tasks, Open MPI, '
      'JAX_COORDINATOR_ADDRESS, a multi-host TPU slice); on always (JAX '
      'detects the cluster, e.g. a TPU pod); off never.')
  flags.DEFINE_string('coordinator_address', None,
                      'host:port of process 0, e.g. 10.0.0.1:1234.')
  flags.DEFINE_integer('num_processes', None, 'Number of processes.')
  flags.DEFINE_integer('process_id', None,
                       'This process\'s index in [0, num_processes).')


def initialize_distributed() -> bool:
  """Applies the flags of `define_distributed_flags`; before any JAX work.

  Returns whether this is a multi-process run.
  """
  # pylint: disable=g-import-not-at-top
  from absl import app
  from vae_jax.train import distributed
  f = flags.FLAGS
  try:
    return distributed.maybe_initialize(
        coordinator_address=f.coordinator_address,
        num_processes=f.num_processes, process_id=f.process_id,
        mode=f.distributed)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
