"""Base config: every default in one place, each key commented.

Experiment configs start from `get_config()` here and override a few keys.
The returned config is locked: a misspelt key, in a config file or on the
command line (`--config.train.lerning_rate=...`), is an error.

Run:  python -m experiments.train --config=experiments/configs/default.py
(append `:smoke`, as to any config, for a seconds-long run)
"""

import difflib

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0                    # parameters, data order and every rng stream
  # -- data ---------------------------------------------------------------
  c.data = ml_collections.ConfigDict()
  c.data.corpus = 'synthetic'   # 'synthetic' | 'ptb' | 'textdir' | 'tfds:<name>'
  c.data.data_dir = ''          # '' -> $VAE_JAX_DATA_DIR -> ~/.cache/vae_jax/data
  c.data.text_key = 'text'      # feature key of a tfds corpus
  c.data.download = False       # fetch PTB (sha256-checked) if missing and online
  c.data.max_length = 0         # truncate longer sentences (words); 0: no limit
  c.data.vocab_size = 0         # most frequent words kept; 0: all train words
  c.data.num_buckets = 6        # length buckets = compiled step shapes
  c.data.eval_batch_size = 64
  c.data.synthetic_train = 10000
  c.data.synthetic_valid = 1000
  c.data.synthetic_test = 1000
  # -- model --------------------------------------------------------------
  c.model = ml_collections.ConfigDict()
  c.model.kind = 'vae'          # 'lm' | 'vae'
  c.model.cell = 'lstm'         # 'rnn' | 'gru' | 'lstm'
  c.model.embed_dim = 256
  c.model.enc_hidden = 256
  c.model.dec_hidden = 256
  c.model.latent = 'gaussian'   # latent family, see vae_jax.models.latents
  c.model.latent_dim = 32
  # Options of the latent head (vae_jax.models.latents), by family:
  # gaussian: bn_gamma, bn_eps (BN-VAE); vmf: kappa, learn_kappa; bernoulli:
  # learned_prior; gumbel, gumbel_st, categorical_st: num_classes,
  # temperature, learned_prior; all: init_scale. Set in a config file.
  c.model.latent_kwargs = ml_collections.ConfigDict()
  c.model.dec_dropout_in = 0.5  # dropout on decoder input embeddings
  c.model.dec_dropout_out = 0.5 # dropout on decoder outputs
  c.model.word_dropout = 0.0    # Bowman word dropout (1.0: inputless decoder)
  c.model.z_init_state = True   # c0 = W z, h0 = tanh(c0)
  c.model.z_concat_input = True # z fed with every decoder input
  c.model.init_scale = 0.01     # U(-s, s) weights (He et al. 2019)
  c.model.embed_init_scale = 0.1
  c.model.unroll = 1            # scan unroll (speed only)
  c.model.lstm_impl = 'scan'    # | 'cudnn' (GPU only; the same function)
  # -- objective ----------------------------------------------------------
  c.objective = ml_collections.ConfigDict()
  c.objective.kl_mode = 'standard'  # | free_bits_kingma | free_bits_li | free_bits_total
  c.objective.kl_threshold = 0.0    # free-bits lambda (target KL for free_bits_li)
  c.objective.kl_groups = 0         # free_bits_kingma: floor on this many equal groups of
                                    # dimensions (lambda a group); 0: on each dimension
  c.objective.kl_schedule = ml_collections.ConfigDict()  # see vae_jax.schedules
  c.objective.kl_schedule.name = 'linear'
  c.objective.kl_schedule.start = 0.1    # He et al.: 0.1 -> 1 over 10 epochs
  c.objective.kl_schedule.end = 1.0
  c.objective.kl_schedule.warmup_epochs = 10.0  # converted to steps by the loop
  # Gumbel-softmax tau per step for the relaxed heads ('gumbel', 'gumbel_st'),
  # e.g. name='exponential_decay', start=1.0, end=0.5, decay_rate=1e-4 (Jang
  # et al.); 'none': the fixed model.latent_kwargs.temperature. Open block.
  c.objective.temperature_schedule = ml_collections.ConfigDict()
  c.objective.temperature_schedule.name = 'none'
  # -- training -----------------------------------------------------------
  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 32
  c.train.optimizer = 'sgd'     # 'sgd' | 'adam'
  c.train.learning_rate = 1.0
  c.train.momentum = 0.0
  c.train.grad_clip = 5.0       # global-norm clipping; 0: off
  c.train.max_epochs = 100
  c.train.max_steps = 0         # stop after this many updates; 0: no limit
  c.train.lr_decay = 0.5        # halve on plateau ...
  c.train.decay_patience = 5    # ... after this many epochs without improvement
  c.train.decay_min_epoch = 15  # no decay before this epoch (He et al. code)
  c.train.max_decays = 5        # stop after this many halvings (0: never)
  c.train.reload_best_on_decay = True
  # Fu et al.'s code: with a cyclical KL schedule, the learning rate restarts
  # with every cycle and falls along a half cosine within it (set once an
  # epoch, from the plateau rule's current value); off: the plateau rule's.
  c.train.lr_cycle = False
  c.train.log_every_steps = 100
  c.train.checkpoint_every_steps = 500  # plus one at every epoch end, and
  c.train.checkpoint_every_minutes = 20.0  # one when this long has passed since
                                          # the last (slow steps); 0: off
  c.train.eval_diagnostics = True        # MI and AU on valid every epoch (VAE)
  # Validation metric that picks the best checkpoint and drives the halving:
  # 'loss' (-ELBO for a VAE, NLL for an LM) | 'rec' (an autoencoder stage).
  c.train.model_selection = 'loss'
  # Aggressive inference-network training (He et al. 2019, vae_jax.train.
  # aggressive): encoder-only steps on fresh batches before each decoder
  # step, until validation MI decreases. Separate encoder/decoder optimizers.
  c.train.aggressive = False
  c.train.aggressive_max_inner_steps = 100  # their `while sub_iter < 100`
  c.train.aggressive_check_every = 15       # convergence check period
  # Encoder pretraining (Li et al. 2019, vae_jax.train.pretrain): first train
  # an autoencoder (KL weight 0) for at most this many epochs, keep its
  # encoder, re-initialise the decoder, then train this config. 0: off.
  c.train.pretrain_encoder_epochs = 0
  c.train.pretrain_encoder_workdir = ''  # stage 1's run; '' -> <workdir>/pretrain_encoder
  # Data parallelism over all local devices (vae_jax.train.parallel):
  # 'none' (one device) | 'pmap' | 'shard_map'. batch_size is the global batch
  # and must be a multiple of the device count; updates equal one device's.
  c.train.parallel = 'none'
  # Compile the step's bucket shapes side by side on this many threads before
  # training (faster start on idle cores, ~+400 MB peak memory for the PTB
  # VAE at 2); 1: each shape compiles at its first call.
  c.train.compile_workers = 1
  # -- evaluation ---------------------------------------------------------
  c.eval = ml_collections.ConfigDict()
  c.eval.iw_samples = 500       # K of the importance-weighted NLL
  c.eval.iw_chunk = 125         # samples per decoder pass, at most ...
  c.eval.iw_memory_mb = 256     # ... what fits in this (long buckets: fewer)
  c.eval.batch_size = 20        # sentences per IW batch, in ...
  c.eval.iw_buckets = 16        # ... this many length buckets (less padding)
  c.eval.num_generate = 10      # prior samples / reconstructions written
  c.eval.max_decode_length = 40
  c.eval.ban_unk = True         # greedy decodings in samples.txt: no <unk>
  c.lock()
  # Family-specific options are open (the head's constructor rejects a
  # misspelt one with a TypeError naming it).
  c.model.latent_kwargs.unlock()
  c.objective.temperature_schedule.unlock()
  return apply_arg(c, arg)


def apply_arg(c: ml_collections.ConfigDict,
              arg: str | None) -> ml_collections.ConfigDict:
  """Applies a config argument (`--config=file.py:ARG`): only 'smoke' is known.

  'smoke' shrinks the run to seconds and trains on the generated corpus, so
  a smoke run needs no data files.
  """
  if arg == 'smoke':
    smoke(c)
    c.data.corpus = 'synthetic'
  elif arg:
    raise ValueError(f'unknown config argument {arg!r} (known: smoke)')
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks any config to a seconds-long run (tests, quick checks)."""
  c.data.synthetic_train = 256
  c.data.synthetic_valid = 64
  c.data.synthetic_test = 64
  c.data.num_buckets = 2
  c.model.embed_dim = 16
  c.model.enc_hidden = 32
  c.model.dec_hidden = 32
  c.model.latent_dim = 4
  c.train.batch_size = 16
  c.train.max_epochs = 2
  c.train.log_every_steps = 5
  c.train.checkpoint_every_steps = 10
  c.eval.iw_samples = 8
  c.eval.iw_chunk = 4
  c.eval.iw_buckets = 2
  c.eval.num_generate = 3
  return c


# Blocks whose keys depend on another key (the latent family, the schedule's
# name): the latent head's constructor and `vae_jax.schedules.make_schedule`
# check them, naming a misspelt key.
OPEN_BLOCKS = ('model.latent_kwargs', 'objective.kl_schedule',
               'objective.temperature_schedule')


def unknown_keys(config, reference=None, prefix: str = '') -> list[str]:
  """Dotted names in `config` that the base config (`reference`, default
  `get_config()`) lacks, outside `OPEN_BLOCKS`."""
  if reference is None:
    reference = get_config()
  out = []
  for key, value in config.items():
    name = prefix + key
    if name in OPEN_BLOCKS:
      continue
    if key not in reference:
      out.append(name)
    elif isinstance(value, (dict, ml_collections.ConfigDict)) and isinstance(
        reference[key], (dict, ml_collections.ConfigDict)):
      out.extend(unknown_keys(value, reference[key], name + '.'))
  return out


def check_keys(config) -> None:
  """Raises ValueError naming each key the base config lacks, with the
  nearest known key: a misspelt override is an error even in a user config
  file that does not lock itself (`--config.train.lerning_rate=0.5`)."""
  reference = get_config()
  bad = unknown_keys(config, reference)
  if not bad:
    return
  parts = []
  for name in bad:
    group, _, key = name.rpartition('.')
    block = reference
    for k in group.split('.') if group else []:
      block = block[k]
    near = difflib.get_close_matches(key, list(block.keys()), n=1)
    parts.append(name + (f' (did you mean {group + "." if group else ""}'
                         f'{near[0]}?)' if near else ''))
  raise ValueError('unknown config key' + ('s' if len(bad) > 1 else '') +
                   ': ' + ', '.join(parts) + '; the known keys and their '
                   'meaning are in experiments/configs/default.py')
