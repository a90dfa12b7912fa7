"""The document corpora's pinned files: checksums, download, clear errors."""

import hashlib
import io
import urllib.error
import urllib.request

import pytest

from vae_jax.data import download
from vae_jax.data.errors import DataError


@pytest.mark.parametrize('corpus', sorted(download.CORPUS_FILES))
def test_pinned_checksums_are_those_of_the_shared_copies(corpus,
                                                         shared_data):
  directory = shared_data / corpus
  files = download.CORPUS_FILES[corpus]
  if not all((directory / name).is_file() for name in files):
    pytest.skip(f'{corpus} not found in {directory}')
  for name, (url, sha) in files.items():
    assert download.sha256_file(str(directory / name)) == sha, name
    assert url.startswith('https://raw.githubusercontent.com/') and (
        url.endswith(name.rsplit('/', 1)[-1]))


def _serve(files: dict[str, bytes]):
  """urlopen for the pinned URLs: the bytes of each file by its name."""
  by_url = {url: files[name] for corpus in download.CORPUS_FILES.values()
            for name, (url, _) in corpus.items() if name in files}
  calls = []

  def urlopen(url, timeout=None):
    calls.append(url)
    if url not in by_url:
      raise urllib.error.URLError('not found')
    return io.BytesIO(by_url[url])
  return urlopen, calls


def test_missing_files_are_a_clear_error_or_are_fetched_and_checked(
    tmp_path, monkeypatch):
  want = ['yelp/valid.txt', 'yahoo/valid.txt']
  with pytest.raises(DataError) as e:
    download.ensure_files('text_autoencoders', str(tmp_path), want)
  message = str(e.value)
  assert "['yelp/valid.txt', 'yahoo/valid.txt'] are not in" in message
  assert '--download' in message and 'sagarjounkani/text-autoencoders' in message
  # the served bytes must have the pinned sha256: fake ones are refused and
  # nothing is written
  fake = {'yelp/valid.txt': b'a b c\n', 'yahoo/valid.txt': b'd e\n'}
  urlopen, calls = _serve(fake)
  monkeypatch.setattr(urllib.request, 'urlopen', urlopen)
  with pytest.raises(DataError, match='has sha256 .* nothing was written'):
    download.ensure_files('text_autoencoders', str(tmp_path), want,
                          download=True)
  assert list(tmp_path.iterdir()) == [] and len(calls) == 1
  # with the pinned sums of these bytes, both land (subdirectories made)
  pinned = {name: (url, hashlib.sha256(fake[name]).hexdigest())
            for name, (url, _) in
            download.CORPUS_FILES['text_autoencoders'].items() if name in fake}
  monkeypatch.setitem(download.CORPUS_FILES, 'text_autoencoders', pinned)
  paths = download.ensure_files('text_autoencoders', str(tmp_path), want,
                                download=True)
  assert {n: open(p, 'rb').read() for n, p in paths.items()} == fake
  # present now: nothing is fetched again
  calls.clear()
  assert download.ensure_files('text_autoencoders', str(tmp_path),
                               want) == paths and calls == []


def test_no_network_says_what_to_copy_where(tmp_path, monkeypatch):
  def no_network(url, timeout=None):
    raise urllib.error.URLError('[Errno -3] Temporary failure')
  monkeypatch.setattr(urllib.request, 'urlopen', no_network)
  with pytest.raises(DataError, match=r'could not download https://raw\.'
                     r'githubusercontent\.com/harvardnlp/DeepLatentNLP/.*'
                     r'copy val\.txt into'):
    download.ensure_files('yahoo', str(tmp_path), ['val.txt'], download=True)
  with pytest.raises(DataError, match=r"has no files \['train.txt'\]"):
    download.ensure_files('yahoo', str(tmp_path), ['train.txt'])
