"""The rows of the PTB results table: a workdir (= config) name, a label and
the published values (Li et al. 2019 as quoted in Li et al. 2020, table 8),
and where a capped run's evaluation is kept when `train_rows --extend`
trains it on. Shared by `experiments.results_table` and
`experiments.train_rows`; defines no flags, so tests import it."""

import filecmp
import json
import os
import re
import shutil

# (workdir name, row label, published values)
ROWS = [
    ('ptb_lm', 'LSTM-LM', {'iw_nll': 101.04, 'ppl': 100.47}),
    ('ptb_vae', 'VAE + monotonic annealing',
     {'neg_elbo': 101.28, 'ppl': 101.40, 'kl': 0.0, 'au': 0}),
    ('ptb_vae_cyclical', 'VAE + cyclical annealing',
     {'neg_elbo': 102.81, 'ppl': 108.81, 'kl': 1.37, 'mi': 1.27, 'au': 5}),
    ('ptb_vae_aggressive', 'VAE + aggressive training',
     {'neg_elbo': 101.19, 'ppl': 99.83, 'kl': 0.93, 'mi': 0.83, 'au': 4}),
    ('ptb_vae_pretrain_fb', 'VAE + pretraining + free bits (Li)',
     {'neg_elbo': 102.41, 'ppl': 96.86, 'kl': 6.54, 'mi': 5.31, 'au': 32}),
    ('ptb_vae_word_dropout', 'VAE + word dropout', {}),
    ('ptb_vae_fb_kingma', 'VAE + free bits (Kingma)', {}),
    ('ptb_vae_fb_li', 'VAE + free bits (Li), no pretraining', {}),
    ('ptb_vae_vmf', 'vMF VAE', {}),
    ('ptb_vae_vmf_learned', 'vMF VAE, learned kappa', {}),
    ('ptb_vae_bn', 'BN-VAE', {}),
    ('ptb_vae_bernoulli', 'Bernoulli VAE (straight-through)', {}),
    ('ptb_vae_gumbel', 'categorical VAE (Gumbel-softmax)', {}),
    ('ptb_vae_gumbel_st', 'categorical VAE (straight-through Gumbel)', {}),
    ('ptb_vae_categorical_st', 'categorical VAE (straight-through)', {}),
]


def capped_dir(workdir: str, epochs: int) -> str:
  """Where `train_rows --extend` keeps the evaluation of a run capped at
  `epochs` before training it on."""
  return os.path.join(workdir, f'capped_at_{epochs}_epochs')


# eval_test.json (the row's "evaluated" mark) first: it is removed first
EVALUATION_FILES = ('eval_test.json', 'eval_test.md', 'final.json',
                    'samples.txt')


def archive_evaluation(workdir: str) -> str:
  """Moves a capped run's evaluation to <workdir>/capped_at_<N>_epochs/
  (its plots copied) so that the run can go on; returns that directory.

  Crash-safe: the files are copied into a '.partial' directory, renamed to
  the destination in one step, and only then removed from the workdir,
  eval_test.json first (while it is there, the row counts as evaluated and
  a rerun archives again). A rerun after a crash at any point finishes the
  move: it finds the destination complete, with the same eval_test.json,
  and only removes what is left."""
  with open(os.path.join(workdir, 'final.json')) as f:
    epochs = json.load(f)['epochs']
  dest = capped_dir(workdir, epochs)
  result = os.path.join(workdir, 'eval_test.json')
  archived = os.path.join(dest, 'eval_test.json')
  if os.path.exists(dest):
    if not (os.path.exists(result) and os.path.exists(archived)
            and filecmp.cmp(result, archived, shallow=False)):
      raise FileExistsError(f'{dest} exists already; move it away first')
  else:
    partial = dest + '.partial'
    shutil.rmtree(partial, ignore_errors=True)  # a crash's leftover
    os.makedirs(partial)
    if os.path.isdir(os.path.join(workdir, 'plots')):
      shutil.copytree(os.path.join(workdir, 'plots'),
                      os.path.join(partial, 'plots'))
    for name in EVALUATION_FILES:
      if os.path.exists(os.path.join(workdir, name)):
        shutil.copy2(os.path.join(workdir, name), os.path.join(partial, name))
    os.rename(partial, dest)
  for name in EVALUATION_FILES:
    if os.path.exists(os.path.join(workdir, name)):
      os.remove(os.path.join(workdir, name))
  return dest


def latest_capped_dir(workdir: str, split: str = 'test') -> str | None:
  """The capped_dir with the most epochs that holds eval_<split>.json, or
  None."""
  found = []
  for name in (os.listdir(workdir) if os.path.isdir(workdir) else ()):
    m = re.fullmatch(r'capped_at_(\d+)_epochs', name)
    if m and os.path.exists(os.path.join(workdir, name, f'eval_{split}.json')):
      found.append(int(m.group(1)))
  return capped_dir(workdir, max(found)) if found else None


def two_decimals(value: float) -> str:
  """'%.2f', except that a value which rounds to zero prints as 0.00, not
  -0.00 (a KL of -1e-8 from float rounding is no negative KL)."""
  text = f'{value:.2f}'
  return '0.00' if text == '-0.00' else text
