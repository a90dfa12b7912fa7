"""One-sentence-per-line text files: finding the split files and reading them.

A split file is UTF-8 text with one sentence a line, tokens separated by
whitespace. Empty lines are skipped and counted; nothing is lower-cased.
"""

import codecs
import glob
import os
from typing import Sequence

from absl import logging

from vae_jax.data.errors import DataError

# File stems accepted for each split, first preferred.
SPLIT_STEMS = {
    'train': ('train',),
    'valid': ('valid', 'val', 'dev', 'validation'),
    'test': ('test',),
}

DATA_DIR_HINT = ('pass the directory with --data_dir (data_dir=...) or set '
                 'the VAE_JAX_DATA_DIR environment variable')


def _stems(split: str) -> tuple[str, ...]:
  return SPLIT_STEMS.get(split, (split,))


def expected_files(directory: str, splits: Sequence[str],
                   prefix: str | None = None) -> list[str]:
  """The file names (one per split) that `find_split_files` looks for."""
  if prefix is not None:
    return [os.path.join(directory, f'{prefix}.{s}.txt') for s in splits]
  return [os.path.join(directory, f'{s}.txt') + f' (or <prefix>.{s}.txt)'
          for s in splits]


def _missing_message(what: str, directory: str, splits: Sequence[str],
                     prefix: str | None, hint: str) -> str:
  files = '\n  '.join(expected_files(directory, splits, prefix))
  aliases = ', '.join(f'{s}: {"/".join(_stems(s))}' for s in splits
                      if len(_stems(s)) > 1)
  return (f'{what}. Expected one sentence per line in:\n  {files}\n'
          + (f'(accepted split names: {aliases})\n' if aliases else '')
          + f'To fix: {DATA_DIR_HINT}' + (f'; {hint}' if hint else '') + '.')


def find_split_files(directory: str, splits: Sequence[str], *,
                     prefix: str | None = None,
                     hint: str = '') -> dict[str, str]:
  """Finds `<split>.txt` or `<prefix>.<split>.txt` for every split.

  Args:
    directory: the corpus directory.
    splits: split names, e.g. ('train', 'valid', 'test'); 'valid' also
      matches val/dev/validation.
    prefix: if given only `<prefix>.<split>.txt` is accepted.
    hint: how to obtain the files, appended to the error message.

  Returns:
    split -> path.

  Raises:
    DataError: if the directory or a split file is missing (listing the
      files expected and how to get them), or a split is ambiguous.
  """
  if not os.path.isdir(directory):
    raise DataError(_missing_message(
        f'corpus directory {directory} does not exist', directory, splits,
        prefix, hint))
  found, missing = {}, []
  for split in splits:
    candidates = []
    for stem in _stems(split):
      if prefix is not None:
        names = [os.path.join(directory, f'{prefix}.{stem}.txt')]
      else:
        names = [os.path.join(directory, f'{stem}.txt')] + sorted(
            glob.glob(os.path.join(glob.escape(directory), f'*.{stem}.txt')))
      candidates = [n for n in names if os.path.isfile(n)]
      if candidates:
        break
    if not candidates:
      missing.append(split)
    elif len(candidates) > 1 and os.path.basename(candidates[0]) != (
        f'{stem}.txt'):
      raise DataError(
          f'corpus directory {directory} has several files for split '
          f'{split!r}: {", ".join(candidates)}; pass prefix=... to choose')
    else:
      found[split] = candidates[0]
  if missing:
    raise DataError(_missing_message(
        f'corpus directory {directory} has no file for split(s) '
        f'{", ".join(missing)}', directory, missing, prefix, hint))
  return found


def read_sentences(path: str) -> tuple[list[list[str]], dict[str, int]]:
  """Reads a one-sentence-per-line UTF-8 file and splits on whitespace.

  Args:
    path: the file.

  Returns:
    (sentences, stats): the tokenized non-empty lines, and
    {'lines', 'sentences', 'words', 'empty_lines'}.

  Raises:
    DataError: if the file is missing, a line is not UTF-8 (naming file,
      line, byte and column) or no line holds a sentence.
  """
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except (FileNotFoundError, IsADirectoryError):
    raise DataError(f'corpus file {path} does not exist or is not a file: '
                    f'{DATA_DIR_HINT}') from None
  if data.startswith(codecs.BOM_UTF8):
    data = data[len(codecs.BOM_UTF8):]  # Editors add it; it is not a token.
  lines = data.split(b'\n')
  if lines and lines[-1] == b'':
    lines.pop()  # The newline that ends the last line starts no new one.
  try:
    text_lines = data.decode('utf-8').split('\n')[:len(lines)]
  except UnicodeDecodeError:
    text_lines = [_decode_line(path, n, line)
                  for n, line in enumerate(lines, start=1)]
  sentences, empty = [], 0
  for line in text_lines:
    tokens = line.split()
    if tokens:
      sentences.append(tokens)
    else:
      empty += 1
  if not sentences:
    raise DataError(f'corpus file {path} has no sentences ({len(lines)} lines,'
                    ' all empty): write one whitespace-tokenized sentence per'
                    ' line, or leave the split out')
  if empty:
    logging.info('%s: skipped %d empty lines', path, empty)
  stats = {'lines': len(lines), 'sentences': len(sentences),
           'words': sum(map(len, sentences)), 'empty_lines': empty}
  return sentences, stats


def _decode_line(path: str, number: int, line: bytes) -> str:
  try:
    return line.decode('utf-8')
  except UnicodeDecodeError as e:
    raise DataError(
        f'corpus file {path} line {number} is not valid UTF-8 (byte '
        f'0x{line[e.start]:02x} at column {e.start + 1}): re-encode the file '
        'as UTF-8 (e.g. iconv -f latin1 -t utf-8)') from None
