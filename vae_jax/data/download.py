"""The document corpora's files: where they come from, their sha256, and a
checked download for users without a copy.

Each corpus is a directory of files pinned to a commit of the public
repository that holds them (the same files, byte for byte, as the project's
shared data; the READMEs there give the provenance):

  yahoo              val.txt, test.txt: Yahoo Answers documents (NVDM)
  yelp               sentiment.{dev,test}.{0,1}: Shen et al.'s Yelp sentences
                     (semantic hashing, task 'sentiment')
  text_autoencoders  {yelp,yahoo}/{valid,test}.txt: Shen et al. (2020)
                     sentences (hashing task 'domain', the latent maps)

`ensure_files(corpus, data_dir, names, download=...)` returns their paths,
fetching the missing ones first if asked (all verified before any is
written), and otherwise raises a `DataError` that says what is missing and
how to get it. PTB has its own module (`vae_jax.data.ptb`), on the same
`fetch_verified`.
"""

import hashlib
import os
import urllib.error
import urllib.request
from typing import Mapping, Sequence

from vae_jax.data.atomic import write_bytes_atomic
from vae_jax.data.errors import DataError

_RAW = 'https://raw.githubusercontent.com/{repo}/{commit}/{path}'


def _pinned(repo: str, commit: str, files: Mapping[str, tuple[str, str]]):
  """name -> (url, sha256) for files (name -> (path in repo, sha256))."""
  return {name: (_RAW.format(repo=repo, commit=commit, path=path), sha)
          for name, (path, sha) in files.items()}


CORPUS_FILES: dict[str, dict[str, tuple[str, str]]] = {
    'yahoo': _pinned(
        'harvardnlp/DeepLatentNLP', 'b89ff98088b2790f08b56515b6bbf5ce25451f63',
        {'val.txt': ('data/yahoo/val.txt', '3247ac3ffcc4d4bfd6216f2aaa617f67'
                     '06cdc4081874da39245fe156825898d1'),
         'test.txt': ('data/yahoo/test.txt', 'ad843c4363adbdd07d8055d9bf121e5f'
                      '23c285760df43a0031b89d8538293075')}),
    'yelp': _pinned(
        'shentianxiao/language-style-transfer',
        'f078a9d342705ea62b04dd3ac5926d3467c2ac63',
        {'sentiment.dev.0': ('data/yelp/sentiment.dev.0',
                             '405ef6d4bfbc8bb92c3c55b496f315069cb5edb49ed34a07'
                             'b1206341b83c344b'),
         'sentiment.dev.1': ('data/yelp/sentiment.dev.1',
                             '3509f6573411bbda2d5c071ed72ad276c12356c15c06205b'
                             '8fdf74b217970c61'),
         'sentiment.test.0': ('data/yelp/sentiment.test.0',
                              'b7466e8859e9948892a859af7938a82c801c99b69f88401'
                              '4082fd072a155bbf2'),
         'sentiment.test.1': ('data/yelp/sentiment.test.1',
                              'a66e0ec3f0e1230ad4d2c822750a381cf6d99a99fa9b5ae'
                              '79546f21ff79ed5c3')}),
    'text_autoencoders': _pinned(
        'sagarjounkani/text-autoencoders',
        '0ac5d48ba5419d60c183e6b9595c82eeaaa3b5f6',
        {'yelp/valid.txt': ('data/yelp/valid.txt',
                            'e5c9e1abe799ed64162f1f408b3d6b774001cc1d0e64d958'
                            '8ccdff5e65c80b93'),
         'yelp/test.txt': ('data/yelp/test.txt',
                           '42316627d9123bd7254fe6aee702dc0a007b0a0c270769f9'
                           '736da978e882f8bf'),
         'yahoo/valid.txt': ('data/yahoo/valid.txt',
                             '1a5b7b0ad1112d1192041e2537a0e417fa00dc124e699d5a'
                             'e4cf8772f0d257b6'),
         'yahoo/test.txt': ('data/yahoo/test.txt',
                            'd774a7792ab80f4c00153b0c3bc17544af8bef5c337b66e4'
                            '2d4ada2c804375d6')}),
}


def sha256_file(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _fetch(url: str, timeout: float, hint: str) -> bytes:
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response:
      return response.read()
  except (urllib.error.URLError, OSError, ValueError) as e:
    raise DataError(f'could not download {url}: {e}. There may be no network '
                    f'here: {hint}') from None


def fetch_verified(files: Mapping[str, tuple[str, str]], dest_dir: str, *,
                   timeout: float = 60.0, hint: str = '') -> dict[str, str]:
  """Fetches name -> (url, sha256) into dest_dir; returns name -> path.

  Every file is fetched and its sha256 checked before any is written, and
  each is written atomically, so a failure leaves nothing partial behind.

  Raises:
    DataError: a file that cannot be fetched or has another checksum.
  """
  contents = {}
  for name, (url, sha) in files.items():
    data = _fetch(url, timeout, hint)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
      raise DataError(f'downloaded {url} has sha256 {actual}, expected {sha}: '
                      'the server sent a different file; nothing was written')
    contents[name] = data
  paths = {}
  for name, data in contents.items():
    paths[name] = os.path.join(dest_dir, name)
    os.makedirs(os.path.dirname(paths[name]), exist_ok=True)
    write_bytes_atomic(paths[name], data)
  return paths


def ensure_files(corpus: str, data_dir: str, names: Sequence[str], *,
                 download: bool = False,
                 timeout: float = 60.0) -> dict[str, str]:
  """The paths of a corpus's files in data_dir, fetching missing ones if
  `download` (checked against their sha256).

  Raises:
    DataError: files missing without `download`, or a failed download.
  """
  known = CORPUS_FILES[corpus]
  unknown = [n for n in names if n not in known]
  if unknown:
    raise DataError(f'corpus {corpus!r} has no files {unknown}; it has '
                    f'{sorted(known)}')
  paths = {n: os.path.join(data_dir, n) for n in names}
  missing = [n for n in names if not os.path.isfile(paths[n])]
  if not missing:
    return paths
  sources = ', '.join(known[n][0] for n in missing)
  hint = (f'copy {", ".join(missing)} into {data_dir} by hand (from '
          f'{sources})')
  if not download:
    raise DataError(f'{corpus} files {missing} are not in {data_dir!r}: point '
                    f'--data_dir at a directory that has them, pass --download '
                    f'where a network exists, or {hint}')
  fetch_verified({n: known[n] for n in missing}, data_dir, timeout=timeout,
                 hint=hint)
  return paths
