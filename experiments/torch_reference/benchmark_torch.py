r"""Training tokens/s of the PTB LSTM VAE and LM in PyTorch (issue 6).

See experiments/torch_reference/__init__.py for the models, the batching
and the setup. Needs torch and numpy only (no jax, no vae_jax, no absl):

  /work/torch_venv/bin/python experiments/torch_reference/benchmark_torch.py \
      --data_dir=/work/shared/data/ptb --models=vae,lm --steps=60
"""

import argparse
import collections
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

SPECIALS = ('<pad>', '<s>', '</s>', '<unk>')
PAD, BOS, EOS, UNK = range(4)
DEFAULT_BUCKETS = '14,21,27,35,46,83'  # experiments.benchmark's train_buckets


# -- data -------------------------------------------------------------------


def read_sentences(data_dir: str, split: str = 'train') -> list[list[str]]:
  for d in (data_dir, os.path.join(data_dir, 'ptb')):
    path = os.path.join(d, f'ptb.{split}.txt')
    if os.path.isfile(path):
      with open(path, encoding='utf-8') as f:
        return [line.split() for line in f if line.split()]
  raise SystemExit(f'no ptb.{split}.txt in {data_dir} or {data_dir}/ptb: '
                   'pass --data_dir=/work/shared/data/ptb')


def build_vocab(sentences) -> dict[str, int]:
  """Specials, then words by descending count, ties alphabetically."""
  counts = collections.Counter(w for s in sentences for w in s)
  words = sorted((w for w in counts if w not in SPECIALS),
                 key=lambda w: (-counts[w], w))
  return {w: i for i, w in enumerate(SPECIALS + tuple(words))}


def encode(sentences, vocab) -> list[np.ndarray]:
  """<int64>[n + 2] per sentence: <s> w1 .. wn </s>."""
  return [np.array([BOS] + [vocab.get(w, UNK) for w in s] + [EOS], np.int64)
          for s in sentences]


def equal_length_batches(seqs, batch_size: int, seed: int):
  """Their loader: same-length sentences in batches of <= batch_size, the
  batch order shuffled. Yields <int64>[b, n + 2] arrays, no padding."""
  lengths = np.array([len(s) for s in seqs])
  order = np.argsort(lengths, kind='stable')
  batches = []
  for n in np.unique(lengths):
    same = order[lengths[order] == n]
    for i in range(0, same.size, batch_size):
      batches.append(np.stack([seqs[j] for j in same[i:i + batch_size]]))
  rng = np.random.RandomState(seed)
  return [batches[i] for i in rng.permutation(len(batches))]


def bucketed_batches(seqs, batch_size: int, boundaries, seed: int):
  """Our BucketedBatcher's shapes: bucket by length (words + </s>) <= b,
  shuffle within a bucket, exactly batch_size rows padded to b + 1 columns
  (empty rows: <s> then <pad>), the batch order shuffled. Yields
  (<int64>[batch_size, b + 1] ids, <int64>[batch_size] lengths)."""
  lengths = np.array([len(s) - 1 for s in seqs])  # words + </s>
  bucket = np.searchsorted(np.asarray(boundaries), lengths, side='left')
  if bucket.max() >= len(boundaries):
    raise SystemExit(f'--buckets: the last boundary {boundaries[-1]} is '
                     f'below the longest sentence ({lengths.max()})')
  rng = np.random.default_rng(seed)
  batches = []
  for b, bound in enumerate(boundaries):
    members = rng.permutation(np.flatnonzero(bucket == b))
    for i in range(0, members.size, batch_size):
      ids = np.full((batch_size, bound + 1), PAD, np.int64)
      ids[:, 0] = BOS
      length = np.zeros(batch_size, np.int64)
      for r, j in enumerate(members[i:i + batch_size]):
        ids[r, :len(seqs[j])] = seqs[j]
        length[r] = lengths[j]
      batches.append((ids, length))
  return [batches[i] for i in rng.permutation(len(batches))]


# -- models -----------------------------------------------------------------


def build_model(kind: str, vocab_size: int, *, emb=256, hidden=256,
                latent=32, dropout=0.5):
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  class Decoder(nn.Module):
    """modules/decoders/dec_lstm.py: LSTMDecoder (z = None: an LM)."""

    def __init__(self, z_dim: int):
      super().__init__()
      self.embed = nn.Embedding(vocab_size, emb)
      self.dropout_in = nn.Dropout(dropout)
      self.dropout_out = nn.Dropout(dropout)
      self.trans_linear = (nn.Linear(z_dim, hidden, bias=False)
                           if z_dim else None)
      self.lstm = nn.LSTM(emb + z_dim, hidden, batch_first=True)
      self.pred_linear = nn.Linear(hidden, vocab_size, bias=False)

    def forward(self, ids, z=None):
      """Summed cross-entropy per sentence <float>[B] of ids[:, 1:]."""
      src, tgt = ids[:, :-1], ids[:, 1:]
      x = self.dropout_in(self.embed(src))
      state = None
      if z is not None:
        x = torch.cat([x, z.unsqueeze(1).expand(-1, x.size(1), -1)], -1)
        c0 = self.trans_linear(z).unsqueeze(0)
        state = (torch.tanh(c0), c0)
      out, _ = self.lstm(x, state)
      logits = self.pred_linear(self.dropout_out(out))
      ce = F.cross_entropy(logits.reshape(-1, vocab_size), tgt.reshape(-1),
                           ignore_index=PAD, reduction='none')
      return ce.view(tgt.shape).sum(-1)

  class LM(nn.Module):

    def __init__(self):
      super().__init__()
      self.decoder = Decoder(0)

    def forward(self, ids, length=None):
      del length
      return self.decoder(ids), None

  class VAE(nn.Module):
    """modules/encoders/enc_lstm.py GaussianLSTMEncoder + LSTMDecoder."""

    def __init__(self):
      super().__init__()
      self.embed = nn.Embedding(vocab_size, emb)
      self.lstm = nn.LSTM(emb, hidden, batch_first=True)
      self.linear = nn.Linear(hidden, 2 * latent, bias=False)
      self.decoder = Decoder(latent)

    def forward(self, ids, length=None):
      """(reconstruction, KL) per sentence, <float>[B] each. With `length`
      (padded batches) the encoder state is read at </s>; without, it is
      nn.LSTM's h_n, as in their code."""
      out, (h_n, _) = self.lstm(self.embed(ids))
      h = (h_n[0] if length is None else
           out[torch.arange(ids.size(0)), length])
      mean, logvar = self.linear(h).chunk(2, -1)
      z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
      kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).sum(-1)
      return self.decoder(ids, z), kl

  model = VAE() if kind == 'vae' else LM()
  # Their initialisation: U(-0.01, 0.01), embeddings U(-0.1, 0.1).
  for name, p in model.named_parameters():
    nn.init.uniform_(p, -0.1, 0.1) if 'embed' in name else nn.init.uniform_(
        p, -0.01, 0.01)
  return model


# -- timing -----------------------------------------------------------------


def busy_cpu_seconds() -> float | None:
  """CPU seconds the whole machine has been busy (/proc/stat; Linux)."""
  try:
    with open('/proc/stat') as f:
      fields = [int(x) for x in f.readline().split()[1:]]
  except OSError:
    return None
  return (sum(fields) - fields[3] - fields[4]) / os.sysconf('SC_CLK_TCK')


def run_child(args) -> dict:
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  device = torch.device(args.device)
  cuda = device.type == 'cuda'
  if cuda:
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
  sentences = read_sentences(args.data_dir)
  vocab = build_vocab(sentences)
  seqs = encode(sentences, vocab)
  if args.batching == 'equal':
    batches = [(b, None) for b in
               equal_length_batches(seqs, args.batch_size, args.seed)]
  else:
    batches = bucketed_batches(seqs, args.batch_size,
                               [int(b) for b in args.buckets.split(',')],
                               args.seed)
  in_epoch, need = len(batches), args.warmup + args.steps
  batches = [batches[i % len(batches)] for i in range(need)]
  batches = [(torch.from_numpy(ids).to(device),
              None if n is None else torch.from_numpy(n).to(device))
             for ids, n in batches]
  model = build_model(args.child, len(vocab)).to(device)
  model.train()
  opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.0)

  def step(ids, length):
    rec, kl = model(ids, length)
    per_sentence = rec if kl is None else rec + kl
    if length is None:
      loss = per_sentence.mean()
    else:
      real = (length > 0).to(per_sentence.dtype)
      loss = (per_sentence * real).sum() / real.sum()
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return loss.detach()

  for ids, length in batches[:args.warmup]:
    step(ids, length)
  timed = batches[args.warmup:]
  tokens = sum(int((ids[:, 1:] != PAD).sum()) for ids, _ in timed)
  slots = sum(ids[:, 1:].numel() for ids, _ in timed)
  sentences_timed = sum(int(ids.size(0) if n is None else (n > 0).sum())
                        for ids, n in timed)
  sync = torch.cuda.synchronize if cuda else (lambda: None)
  sync()
  busy0, cpu0, t0 = busy_cpu_seconds(), time.process_time(), time.perf_counter()
  loss_sum = torch.zeros((), device=device)
  for ids, length in timed:
    loss_sum += step(ids, length)
  sync()
  seconds = time.perf_counter() - t0
  cpu = time.process_time() - cpu0
  busy1 = busy_cpu_seconds()
  others = (None if busy0 is None or busy1 is None
            else max(0.0, busy1 - busy0 - cpu) / seconds)
  return {
      'model': args.child, 'batching': args.batching,
      'device': (torch.cuda.get_device_name(device) if cuda else 'cpu'),
      'tf32': args.tf32 if cuda else None,
      'cudnn': torch.backends.cudnn.version() if cuda else None,
      'peak_device_mib': (torch.cuda.max_memory_allocated(device) / 2**20
                          if cuda else None),
      'buckets': args.buckets if args.batching == 'bucketed' else None,
      'torch': torch.__version__, 'threads': torch.get_num_threads(),
      'interop_threads': torch.get_num_interop_threads(),
      'vocab_size': len(vocab), 'batches_in_epoch': in_epoch,
      'warmup_steps': args.warmup, 'steps': len(timed),
      'tokens': tokens, 'sentences': sentences_timed,
      'padding_fraction': 1.0 - tokens / slots,
      'seconds': seconds, 'tokens_per_s': tokens / seconds,
      'step_ms': 1e3 * seconds / len(timed),
      'cpu_ms_per_step': 1e3 * cpu / len(timed),
      'others_cores': others,
      'loss_per_step': float(loss_sum) / len(timed),
      'peak_rss_mib':
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
  }


# -- driver -----------------------------------------------------------------


def markdown_table(rows) -> str:
  out = ['| model | batching | tokens/s | step ms | CPU ms/step | '
         'sentences/step | tokens/step | padding | peak RSS MiB (device) | '
         'others (cores) |', '|---|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    others = '-' if r['others_cores'] is None else f"{r['others_cores']:.2f}"
    out.append(
        f"| {r['model']} | {r['batching']} | {r['tokens_per_s']:,.0f} | "
        f"{r['step_ms']:.0f} | {r['cpu_ms_per_step']:.0f} | "
        f"{r['sentences'] / r['steps']:.1f} | "
        f"{r['tokens'] / r['steps']:.0f} | "
        f"{100 * r['padding_fraction']:.1f} % | {r['peak_rss_mib']:,.0f}"
        + ('' if r.get('peak_device_mib') is None
           else f" ({r['peak_device_mib']:,.0f})")
        + f" | {others} |")
  return '\n'.join(out)


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--data_dir', default='../shared/data/ptb',
                 help='directory with ptb.train.txt (or its ptb/ subfolder)')
  p.add_argument('--models', default='vae,lm',
                 help='comma-separated: vae, lm')
  p.add_argument('--batching', default='equal',
                 help='comma-separated: equal (their loader, no padding), '
                 'bucketed (our padded buckets)')
  p.add_argument('--buckets', default=DEFAULT_BUCKETS,
                 help='bucket boundaries (words + </s>) for bucketed')
  p.add_argument('--steps', type=int, default=60, help='timed steps')
  p.add_argument('--warmup', type=int, default=5, help='untimed steps first')
  p.add_argument('--batch_size', type=int, default=32)
  p.add_argument('--threads', type=int, default=2,
                 help='torch.set_num_threads')
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--device', default='cpu',
                 help="torch device: cpu, or cuda (nn.LSTM runs on cuDNN)")
  p.add_argument('--tf32', action='store_true',
                 help='on cuda: allow TF32 in matmuls and cuDNN (torch '
                 'defaults: matmul off, cuDNN on; this flag sets both)')
  p.add_argument('--json_out', default=None, help='write the figures here')
  p.add_argument('--child', default=None, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  for name, allowed in (('models', {'vae', 'lm'}),
                        ('batching', {'equal', 'bucketed'})):
    bad = set(getattr(args, name).split(',')) - allowed
    if bad:
      p.error(f'--{name}: unknown {sorted(bad)}; use {sorted(allowed)}')
  if args.steps < 1:
    p.error('--steps must be >= 1')
  return args


def main(argv=None):
  args = parse_args(argv)
  if args.child:
    with open(args.json_out, 'w') as f:
      json.dump(run_child(args), f)
    return
  rows = []
  for kind in args.models.split(','):
    for batching in args.batching.split(','):
      with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'out.json')
        flags = {n: getattr(args, n) for n in (
            'data_dir', 'buckets', 'steps', 'warmup', 'batch_size',
            'threads', 'seed', 'device')}
        flags.update(child=kind, batching=batching, json_out=path)
        subprocess.run([sys.executable, os.path.abspath(__file__)]
                       + [f'--{n}={v}' for n, v in flags.items()]
                       + (['--tf32'] if args.tf32 else []), check=True)
        with open(path) as f:
          rows.append(json.load(f))
      print(json.dumps(rows[-1]), flush=True)
  table = markdown_table(rows)
  print(f"\ntorch {rows[0]['torch']}, {rows[0]['threads']} threads "
        f"({rows[0]['interop_threads']} inter-op), {os.cpu_count()} CPUs, "
        f'{platform.processor() or platform.machine()}; load average '
        f'{" ".join(f"{x:.2f}" for x in os.getloadavg())}; device '
        f"{rows[0]['device']} (cuDNN {rows[0]['cudnn']}, TF32 "
        f"{rows[0]['tf32']})")
  print(table)
  if args.json_out:
    with open(args.json_out, 'w') as f:
      json.dump({'rows': rows, 'table': table, 'cpus': os.cpu_count(),
                 'loadavg': os.getloadavg()}, f, indent=1)


if __name__ == '__main__':
  main()
