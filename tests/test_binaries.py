"""The experiment binaries end to end on a tiny config, and their errors."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--config=experiments/configs/synthetic_vae.py:smoke',
        '--config.data.synthetic_train=64', '--config.data.synthetic_valid=16',
        '--config.data.synthetic_test=16', '--config.train.max_epochs=1',
        '--config.train.eval_diagnostics=False', '--config.eval.num_generate=2']


def run(module, *args):
  return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('run'))
  proc = run('experiments.train', *TINY, f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir, proc.stdout


def test_train_binary_writes_outputs_and_says_where(trained):
  workdir, stdout = trained
  assert 'outputs in' in stdout and workdir in stdout
  final = json.load(open(os.path.join(workdir, 'final.json')))
  assert final['test']['num_sentences'] == 16
  assert final['test']['neg_elbo'] > 0
  assert os.path.exists(os.path.join(workdir, 'plots', 'loss.png'))
  samples = open(os.path.join(workdir, 'samples.txt')).read()
  assert 'reconstructions of test sentences' in samples


def test_evaluate_and_generate_binaries(trained):
  workdir, _ = trained
  # what an interrupted evaluation of another K left: not used, then removed
  partial = os.path.join(workdir, 'eval_test.iw_partial.json')
  with open(partial, 'w') as f:
    json.dump({'key': {'iw_samples': 500}, 'batches': {'0': [1.0]}}, f)
  proc = run('experiments.evaluate', f'--workdir={workdir}', '--iw_samples=4',
             '--iw_batch_size=6', '--iw_buckets=1')
  assert proc.returncode == 0, proc.stderr[-3000:]
  res = json.load(open(os.path.join(workdir, 'eval_test.json')))
  assert res['num_sentences'] == 16 and res['iw_samples'] == 4
  assert (res['checkpoint'], res['epoch']) == ('best', 1)
  assert '(test, best @ epoch 1, step ' in proc.stdout
  # The IW batches are its own: 16 sentences in 3 batches of 6, one shape.
  assert res['iw_batch_size'] == 6 and len(res['iw_buckets']) == 1
  assert 'IW-NLL K=4: 3 batches of 6 sentences in 1 length bucket (' in proc.stdout
  assert 'IW-NLL K=4: batch 3/3, 100 % of the tokens, ETA' in proc.stdout
  assert ('eval_test.iw_partial.json not used (written for another '
          'evaluation); starting over') in proc.stdout
  assert res['iw_batches_resumed'] == 0 and not os.path.exists(partial)
  # the IW bound with K samples is at least as tight as the 1-sample ELBO,
  # up to Monte Carlo noise of a tiny test set
  assert res['iw_nll'] <= res['neg_elbo'] + 1.0
  assert '| IW-NLL |' in open(os.path.join(workdir, 'eval_test.md')).read()
  proc = run('experiments.generate', f'--workdir={workdir}', '--num=2',
             '--interpolate=a b c|d e f', '--steps=3')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'interpolation' in proc.stdout


def test_a_learned_vmf_concentration_is_logged_and_reported(tmp_path):
  workdir = str(tmp_path / 'vmf')
  proc = run('experiments.train', *TINY, '--config.model.latent=vmf',
             '--config.model.latent_kwargs.learn_kappa=True',
             '--config.train.eval_diagnostics=True', f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  valid = [json.loads(l) for l in open(os.path.join(workdir, 'metrics.jsonl'))
           if '"valid"' in l]
  final = json.load(open(os.path.join(workdir, 'final.json')))['test']
  for r in (valid[-1], final):
    assert 1.0 < r['kappa_p10'] <= r['kappa_mean'] <= r['kappa_p90']
  assert 'kappa_mean' in proc.stdout            # the epoch's log line
  proc = run('experiments.evaluate', f'--workdir={workdir}', '--iw_samples=0')
  assert proc.returncode == 0, proc.stderr[-3000:]
  res = json.load(open(os.path.join(workdir, 'eval_test.json')))
  assert f'| kappa (mean) | {res["kappa_mean"]:.2f} |' in proc.stdout


def test_unit_features_binary(trained):
  workdir, _ = trained
  proc = run('experiments.unit_features', f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  res = json.load(open(os.path.join(workdir, 'unit_features_test.json')))
  assert (res['num_sentences'], res['epoch'], res['latent_dim']) == (16, 1, 4)
  # the units the run's own test evaluation counted (same checkpoint, split)
  final = json.load(open(os.path.join(workdir, 'final.json')))
  assert res['active_units'] == len(res['units']) == final['test']['au']
  assert f'16 sentences, {len(res["units"])} of 4 units active' in proc.stdout
  assert all(set(u['r']) == {'length', 'unk', 'number'} for u in res['units'])
  assert res['feature_means']['length'] > 0
  # no BN in this run: its means do not depend on the batching
  assert res['batch_dependent'] is False and 'note:' not in proc.stdout


def test_unit_features_binary_notes_a_bn_run(tmp_path):
  """A BN-VAE run's means are normalised per batch: the binary says so and
  records it (the tiny run above has no BN and prints no note)."""
  workdir = str(tmp_path / 'bn')
  bn = ['--config=experiments/configs/ptb_vae_bn.py:smoke',
        '--config.data.corpus=synthetic'] + TINY[1:]
  proc = run('experiments.train', *bn, f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  proc = run('experiments.unit_features', f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  res = json.load(open(os.path.join(workdir, 'unit_features_test.json')))
  assert res['batch_dependent'] is True
  assert 'note: this run normalises its posterior means' in proc.stdout


def test_latent_map_binary(trained, tmp_path):
  workdir, _ = trained
  words = [w.strip() for w in open(os.path.join(workdir, 'vocab.txt'))][4:]
  # two corpora: the run's own words, and words it has never seen
  (tmp_path / 'a.txt').write_text(
      '\n'.join(' '.join(words[i:i + 5]) for i in range(12)) + '\n\n')
  (tmp_path / 'b.txt').write_text(
      '\n'.join(f'zz{i} qq{i} xx{i}' for i in range(9)) + '\n')

  def latent_map(*corpora, name='map', max_sentences=10):
    """Runs the binary on NAME=FILE corpora; (process, its JSON or None)."""
    out = tmp_path / f'{name}.png'
    proc = run('experiments.latent_map', f'--workdir={workdir}',
               *[f'--corpus={c}' for c in corpora],
               f'--max_sentences={max_sentences}', f'--out={out}')
    js = tmp_path / f'{name}.json'
    return proc, (json.load(open(js)) if proc.returncode == 0 else None)

  proc, res = latent_map(f'own={tmp_path}/a.txt', f'new={tmp_path}/b.txt')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert res['corpora']['own']['sentences'] == 10  # a draw of 10 of 12
  assert res['corpora']['new']['sentences'] == 9   # the blank line skipped
  assert res['corpora']['own']['unk_rate'] == 0.0
  assert res['corpora']['new']['unk_rate'] == 1.0
  assert res['latent_dim'] == 4
  assert res['batch_dependent'] is False  # no BN: no note
  assert 'note:' not in proc.stdout
  for key in ('centroid_accuracy_map', 'centroid_accuracy_latent',
              'centroid_accuracy_sample'):
    assert 0.0 <= res[key] <= 1.0
  out = str(tmp_path / 'map.png')
  assert os.path.getsize(out) > 0 and 'figure: ' + out in proc.stdout
  # the same sentences under two names: equal means, so no centroid can
  # tell them apart (ties go to the first corpus): exactly 0.5 both ways
  # (all 12 sentences of each, not two different draws)
  proc, same = latent_map(f'a={tmp_path}/a.txt', f'c={tmp_path}/a.txt',
                          name='same', max_sentences=20)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert same['centroid_accuracy_map'] == 0.5
  assert same['centroid_accuracy_latent'] == 0.5
  # one corpus is a usage error; a missing file a clear one
  proc, _ = latent_map(f'own={tmp_path}/a.txt')
  assert proc.returncode != 0 and 'at least two' in proc.stderr
  proc, _ = latent_map(f'own={tmp_path}/a.txt', f'x={tmp_path}/no.txt')
  assert proc.returncode == 1 and 'no file' in proc.stderr


def test_misspelt_config_key_is_an_error(tmp_path):
  proc = run('experiments.train', *TINY, '--config.train.lerning_rate=0.1',
             f'--workdir={tmp_path}/w')
  assert proc.returncode != 0
  assert 'lerning_rate' in proc.stderr
  assert not os.path.exists(f'{tmp_path}/w')
  # a latent head's option may be added (the block is open), but one the
  # head does not take is a clear error before anything is written
  proc = run('experiments.train', *TINY, '--config.model.latent=vmf',
             '--config.model.latent_kwargs.learn_kapa=True',
             f'--workdir={tmp_path}/w')
  assert proc.returncode == 1
  assert 'error: config model block: ' in proc.stderr
  assert "unexpected keyword argument 'learn_kapa'" in proc.stderr
  assert not os.path.exists(f'{tmp_path}/w')


def test_misspelt_key_in_an_unlocked_user_config_is_an_error(tmp_path):
  # a user's config file that does not lock itself: ml_collections would
  # take the override as a new key; the binary names it and the near key
  user = tmp_path / 'my_config.py'
  user.write_text(
      'from experiments.configs import synthetic_vae\n'
      'def get_config(arg=None):\n'
      '  c = synthetic_vae.get_config(arg)\n'
      '  c.unlock()\n'
      '  return c\n')
  proc = run('experiments.train', f'--config={user}:smoke',
             '--config.train.lerning_rate=0.1', f'--workdir={tmp_path}/w')
  assert proc.returncode != 0
  assert ('unknown config key: train.lerning_rate (did you mean '
          'train.learning_rate?)') in proc.stderr
  assert not os.path.exists(f'{tmp_path}/w')


def test_missing_corpus_is_a_clear_error_and_writes_nothing(tmp_path):
  proc = run('experiments.train', '--config=experiments/configs/ptb_lm.py',
             f'--data_dir={tmp_path}/nowhere', f'--workdir={tmp_path}/w')
  assert proc.returncode == 1
  assert 'ptb.train.txt' in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not os.path.exists(f'{tmp_path}/w')


def _write_corpus(path, docs):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(''.join(' '.join(d) + '\n' for d in docs))


def _topic_docs(rng, words, n, length=8):
  return [list(rng.choice(words, length)) + ['the', '.'] for _ in range(n)]


def test_document_model_binaries_on_a_tiny_corpus(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  food = ['pizza', 'pasta', 'salad', 'soup', 'bread', 'cheese']
  sport = ['goal', 'match', 'team', 'coach', 'score', 'league']
  docs = _topic_docs(rng, food, 30) + _topic_docs(rng, sport, 30)
  _write_corpus(tmp_path / 'yahoo' / 'val.txt', docs)
  _write_corpus(tmp_path / 'yahoo' / 'test.txt', docs[::2])
  work = tmp_path / 'nvdm'
  proc = run('experiments.nvdm', f'--data_dir={tmp_path / "yahoo"}',
             f'--workdir={work}', '--vocab_size=20', '--hidden=8',
             '--latent_dim=2', '--epochs=2', '--heldout=10', '--batch_size=16',
             '--iw_samples=4', '--elbo_samples=2', '--top_dims=2')
  assert proc.returncode == 0, proc.stderr[-3000:]
  final = json.load(open(work / 'final.json'))
  # 12 words; 'the' and '.' are not counted
  assert final['vocab_size'] == 12 and final['test']['num_docs'] == 30
  assert 1.0 < final['test']['iw_ppl'] and 1.0 < final['test']['ppl']
  rows = open(work / 'topics.txt').read().splitlines()
  assert len(rows) == 2 and all(len(r.split()) == 11 for r in rows)

  for name, words in (('sentiment.test.0', food), ('sentiment.dev.0', food),
                      ('sentiment.test.1', sport), ('sentiment.dev.1', sport)):
    _write_corpus(tmp_path / 'yelp' / name, _topic_docs(rng, words, 40, 3))
  work = tmp_path / 'hash'
  proc = run('experiments.hashing', f'--data_dir={tmp_path / "yelp"}',
             f'--workdir={work}', '--num_bits=8', '--num_components=2',
             '--hidden=8', '--epochs=1', '--num_queries=20', '--heldout=10',
             '--k=5', '--batch_size=16')
  assert proc.returncode == 0, proc.stderr[-3000:]
  final = json.load(open(work / 'final.json'))
  assert final['num_db'] == 80 and final['num_queries'] == 20
  assert final['chance_precision'] == 0.5
  # the two labels use disjoint words: tf-idf vectors of different labels are
  # orthogonal, so sign projections rank same-label sentences first
  assert final['baseline_tfidf_lsh_precision@5'] > 0.8
  assert 0.0 <= final['precision@5'] <= 1.0
  # a directory without the files: a clear error, and where to get them
  proc = run('experiments.hashing', '--task=domain',
             f'--data_dir={tmp_path / "none"}', f'--workdir={work}2')
  assert proc.returncode == 1
  assert ("error: text_autoencoders files ['yelp/test.txt'," in proc.stderr
          and '--download' in proc.stderr and 'Traceback' not in proc.stderr)
  assert not (tmp_path / 'none').exists()
