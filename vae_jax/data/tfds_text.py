"""Text corpora as TFDS datasets in array_record format, without TensorFlow.

`TextLines` ('vae_jax_text_lines') is a GeneratorBasedBuilder over local
one-sentence-per-line files (its manual_dir). It writes array_record files,
which `tfds.data_source(...)` / `builder.as_data_source()` read through
array_record and tfds's own example parser, so neither writing nor reading
needs TensorFlow (checked with tensorflow-datasets 4.9.10, no TF installed).
Examples keep file order: shuffling is disabled and the key is the sentence
number. Empty lines are skipped, as `load_corpus` does, and each example's
text is its tokens joined by single spaces.

Two tfds 4.9.10 pitfalls are avoided here: `dataset_info_from_configs` wants
a per-dataset metadata folder beside the code (we build DatasetInfo
directly), and the default `code_path` imports `importlib_resources`, which
is not installed on Python >= 3.9 (overridden below). A fresh process can
read a prepared dataset by name without importing this module: tfds rebuilds
a read-only builder from the dataset_info.json on disk.

  builder = prepare_text_dataset('/data/ptb', '/data/tfds', config='ptb')
  corpus = load_tfds_corpus('vae_jax_text_lines/ptb', data_dir='/data/tfds')
"""

import dataclasses
import os
from typing import Sequence

from etils import epath
import tensorflow_datasets as tfds

from vae_jax.data import ptb as ptb_lib
from vae_jax.data import text_files
from vae_jax.data.corpus import Corpus
from vae_jax.data.errors import DataError

_SPLIT_ALIASES = {'valid': ('valid', 'validation', 'val', 'dev')}


@dataclasses.dataclass(eq=False)
class TextLinesConfig(tfds.core.BuilderConfig):
  """Which files in manual_dir make the splits.

  Attributes:
    prefix: split files are `<prefix>.<split>.txt`; None accepts
      `<split>.txt` or a single `<any prefix>.<split>.txt`.
    splits: split names to read; all must exist.
    sha256: split -> expected sha256 of its file, or None to skip the check.
  """
  prefix: str | None = None
  splits: tuple[str, ...] = ('train', 'valid', 'test')
  sha256: dict[str, str] | None = None


PTB_CONFIG = TextLinesConfig(
    name='ptb', prefix='ptb', sha256=dict(ptb_lib.PTB_SHA256),
    description='Mikolov PTB: ptb.{train,valid,test}.txt, sha256-checked.')
TEXT_CONFIG = TextLinesConfig(
    name='text', description='Any directory of train/valid/test .txt files.')


class TextLines(tfds.core.GeneratorBasedBuilder):
  """One-sentence-per-line text files as a TFDS dataset {'text': Text()}."""

  name = 'vae_jax_text_lines'
  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First version.'}
  BUILDER_CONFIGS = [PTB_CONFIG, TEXT_CONFIG]
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Put one-sentence-per-line UTF-8 files in manual_dir:
  - config 'ptb': ptb.train.txt, ptb.valid.txt, ptb.test.txt (Mikolov's PTB
    language-modelling split, as in {ptb_lib.PTB_URL.format(split='*')};
    or vae_jax.data.corpora.download_ptb(manual_dir) where a network exists).
  - config 'text' (or any other name): train.txt, valid.txt, test.txt, or
    <prefix>.train.txt etc.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # tfds 4.9.10's default looks up `importlib_resources.abc`, a backport it
    # only installs on Python < 3.9, and fails with ModuleNotFoundError for a
    # builder defined inside a package (tensorflow/datasets#11212).
    return epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description='Sentences, one a line, from local text files.',
        features=tfds.features.FeaturesDict({'text': tfds.features.Text()}),
        disable_shuffling=True)  # Keep file order.

  def _split_generators(self, dl_manager):
    paths = _config_files(self.builder_config, os.fspath(dl_manager.manual_dir))
    return {split: self._generate_examples(path)
            for split, path in paths.items()}

  def _generate_examples(self, path):
    sentences, _ = text_files.read_sentences(path)
    for i, tokens in enumerate(sentences):
      yield i, {'text': ' '.join(tokens)}


def _config_files(config: TextLinesConfig, directory: str) -> dict[str, str]:
  """The config's split files in `directory`, checked (sha256 if given)."""
  hint = ptb_lib.PTB_HINT if config.sha256 == ptb_lib.PTB_SHA256 else ''
  paths = text_files.find_split_files(directory, config.splits,
                                      prefix=config.prefix, hint=hint)
  for split, path in paths.items():
    if config.sha256 and split in config.sha256:
      actual = ptb_lib.sha256_file(path)
      if actual != config.sha256[split]:
        raise DataError(f'corpus file {path} has sha256 {actual}, expected '
                        f'{config.sha256[split]}: use the right file, or '
                        "config='text' to skip the check")
  return paths


def prepare_text_dataset(corpus_dir: str | os.PathLike,
                         data_dir: str | os.PathLike, config: str = 'ptb', *,
                         prefix: str | None = None,
                         splits: Sequence[str] = ('train', 'valid', 'test'),
                         ) -> TextLines:
  """Writes a corpus directory as an array_record TFDS dataset.

  Every file is read and checked before anything is written, so a malformed
  corpus raises DataError (naming file and line) and leaves `data_dir` alone.
  As with any TFDS dataset, an already prepared version is reused as it is:
  delete `<data_dir>/vae_jax_text_lines/<config>` after changing the files.

  Args:
    corpus_dir: the text files (the builder's manual_dir).
    data_dir: TFDS data directory; the dataset lands in
      `<data_dir>/vae_jax_text_lines/<config>/1.0.0`.
    config: 'ptb', 'text', or any other name for a generic text config
      (read back as 'vae_jax_text_lines/<name>').
    prefix: for generic configs, only read `<prefix>.<split>.txt`.
    splits: for generic configs, the splits to read.

  Returns:
    The prepared builder (`builder.as_data_source()` reads it).
  """
  corpus_dir, data_dir = os.fspath(corpus_dir), os.fspath(data_dir)
  if config == 'ptb':
    builder_config = PTB_CONFIG
  else:
    builder_config = TextLinesConfig(name=config, prefix=prefix,
                                     splits=tuple(splits))
  for path in _config_files(builder_config, corpus_dir).values():
    text_files.read_sentences(path)  # Raises before anything is written.
  builder = TextLines(config=builder_config, data_dir=data_dir,
                      file_format='array_record')
  builder.download_and_prepare(
      download_dir=os.path.join(data_dir, 'downloads'),
      download_config=tfds.download.DownloadConfig(manual_dir=corpus_dir))
  return builder


def _find_split(available: Sequence[str], split: str) -> str | None:
  for name in _SPLIT_ALIASES.get(split, (split,)):
    if name in available:
      return name
  return None


def load_tfds_corpus(name: str, *, data_dir: str | os.PathLike,
                     text_key: str = 'text',
                     splits: Sequence[str] = ('train', 'valid', 'test'),
                     ) -> Corpus:
  """Reads any prepared array_record TFDS dataset's text into a Corpus.

  Args:
    name: dataset name as tfds.data_source takes it, e.g.
      'vae_jax_text_lines/ptb' or 'imdb_reviews/plain_text:1.0.0'.
    data_dir: TFDS data directory.
    text_key: the feature holding the text (bytes are decoded as UTF-8).
    splits: splits to read; 'valid' also matches validation / val / dev.

  Returns:
    Corpus named 'tfds:<name>', sentences split on whitespace, empty ones
    skipped and counted in stats[split]['empty_lines'].

  Raises:
    DataError: the dataset, a split or the text key is missing, or a text
      is not UTF-8.
  """
  data_dir = os.fspath(data_dir)
  try:
    # download=False: reading must never start a download or write files.
    sources = tfds.data_source(name, data_dir=data_dir, download=False)
  except Exception as e:  # tfds raises many types; all mean "not usable".
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise DataError(
        f'cannot read TFDS dataset {name!r} from {data_dir}: {reason}\n'
        'Prepare it in array_record format first, e.g. vae_jax.data.tfds_text.'
        'prepare_text_dataset(corpus_dir, data_dir, config=...) or '
        '`tfds build --file_format=array_record`') from None
  corpus = Corpus(name=f'tfds:{name}', splits={}, stats={})
  for split in splits:
    found = _find_split(list(sources), split)
    if found is None:
      raise DataError(f'TFDS dataset {name!r} in {data_dir} has no split '
                      f'{split!r}; it has {sorted(sources)}')
    source = sources[found]
    sentences, empty = [], 0
    for i, example in enumerate(source.__getitems__(range(len(source)))):
      if text_key not in example:
        raise DataError(f'TFDS dataset {name!r} has no feature {text_key!r}; '
                        f'it has {sorted(example)}: pass text_key=...')
      text = example[text_key]
      if isinstance(text, bytes):
        try:
          text = text.decode('utf-8')
        except UnicodeDecodeError as e:
          raise DataError(f'TFDS dataset {name!r} split {found!r} example {i} '
                          f'is not valid UTF-8 (byte at {e.start})') from None
      tokens = text.split()
      if tokens:
        sentences.append(tokens)
      else:
        empty += 1
    corpus.splits[split] = sentences
    corpus.stats[split] = {'sentences': len(sentences),
                           'words': sum(map(len, sentences)),
                           'empty_lines': empty}
  return corpus
