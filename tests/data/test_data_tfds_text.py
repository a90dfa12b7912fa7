"""Tests for vae_jax.data.tfds_text: write array_record, read without TF."""

import importlib.util
import subprocess
import sys

import pytest

tfds = pytest.importorskip('tensorflow_datasets')

# pylint: disable=g-import-not-at-top
from vae_jax.data import DataError, load_corpus
from vae_jax.data import tfds_text
# pylint: enable=g-import-not-at-top

tfds.display_progress_bar(False)


@pytest.fixture
def tiny_dir(tmp_path, write_lines):
  d = tmp_path / 'tiny'
  write_lines(d / 'tiny.train.txt', ['the cat sat', '', 'a  dog ran far',
                                     'café au lait'])
  write_lines(d / 'tiny.valid.txt', ['one more'])
  write_lines(d / 'tiny.test.txt', ['z', 'y x'])
  return d


def test_tensorflow_is_not_needed():
  assert importlib.util.find_spec('tensorflow') is None or pytest.skip(
      'TensorFlow is installed; this checks the TF-free path')


def test_round_trip_through_tfds_data_source(tiny_dir, tmp_path):
  data_dir = tmp_path / 'tfds'
  builder = tfds_text.prepare_text_dataset(tiny_dir, data_dir, config='tiny')
  assert builder.info.full_name == 'vae_jax_text_lines/tiny/1.0.0'
  assert {s: builder.info.splits[s].num_examples
          for s in ('train', 'valid', 'test')} == {'train': 3, 'valid': 1,
                                                   'test': 2}
  files = sorted(p.name for p in (data_dir / 'vae_jax_text_lines' / 'tiny' /
                                  '1.0.0').iterdir())
  assert 'vae_jax_text_lines-train.array_record-00000-of-00001' in files
  assert builder.as_data_source()['valid'][0] == {'text': b'one more'}
  source = tfds.data_source('vae_jax_text_lines/tiny', data_dir=str(data_dir))
  assert [source['train'][i]['text'] for i in range(3)] == [
      b'the cat sat', b'a dog ran far', 'café au lait'.encode()]
  expected = load_corpus(f'textdir:{tiny_dir}')
  corpus = load_corpus('tfds:vae_jax_text_lines/tiny', data_dir=data_dir)
  assert corpus.splits == expected.splits
  assert corpus.name == 'tfds:vae_jax_text_lines/tiny'
  assert corpus.stats['train'] == {'sentences': 3, 'words': 10,
                                   'empty_lines': 0}


def test_a_fresh_process_reads_it_by_name_alone(tiny_dir, tmp_path):
  """No vae_jax import: tfds finds the builder from the files on disk."""
  data_dir = tmp_path / 'tfds'
  tfds_text.prepare_text_dataset(tiny_dir, data_dir, config='tiny')
  code = ('import sys, tensorflow_datasets as tfds; '
          "s = tfds.data_source('vae_jax_text_lines/tiny', data_dir=sys.argv[1]"
          ", download=False)['test']; "
          "print([s[i]['text'].decode() for i in range(len(s))], "
          "'vae_jax' in sys.modules, 'tensorflow' in sys.modules)")
  out = subprocess.run([sys.executable, '-c', code, str(data_dir)],
                       capture_output=True, text=True, check=True, timeout=60)
  assert out.stdout.strip().splitlines()[-1] == "['z', 'y x'] False False"


def test_ptb_config_checks_sha256(tiny_dir, tmp_path, write_lines, tree):
  for split in ('train', 'valid', 'test'):
    write_lines(tiny_dir / f'ptb.{split}.txt', ['not ptb'])
  with pytest.raises(DataError, match=r'ptb\.train\.txt has sha256 .*'
                     "config='text'"):
    tfds_text.prepare_text_dataset(tiny_dir, tmp_path / 'tfds', config='ptb')
  assert tree(tmp_path / 'tfds') == []


def test_malformed_input_writes_nothing(tiny_dir, tmp_path, write_lines, tree):
  path = write_lines(tiny_dir / 'tiny.valid.txt', ['fine', b'\xc3('])
  with pytest.raises(DataError, match=f'corpus file {path} line 2 is not '
                     r'valid UTF-8 \(byte 0xc3 at column 1\)'):
    tfds_text.prepare_text_dataset(tiny_dir, tmp_path / 'tfds', config='x')
  (tiny_dir / 'tiny.valid.txt').unlink()
  with pytest.raises(DataError, match='no file for split'):
    tfds_text.prepare_text_dataset(tiny_dir, tmp_path / 'tfds', config='x')
  assert tree(tmp_path / 'tfds') == []


def test_missing_dataset_split_and_key(tiny_dir, tmp_path, tree):
  data_dir = tmp_path / 'tfds'
  with pytest.raises(DataError) as e:
    tfds_text.load_tfds_corpus('nope', data_dir=data_dir)
  assert str(e.value).startswith(
      f"cannot read TFDS dataset 'nope' from {data_dir}: Dataset nope not "
      'found.\nPrepare it in array_record format first')
  # A registered but unprepared dataset is not downloaded.
  with pytest.raises(DataError, match="cannot read TFDS dataset 'mnist'"):
    tfds_text.load_tfds_corpus('mnist', data_dir=data_dir)
  assert tree(data_dir) == []
  tfds_text.prepare_text_dataset(tiny_dir, data_dir, config='t2',
                                 splits=('train',))
  with pytest.raises(DataError,
                     match=r"has no split 'valid'; it has \['train'\]"):
    load_corpus('tfds:vae_jax_text_lines/t2', data_dir=data_dir)
  with pytest.raises(DataError, match="no feature 'sentence'"):
    load_corpus('tfds:vae_jax_text_lines/t2', data_dir=data_dir,
                splits=('train',), text_key='sentence')
