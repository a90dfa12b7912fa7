"""Word vocabulary: special tokens first, then words by descending frequency.

Ids are fixed by the token list: <pad>=0, <s>=1, </s>=2, <unk>=3, then the
words. On PTB the vocabulary has 10,002 entries: the 9,999 training types
(including PTB's literal `<unk>`, which maps to the special one) plus <pad>,
<s> and </s>; the "10k vocabulary" of the literature is 9,999 words + </s>.
"""

import collections
import hashlib
import os
from typing import Iterable, Sequence

import numpy as np

from vae_jax.data.atomic import write_bytes_atomic
from vae_jax.data.errors import DataError

PAD = '<pad>'
BOS = '<s>'
EOS = '</s>'
UNK = '<unk>'
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)


class Vocabulary:
  """A fixed mapping between tokens and int32 ids.

  Attributes:
    words: the full token list, specials included; `words[i]` has id i.
  """

  PAD = PAD
  BOS = BOS
  EOS = EOS
  UNK = UNK

  def __init__(self, tokens: Sequence[str]):
    """Wraps a full token list (specials first, as `words` returns it).

    Args:
      tokens: all tokens in id order; the first four must be
        `<pad>, <s>, </s>, <unk>`. Tokens must be unique, non-empty and
        contain no line break (the saved format is one token per line).

    Raises:
      ValueError: if the list breaks one of these rules.
    """
    tokens = list(tokens)
    if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
      raise ValueError(f'a vocabulary starts with {SPECIAL_TOKENS}, got '
                       f'{tuple(tokens[:len(SPECIAL_TOKENS)])}')
    index = {}
    for i, token in enumerate(tokens):
      if not isinstance(token, str) or not token or '\n' in token or (
          '\r' in token):
        raise ValueError(f'vocabulary token {i} is {token!r}: tokens are '
                         'non-empty strings without line breaks')
      if token in index:
        raise ValueError(f'vocabulary token {token!r} appears twice '
                         f'(ids {index[token]} and {i})')
      index[token] = i
    self._tokens = tokens
    self._index = index

  @classmethod
  def build(cls, sentences: Iterable[Sequence[str]], *,
            max_size: int | None = None, min_count: int = 1) -> 'Vocabulary':
    """Counts words and keeps the most frequent.

    Order is deterministic: descending count, ties broken alphabetically. A
    word equal to a special token (PTB's literal `<unk>`) is the special
    token, so it is never added twice.

    Args:
      sentences: tokenized sentences.
      max_size: keep at most this many words, special tokens not counted
        (so `len(vocab) <= max_size + 4`); None keeps all.
      min_count: drop words seen fewer times than this.

    Returns:
      The vocabulary.
    """
    if max_size is not None and max_size < 0:
      raise ValueError(f'max_size must be >= 0, got {max_size}')
    counts = collections.Counter()
    for sentence in sentences:
      counts.update(sentence)
    words = sorted((w for w, c in counts.items()
                    if c >= min_count and w not in SPECIAL_TOKENS),
                   key=lambda w: (-counts[w], w))
    if max_size is not None:
      words = words[:max_size]
    return cls(SPECIAL_TOKENS + tuple(words))

  def __len__(self) -> int:
    return len(self._tokens)

  def __contains__(self, token: str) -> bool:
    return token in self._index

  def __eq__(self, other) -> bool:
    return isinstance(other, Vocabulary) and self._tokens == other._tokens

  def __repr__(self) -> str:
    return (f'Vocabulary(size={len(self)}, '
            f'fingerprint={self.fingerprint()[:12]})')

  @property
  def words(self) -> list[str]:
    """All tokens in id order, special tokens included (a copy)."""
    return list(self._tokens)

  @property
  def pad_id(self) -> int:
    return 0

  @property
  def bos_id(self) -> int:
    return 1

  @property
  def eos_id(self) -> int:
    return 2

  @property
  def unk_id(self) -> int:
    return 3

  def encode(self, tokens: Iterable[str]) -> np.ndarray:
    """Maps tokens to ids; unknown tokens become `unk_id`.

    Returns:
      <int32>[len(tokens)]; no <s> or </s> is added.
    """
    get, unk = self._index.get, self.unk_id
    return np.fromiter((get(t, unk) for t in tokens), dtype=np.int32)

  def decode(self, ids: Iterable[int], *, strip_special: bool = True
            ) -> list[str]:
    """Maps ids back to tokens, stopping at the first </s>.

    Args:
      ids: <int>[T] token ids.
      strip_special: drop <pad>, <s> and the final </s>; when False they are
        kept (the </s> that ends decoding included). <unk> is always kept.

    Returns:
      The tokens up to (not past) the first </s>.
    """
    out = []
    for i in np.asarray(ids).reshape(-1).tolist():
      if not 0 <= i < len(self._tokens):
        raise ValueError(f'id {i} is outside the vocabulary [0, {len(self)})')
      if i == self.eos_id:
        if not strip_special:
          out.append(EOS)
        break
      if strip_special and i in (self.pad_id, self.bos_id):
        continue
      out.append(self._tokens[i])
    return out

  def _file_bytes(self) -> bytes:
    return ('\n'.join(self._tokens) + '\n').encode('utf-8')

  def fingerprint(self) -> str:
    """sha256 hex digest of the token list (equal to `sha256sum` of save())."""
    return hashlib.sha256(self._file_bytes()).hexdigest()

  def save(self, path: str | os.PathLike) -> None:
    """Writes one token per line, atomically (temp file + os.replace)."""
    write_bytes_atomic(path, self._file_bytes())

  @classmethod
  def load(cls, path: str | os.PathLike) -> 'Vocabulary':
    """Reads a file written by `save`.

    Raises:
      DataError: naming the file (and line) if it is missing or malformed.
    """
    path = os.fspath(path)
    try:
      with open(path, 'rb') as f:
        data = f.read()
    except FileNotFoundError:
      raise DataError(f'vocabulary file {path} does not exist: build one with '
                      'Vocabulary.build(...) and save(path)') from None
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
      lines.pop()
    tokens = []
    for number, line in enumerate(lines, start=1):
      try:
        tokens.append(line.decode('utf-8'))
      except UnicodeDecodeError as e:
        raise DataError(
            f'vocabulary file {path} line {number} is not valid UTF-8 '
            f'(byte 0x{line[e.start]:02x} at column {e.start + 1}): '
            'rebuild the vocabulary and save it again') from None
    try:
      return cls(tokens)
    except ValueError as e:
      raise DataError(f'vocabulary file {path} is malformed: {e}; rebuild it '
                      'with Vocabulary.build(...).save(path)') from None
