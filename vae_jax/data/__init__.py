"""Text data: corpora, vocabulary, tokenized splits, fixed-shape batches.

  corpus = load_corpus('ptb', data_dir=...)        # or 'synthetic', ...
  vocab = Vocabulary.build(corpus.splits['train'])
  train, stats = encode_split(corpus.splits['train'], vocab, max_length=None)
  batcher = BucketedBatcher(train, batch_size=32)
  for batch in batcher.epoch(seed, epoch): ...     # {'ids','length','index'}

`vae_jax.data.tfds_text` (imported on demand: it loads tensorflow_datasets)
writes and reads the same corpora as array_record TFDS datasets.
"""

from vae_jax.data.batching import BucketedBatcher
from vae_jax.data.corpora import encode_split, load_corpus
from vae_jax.data.corpus import Corpus
from vae_jax.data.errors import DataError
from vae_jax.data.synthetic import generate_synthetic_corpus
from vae_jax.data.vocab import Vocabulary

__all__ = ['BucketedBatcher', 'Corpus', 'DataError', 'Vocabulary',
           'encode_split', 'generate_synthetic_corpus', 'load_corpus']
