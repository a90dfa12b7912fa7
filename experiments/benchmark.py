r"""Speed of the PTB models of Li et al. (2019) on this machine.

For the LSTM language model and the LSTM VAE of Li et al. (2019) (embedding
256, LSTM 256, Gaussian latent 32, batch 32, vocabulary 10,002, SGD, decoder
dropout 0.5; experiments/configs/ptb_{lm,vae}.py) it prints

* training tokens/s over real PTB batches of the length-bucketed batcher
  (real tokens: the sum of `length`, words + </s>, padding excluded), timed
  after every bucket shape has been compiled, blocking only at the end, with
  the jitted, donating step the training loop uses;
* compile time: tracing + lowering + XLA compilation of every bucket shape
  of an epoch (summed from `jax.monitoring` compile events), and the wall
  time of the first calls (with --precompile the shapes compile side by
  side first, as in the training loop, so the wall time is shorter);
* achieved GFLOP/s and its fraction of a matmul ceiling measured here (an
  n x n fp32 matmul under jit at JAX's default precision, best of 10; n =
  2048 on a CPU, 8192 on a GPU, measured after the models have run);
* with --lstm_impl=cudnn (GPU), the models with the cuDNN LSTM; on a GPU
  also the peak device memory of each model;
* peak memory (ru_maxrss): each model runs in a fresh subprocess, so the
  figures are separate; `train` is the peak after training, `all` after the
  evaluations too;
* with `aggressive` in --models: the VAE in aggressive mode (He et al.
  2019; experiments/configs/ptb_vae_aggressive.py) for --aggressive_iters
  iterations, each an inner loop of encoder-only steps on random batches
  and one decoder step: tokens/s over all steps, data tokens/s (the tokens
  of the decoder-update batches, the figure He et al.'s epochs are made
  of), the encoder steps per iteration, and the data tokens/s at their
  52 encoder steps per iteration early in training (all tokens/s / 53);
* for the VAE, the time of a K-sample importance-weighted NLL
  (`vae_jax.train.evaluation.iw_nll_split`) over the whole PTB test set, or
  over --iw_sentences of it and extrapolated, and of MI + AU over the test
  set (`encode_split` + `latent_diagnostics`).

FLOPs are counted analytically, a multiply-add as 2, per token:

  LSTM layer:                 2 (E 4H + H 4H)
  latent input (VAE decoder): 2 D 4H  (z fed with every input; computed once
                                       a sentence here, counted per token)
  vocabulary projection:      2 H V
  LM forward     = LSTM + 2 H V
  VAE forward    = 2 LSTM (encoder, decoder) + 2 D 4H + 2 H V
  training       = 3 x forward (the backward pass is 2 x forward)
  IW-NLL, per token and sample = decoder forward: LSTM + 2 D 4H + 2 H V

With E = H = 256, D = 32, V = 10,002: LM 6.17 MFLOP forward, VAE 7.28; the
vocabulary projection is 70-83 % of it. Per-sentence terms (latent head,
initial state) are left out (< 0.1 %). `useful` GFLOP/s counts real tokens;
`executed` counts every padded position the fixed shapes compute.

Other processes competing for the CPU make timings slower; the binary
reports how many cores they used meanwhile (`others`; Linux only).

  python -m experiments.benchmark --data_dir=../shared/data/ptb \
      --models=lm,vae --steps=100 --iw_sentences=300 --json_out=bench.json
"""

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from experiments import flags_common

FLAGS = flags.FLAGS
flags_common.define_iw_batching_flags()
flags.DEFINE_list('models', ['lm', 'vae'], 'Models to benchmark: lm, vae, '
                  'aggressive (the VAE in aggressive mode).')
flags.DEFINE_integer('aggressive_iters', 3, 'Timed iterations (inner loop + '
                     'decoder step) of the aggressive-mode benchmark.')
flags.DEFINE_integer('aggressive_max_inner_steps', 0, 'Cap of the inner '
                     "loop; 0: the config's (100, as He et al.).")
flags.DEFINE_integer('steps', 100, 'Timed training steps per model (after '
                     'one compiling call per bucket shape); 0 skips '
                     'training (the evaluations then use initial '
                     'parameters: the same speed).')
flags.DEFINE_integer('iw_samples', 500, 'K of the importance-weighted NLL; '
                     '0 skips it.')
flags.DEFINE_integer('iw_sentences', 0, 'Time IW-NLL on about this many test '
                     'sentences (whole batches spread over the buckets) and '
                     'extrapolate to the test set by padded positions; 0: '
                     'the whole test set.')
flags.DEFINE_float('iw_memory_mb', -1, 'Memory budget of an IW decoder '
                   "pass (see evaluation.iw_chunk_size); < 0: the config's "
                   'eval.iw_memory_mb; 0: none.')
flags.DEFINE_integer('num_buckets', 0, "Training length buckets; 0: the "
                     "config's data.num_buckets.")
flags.DEFINE_bool('mi_au', True, 'Time MI + AU over the test set (VAE).')
flags.DEFINE_string('data_dir', '../shared/data/ptb', 'Directory with '
                    'ptb.{train,test}.txt; if absent, random sentences with '
                    "PTB's length distribution are used.")
flags.DEFINE_bool('reuse_freed_memory', True, 'Keep freed memory in the '
                  'heap (`vae_jax.runtime.reuse_freed_memory`, what the '
                  'train and evaluate binaries do); false: glibc defaults.')
flags.DEFINE_bool('precompile', False, 'Compile the bucket shapes side by '
                  'side first (ParallelStep.precompile, what the training '
                  'loop does with train.compile_workers > 1); false: one by '
                  'one at their first calls (the default).')
flags.DEFINE_string('compilation_cache_dir', '', 'JAX persistent '
                    'compilation cache (what the train and evaluate binaries '
                    'use by default); empty: off, so compile times are cold. '
                    'Run twice with the same directory to time a resumed run.')
flags.DEFINE_enum('lstm_impl', None, ['scan', 'cudnn'], "The LSTM's "
                  "implementation (config model.lstm_impl); unset: the "
                  "config's ('scan'). 'cudnn' needs a GPU.")
flags.DEFINE_string('json_out', None, 'Write the figures here as JSON.')
flags.DEFINE_string('child', None, 'Internal: run one model in this process.')

E, H, D, V = 256, 256, 32, 10002
PTB_SIZES = {'train': 42068, 'test': 3761}  # sentences


def flops_per_token(model: str, *, e=E, h=H, d=D, v=V) -> dict[str, float]:
  """Analytic forward FLOPs per token (see the module docstring)."""
  lstm = 2 * (e * 4 * h + h * 4 * h)
  out = 2 * h * v
  if model == 'lm':
    fwd = lstm + out
    decoder = fwd
  else:
    decoder = lstm + 2 * d * 4 * h + out
    fwd = lstm + decoder
  return {'forward': fwd, 'train': 3 * fwd, 'iw': decoder}


class CpuMeter:
  """Wall time, and the cores other processes used meanwhile (/proc/stat)."""

  def __enter__(self):
    self._busy0 = self._busy()
    self._cpu0 = time.process_time()
    self._t0 = time.perf_counter()
    return self

  def __exit__(self, *exc):
    self.seconds = time.perf_counter() - self._t0
    busy = self._busy()
    mine = time.process_time() - self._cpu0
    self.cpu_seconds = mine  # this process, all its threads
    self.others = (None if busy is None or self._busy0 is None else
                   max(0.0, (busy - self._busy0) / os.sysconf('SC_CLK_TCK')
                       - mine) / max(self.seconds, 1e-9))

  @staticmethod
  def _busy():
    try:
      with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
      return None
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


class CompileMeter:
  """Sums the compile events `jax.monitoring` reports (trace, lower, XLA)."""

  def __init__(self):
    import jax  # pylint: disable=g-import-not-at-top
    self.total = 0.0
    jax.monitoring.register_event_duration_secs_listener(self._on_event)

  def _on_event(self, name, duration, **kwargs):
    del kwargs
    if name.startswith('/jax/core/compile/'):
      self.total += duration

  @contextlib.contextmanager
  def measure(self, out: dict, key: str):
    start = self.total
    yield
    out[key] = self.total - start


def peak_rss_mib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_device_mib() -> float | None:
  """Peak bytes the first accelerator held, in MiB (None on CPU)."""
  import jax  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  if device.platform == 'cpu':
    return None
  stats = device.memory_stats() or {}
  peak = stats.get('peak_bytes_in_use')
  return None if peak is None else peak / 2**20


def ceiling_size() -> int:
  """n of the ceiling's matmul: 2048 on a CPU, 8192 to fill a GPU."""
  import jax  # pylint: disable=g-import-not-at-top
  return 2048 if jax.default_backend() == 'cpu' else 8192


def matmul_ceiling(n: int = 2048, repeats: int = 10) -> float:
  """GFLOP/s of the best of `repeats` n x n x n fp32 matmuls under jit."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  f = jax.jit(jnp.matmul)
  f(a, b).block_until_ready()
  best = float('inf')
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, b).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * n ** 3 / best / 1e9


# -- data -------------------------------------------------------------------


def _ptb_files(data_dir: str) -> bool:
  return any(os.path.exists(os.path.join(d, 'ptb.train.txt'))
             for d in (data_dir, os.path.join(data_dir, 'ptb')))


def synthetic_ptb_like(n: int, seed: int):
  """Random sentences whose lengths follow PTB's (Gamma fit to PTB train:
  mean 21.1 words, sd 10.0, 1 to 82 words), ids uniform over V."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  words = np.clip(np.round(rng.gamma(4.45, 4.74, n)), 1, 82).astype(int)
  return [np.append(rng.integers(4, V, w), 2).astype(np.int32)
          for w in words]


def load_sequences(config, data_dir: str):
  """{'train', 'test'} -> encoded sentences, and a description of the data."""
  if _ptb_files(data_dir):
    from vae_jax.train.inputs import prepare_inputs  # pylint: disable=g-import-not-at-top
    config.data.data_dir = data_dir
    inputs = prepare_inputs(config, None, splits=('train', 'test'))
    if len(inputs.vocab) != V:
      raise ValueError(f'the PTB vocabulary in {data_dir} has '
                       f'{len(inputs.vocab)} tokens, not {V}')
    return inputs.sequences, f'PTB from {os.path.abspath(data_dir)}'
  return ({'train': synthetic_ptb_like(PTB_SIZES['train'], 0),
           'test': synthetic_ptb_like(PTB_SIZES['test'], 1)},
          f'synthetic PTB-like sentences (no ptb.train.txt in {data_dir})')


def _spread(batches, sentences: int, batch_size: int):
  """About `sentences` sentences' worth of batches, evenly spread."""
  want = max(1, -(-sentences // batch_size))
  if want >= len(batches):
    return list(batches)
  idx = sorted({int((i + 0.5) * len(batches) / want) for i in range(want)})
  return [batches[i] for i in idx]


# -- one model ----------------------------------------------------------------


def run_model(kind: str) -> dict:
  """Everything measured for one model, in this (fresh) process."""
  from vae_jax import runtime  # pylint: disable=g-import-not-at-top
  reuse = FLAGS.reuse_freed_memory and runtime.reuse_freed_memory()
  cache_dir = runtime.enable_compilation_cache(FLAGS.compilation_cache_dir)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from experiments.configs import ptb_lm, ptb_vae, ptb_vae_aggressive  # pylint: disable=g-import-not-at-top
  from vae_jax.train.aggressive import make_split_optimizer  # pylint: disable=g-import-not-at-top
  from vae_jax.data import BucketedBatcher  # pylint: disable=g-import-not-at-top
  from vae_jax.models import build_model  # pylint: disable=g-import-not-at-top
  from vae_jax.train import evaluation  # pylint: disable=g-import-not-at-top
  from vae_jax.train.loop import make_train_step  # pylint: disable=g-import-not-at-top
  from vae_jax.train.state import create_train_state, make_optimizer  # pylint: disable=g-import-not-at-top
  from vae_jax.train.steps import merge_metrics_jit  # pylint: disable=g-import-not-at-top

  compiles = CompileMeter()
  config = {'lm': ptb_lm, 'vae': ptb_vae,
            'aggressive': ptb_vae_aggressive}[kind].get_config()
  if FLAGS.num_buckets:
    config.data.num_buckets = FLAGS.num_buckets
  if FLAGS.lstm_impl:
    config.model.lstm_impl = FLAGS.lstm_impl
  if FLAGS.aggressive_max_inner_steps:
    config.train.aggressive_max_inner_steps = FLAGS.aggressive_max_inner_steps
  sequences, data_note = load_sequences(config, FLAGS.data_dir)
  train_b = BucketedBatcher(sequences['train'],
                            batch_size=config.train.batch_size,
                            num_buckets=config.data.num_buckets)
  model = build_model(config.model, V)
  t = config.train
  tx = (make_split_optimizer if t.aggressive else make_optimizer)(
      name=t.optimizer, learning_rate=t.learning_rate, grad_clip=t.grad_clip,
      momentum=t.momentum)
  batches = train_b.epoch(config.seed, 0)
  state = create_train_state(model, tx, batches[0], seed=config.seed)
  step = make_train_step(config, model, tx, train_b.num_batches)
  fl = flops_per_token('lm' if kind == 'lm' else 'vae')
  res = {'model': kind, 'data': data_note, 'reuse_freed_memory': reuse,
         'lstm_impl': config.model.lstm_impl,
         'compilation_cache_dir': cache_dir,
         'train_buckets': list(train_b.boundaries),
         'train_padding_fraction': train_b.padding_fraction,
         'flops_per_token_forward': fl['forward']}

  if kind == 'aggressive':
    res.update(_time_aggressive(step, state, batches, compiles))
    res['peak_rss_all_mib'] = peak_rss_mib()
    res['peak_device_mib'] = peak_device_mib()
    return res

  if FLAGS.steps:
    # Compile: the first call of every bucket shape of the epoch.
    first_of_shape = {}
    for b in batches:
      first_of_shape.setdefault(b['ids'].shape, b)
    acc = None
    with compiles.measure(res, 'train_compile_s'), CpuMeter() as m:
      if FLAGS.precompile:  # what the training loop does
        with CpuMeter() as mc:
          step.precompile(state, batches)
        res['train_compile_wall_s'] = mc.seconds
      for b in first_of_shape.values():
        state, metrics = step(state, b)
        acc = merge_metrics_jit(acc, metrics) if acc is not None else metrics
      jax.block_until_ready((state, acc))
    res['train_first_calls_s'] = m.seconds
    res['train_shapes'] = len(first_of_shape)

    # Throughput over the epoch's batches, in training order.
    timed = [batches[i % len(batches)] for i in range(FLAGS.steps)]
    tokens = float(sum(int(np.sum(b['length'])) for b in timed))
    slots = float(sum(b['ids'].shape[0] * (b['ids'].shape[1] - 1)
                      for b in timed))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with CpuMeter() as m:
      for b in timed:
        state, metrics = step(state, b)
        acc = merge_metrics_jit(acc, metrics)
      jax.block_until_ready((state, acc))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    res.update(
        train_page_faults_per_step=faults / len(timed),
        train_cpu_ms_per_step=1e3 * m.cpu_seconds / len(timed),
        train_steps=len(timed), train_seconds=m.seconds,
        train_others_cores=m.others,
        train_step_ms=1e3 * m.seconds / len(timed),
        tokens_per_s=tokens / m.seconds,
        useful_gflops=tokens * fl['train'] / m.seconds / 1e9,
        executed_gflops=slots * fl['train'] / m.seconds / 1e9,
        train_loss_per_sentence=float(acc['loss_sum'] / acc['num_sentences']),
        peak_rss_train_mib=peak_rss_mib(),
        peak_device_train_mib=peak_device_mib())

  if kind == 'vae':
    params = state.params
    test = sequences['test']
    if FLAGS.iw_samples:
      res.update(_time_iw(config, model, params, test, compiles))
    if FLAGS.mi_au:
      mi_b = BucketedBatcher(test, batch_size=config.data.eval_batch_size,
                             num_buckets=config.data.num_buckets)
      out = {}
      for label in ('cold', 'warm'):
        with CpuMeter() as m:
          post = evaluation.encode_split(params, model, mi_b)
          diag = evaluation.latent_diagnostics(post, jax.random.key(0))
        out[label] = m.seconds
      res.update(mi_au_cold_s=out['cold'], mi_au_warm_s=out['warm'],
                 mi=diag['mi'], au=diag['au'], mi_au_others_cores=m.others)
  res['peak_rss_all_mib'] = peak_rss_mib()
  res['peak_device_mib'] = peak_device_mib()
  return res


def _time_aggressive(step, state, batches, compiles) -> dict:
  """Aggressive-mode iterations of an `AggressiveStep`, timed after every
  bucket shape has been compiled (one compilation a shape serves all three
  updates); the host syncs only where the inner loop reads its objective."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  res = {}
  step.put_state(state)
  step.begin_epoch(batches, True)
  first_of_shape = {}
  for b in batches:
    first_of_shape.setdefault(b['ids'].shape, b)
  with compiles.measure(res, 'train_compile_s'), CpuMeter() as m:
    for b in first_of_shape.values():
      state, _ = step.encoder_step(state, b, jnp.int32(1))
    jax.block_until_ready(state)
  res.update(train_first_calls_s=m.seconds, train_shapes=len(first_of_shape))
  inner_tokens, inner_slots = [], []
  encoder_step = step.encoder_step
  slots = lambda b: b['ids'].shape[0] * (b['ids'].shape[1] - 1)

  def counted(st, batch, sub):
    inner_tokens.append(int(np.sum(batch['length'])))
    inner_slots.append(slots(batch))
    return encoder_step(st, batch, sub)

  step.encoder_step = counted
  timed = batches[:FLAGS.aggressive_iters]
  data_tokens = float(sum(int(np.sum(b['length'])) for b in timed))
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  with CpuMeter() as m:
    for b in timed:
      state, metrics = step(state, b)
    jax.block_until_ready((state, metrics))
  step.encoder_step = encoder_step
  all_tokens = data_tokens + sum(inner_tokens)
  all_slots = sum(slots(b) for b in timed) + sum(inner_slots)
  updates = len(timed) + len(inner_tokens)
  fl = flops_per_token('vae')['train']
  res.update(
      train_seconds=m.seconds, train_others_cores=m.others,
      train_page_faults_per_step=(
          resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
      / updates,
      aggressive_iterations=len(timed),
      aggressive_encoder_steps_per_iteration=len(inner_tokens) / len(timed),
      train_steps=updates, train_step_ms=1e3 * m.seconds / updates,
      tokens_per_s=all_tokens / m.seconds,
      useful_gflops=all_tokens * fl / m.seconds / 1e9,
      executed_gflops=all_slots * fl / m.seconds / 1e9,
      aggressive_data_tokens_per_s=data_tokens / m.seconds,
      aggressive_data_tokens_per_s_at_52=all_tokens / m.seconds / 53,
      peak_rss_train_mib=peak_rss_mib())
  return res


def _time_iw(config, model, params, test, compiles) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  from vae_jax.train import evaluation  # pylint: disable=g-import-not-at-top

  bs = FLAGS.iw_batch_size or config.eval.batch_size
  chunk = FLAGS.iw_chunk or config.eval.iw_chunk
  iw_b = evaluation.iw_batcher(
      test, batch_size=bs,
      num_buckets=FLAGS.iw_buckets or config.eval.iw_buckets)
  batches = iw_b.epoch(0, 0, shuffle=False)
  positions = lambda bb: sum(b['ids'].shape[0] * (b['ids'].shape[1] - 1)
                             for b in bb)
  key = jax.random.key(1)
  fl = flops_per_token('vae')['iw'] * FLAGS.iw_samples
  res = {'iw_samples': FLAGS.iw_samples, 'iw_chunk': chunk,
         'iw_batch_size': bs, 'iw_buckets': list(iw_b.boundaries),
         'iw_padding_fraction': iw_b.padding_fraction,
         'iw_test_sentences': iw_b.num_sequences,
         'iw_test_tokens': iw_b.num_tokens}
  memory_mb = (FLAGS.iw_memory_mb if FLAGS.iw_memory_mb >= 0
               else config.eval.iw_memory_mb)
  res['iw_memory_mb'] = memory_mb
  run = lambda bb: evaluation.iw_nll_split(
      params, model, bb, key, num_samples=FLAGS.iw_samples,
      chunk_size=chunk, memory_mb=memory_mb)
  subset = (batches if not FLAGS.iw_sentences else
            _spread(batches, FLAGS.iw_sentences, bs))
  shapes = lambda bb: {b['ids'].shape for b in bb}
  with compiles.measure(res, 'iw_compile_s'), CpuMeter() as m:
    out = run(subset)
  run_s = m.seconds - res['iw_compile_s']
  if len(subset) == len(batches):
    res.update(iw_mode='whole test set', iw_run_s=run_s)
  else:
    # Execution scales with the padded positions computed; compilation
    # with the number of distinct shapes.
    res['iw_compile_s'] *= len(shapes(batches)) / len(shapes(subset))
    res.update(iw_mode=(f'{out["num_sentences"]} of {iw_b.num_sequences} '
                        f'sentences ({len(subset)} of {len(batches)} batches, '
                        f'{len(shapes(subset))} of {len(shapes(batches))} '
                        'shapes) timed; run time extrapolated by padded '
                        'positions (by real tokens: iw_run_s_by_tokens), '
                        'compile time by shapes'),
               iw_subset_s=m.seconds,
               iw_run_s=run_s * positions(batches) / positions(subset),
               iw_run_s_by_tokens=run_s * iw_b.num_tokens / out['num_tokens'])
  res['iw_total_s'] = res['iw_run_s'] + res['iw_compile_s']
  res['iw_timed_sentences'] = out['num_sentences']
  res['iw_chunks'] = out['chunks']
  res.update(iw_others_cores=m.others, iw_nll_timed=out['iw_nll'],
             iw_useful_gflops=out['num_tokens'] * fl / max(run_s, 1e-9) / 1e9)
  return res


# -- driver -------------------------------------------------------------------


def _child_argv(kind: str, out_path: str) -> list[str]:
  argv = [sys.executable, '-m', 'experiments.benchmark', f'--child={kind}',
          f'--json_out={out_path}']
  for name in ('steps', 'aggressive_iters', 'aggressive_max_inner_steps',
               'iw_samples', 'iw_sentences', 'iw_chunk',
               'iw_memory_mb',
               'iw_batch_size', 'iw_buckets', 'num_buckets', 'mi_au',
               'data_dir', 'reuse_freed_memory', 'precompile',
               'compilation_cache_dir', 'lstm_impl'):
    if FLAGS[name].value is not None:
      argv.append(f'--{name}={FLAGS[name].value}')
  return argv


def _fmt(x, spec='.0f', none='-'):
  return none if x is None else format(x, spec)


def markdown_table(results: dict) -> str:
  ceiling = results['matmul_ceiling_gflops']
  rows = ['| model | tokens/s | step ms | GFLOP/s useful (executed) | '
          '% of matmul ceiling | compile s summed / wall (shapes) | peak RSS MiB train / '
          'all (device) | IW-NLL s | MI+AU s cold / warm | others (cores) |',
          '|---|---|---|---|---|---|---|---|---|---|']
  for r in results['models']:
    g = r.get
    iw = (f"{r['iw_total_s']:.0f} (K={r['iw_samples']}; compile "
          f"{r['iw_compile_s']:.0f}; {r['iw_useful_gflops']:.0f} GFLOP/s)"
          if 'iw_total_s' in r else '-')
    mi = (f"{r['mi_au_cold_s']:.1f} / {r['mi_au_warm_s']:.1f}"
          if 'mi_au_cold_s' in r else '-')
    trained = 'tokens_per_s' in r
    others = [x for x in (g('train_others_cores'), g('iw_others_cores'),
                          g('mi_au_others_cores')) if x is not None]
    device = ('' if g('peak_device_mib') is None
              else f" ({r['peak_device_mib']:.0f})")
    impl = '' if g('lstm_impl', 'scan') == 'scan' else f" ({r['lstm_impl']})"
    rows.append(
        f"| {r['model']}{impl} | {_fmt(g('tokens_per_s'))} | "
        f"{_fmt(g('train_step_ms'))} | "
        + (f"{r['useful_gflops']:.0f} ({r['executed_gflops']:.0f}) | "
           f"{100 * r['useful_gflops'] / ceiling:.0f} % | "
           f"{r['train_compile_s']:.1f} / {r['train_first_calls_s']:.1f} "
           f"({r['train_shapes']}) | "
           if trained else '- | - | - | ')
        + f"{_fmt(g('peak_rss_train_mib'))} / {r['peak_rss_all_mib']:.0f}"
        f"{device} | "
        f"{iw} | {mi} | {max(others) if others else 0:.2f} |")
  return '\n'.join(rows)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  unknown = set(FLAGS.models) - {'lm', 'vae', 'aggressive'}
  if unknown:
    raise app.UsageError(f'--models: unknown {sorted(unknown)}; use lm, vae, '
                         'aggressive')
  if FLAGS.child:
    res = run_model(FLAGS.child)
    with open(FLAGS.json_out, 'w') as f:
      json.dump(res, f)
    return

  models = []
  for kind in FLAGS.models:
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, 'out.json')
      subprocess.run(_child_argv(kind, path), check=True)
      with open(path) as f:
        r = json.load(f)
    models.append(r)
    print(json.dumps(r, indent=1), flush=True)
  # The ceiling is measured after the children: on a GPU this process would
  # otherwise hold JAX's preallocated memory while they run.
  import jax  # pylint: disable=g-import-not-at-top
  n = ceiling_size()
  with CpuMeter() as m:
    ceiling = matmul_ceiling(n)
  results = {'matmul_ceiling_gflops': ceiling, 'ceiling_others_cores': m.others,
             'matmul_ceiling_n': n,
             'matmul_precision': str(jax.config.jax_default_matmul_precision),
             'jax': jax.__version__, 'devices': str(jax.devices()),
             'device_kind': jax.devices()[0].device_kind,
             'cpus': os.cpu_count(),
             'xla_flags': os.environ.get('XLA_FLAGS', ''), 'models': models}
  print(f'matmul ceiling ({n}^3 fp32, jit, best of 10, precision '
        f"{results['matmul_precision']}): {ceiling:.0f} GFLOP/s", flush=True)
  table = markdown_table(results)
  print()
  print(f"matmul ceiling {ceiling:.0f} GFLOP/s; data: "
        f"{results['models'][0]['data'] if results['models'] else '-'}")
  for r in results['models']:
    if 'iw_mode' in r:
      print(f"IW-NLL ({r['model']}): {r['iw_mode']}; K={r['iw_samples']}, "
            f"chunk {r['iw_chunk']} (memory {r['iw_memory_mb']} MiB: "
            f"{r['iw_chunks']}), {r['iw_batch_size']} sentences a batch, "
            f"buckets {r['iw_buckets']}")
  for r in results['models']:
    if 'aggressive_iterations' in r:
      print(f"aggressive mode: {r['aggressive_iterations']} iterations, "
            f"{r['aggressive_encoder_steps_per_iteration']:.1f} encoder steps "
            f"each; {r['tokens_per_s']:.0f} tokens/s over all steps, "
            f"{r['aggressive_data_tokens_per_s']:.0f} data tokens/s "
            f"({r['aggressive_data_tokens_per_s_at_52']:.0f} at 52 encoder "
            'steps an iteration)')
  print(table)
  if FLAGS.json_out:
    results['table'] = table
    with open(FLAGS.json_out, 'w') as f:
      json.dump(results, f, indent=1)


if __name__ == '__main__':
  app.run(main)
