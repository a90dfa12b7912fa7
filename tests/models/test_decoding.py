"""Greedy and sampled decoding, and the ids it must never emit."""

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.analysis.decoding import decode
from vae_jax.models import build_model

CFG = dict(kind='lm', embed_dim=8, dec_hidden=16, enc_hidden=12, cell='lstm',
           dec_dropout_in=0.0, dec_dropout_out=0.0, word_dropout=0.0,
           z_init_state=True, z_concat_input=True, init_scale=1.0,
           embed_init_scale=1.0, unroll=1, latent='gaussian', latent_dim=3)
V, PAD, BOS, EOS = 12, 0, 1, 2


def _model():
  model = build_model(CFG, V)
  ids = jnp.array([[BOS, 5, 6, EOS]])
  params = model.init({'params': jax.random.key(3)}, ids, jnp.array([3]))['params']
  return model, params


def _first_logits(model, params, batch):
  state = model.apply({'params': params}, None, batch,
                      method=type(model).initial_state)
  logits, _ = model.apply({'params': params}, jnp.full((batch,), BOS, jnp.int32),
                          state, None, method=type(model).step)
  return np.array(logits[0])


def _decode(model, params, key, **kw):
  return np.asarray(decode(params, model, None, key, batch=kw.pop('batch', 2),
                           max_length=kw.pop('max_length', 6), bos_id=BOS,
                           eos_id=EOS, pad_id=PAD, **kw))


def test_greedy_first_token_is_the_argmax_without_the_banned_ids():
  model, params = _model()
  logits = _first_logits(model, params, 2)
  logits[[PAD, BOS]] = -np.inf
  best = int(np.argmax(logits))
  plain = _decode(model, params, jax.random.key(0), greedy=True)
  assert (plain[:, 0] == best).all()
  banned = _decode(model, params, jax.random.key(0), greedy=True,
                   banned_ids=(best,))
  logits[best] = -np.inf
  assert (banned[:, 0] == int(np.argmax(logits))).all()
  assert not (banned == best).any()


def test_sampling_never_emits_banned_ids_and_pads_after_eos():
  model, params = _model()
  ban = (3, 7)
  plain = _decode(model, params, jax.random.key(1), greedy=False, batch=256,
                  max_length=8)
  assert np.isin(plain, ban).any()      # without the ban they do occur
  out = _decode(model, params, jax.random.key(1), greedy=False, batch=256,
                max_length=8, banned_ids=ban)
  assert not np.isin(out, ban + (BOS,)).any()
  for row in out:
    ends = np.nonzero(row == EOS)[0]
    if ends.size:
      assert (row[ends[0] + 1:] == PAD).all()
      assert not (row[:ends[0]] == PAD).any()


def test_samples_file_keeps_unk_out_of_greedy_decodings_only(tmp_path):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from vae_jax.analysis.generation import write_samples  # pylint: disable=g-import-not-at-top
  from vae_jax.data.vocab import SPECIAL_TOKENS, Vocabulary  # pylint: disable=g-import-not-at-top
  vocab = Vocabulary(list(SPECIAL_TOKENS) + [f'w{i}' for i in range(V - 4)])
  assert vocab.unk_id == 3
  model, params = _model()
  # Make <unk> the argmax at every step, and likely when sampling.
  params = jax.tree_util.tree_map(lambda x: x, params)
  params['decoder']['output']['bias'] = (
      params['decoder']['output']['bias'].at[vocab.unk_id].add(4.0))
  inputs = ml_collections.ConfigDict({'vocab': vocab})
  config = ml_collections.ConfigDict(
      {'eval': {'num_generate': 64, 'max_decode_length': 6}})
  sections = {}
  for ban in (True, False):
    config.eval.ban_unk = ban
    path = tmp_path / f'samples_{ban}.txt'
    write_samples(str(path), model, params, inputs, config, seed=0)
    text = path.read_text().split('\n\n')
    sections[ban] = {part.splitlines()[0]: part.splitlines()[1:]
                     for part in text if part.strip()}
  greedy = '== language model, greedy decoding, <unk> excluded =='
  assert not any('<unk>' in s for s in sections[True][greedy])
  assert all(s.startswith('<unk>')
             for s in sections[False]['== language model, greedy decoding =='])
  for ban in (True, False):
    sampled = sections[ban]['== language model, sampled decoding ==']
    assert any('<unk>' in s for s in sampled)


def test_samples_file_reconstructions_keep_unk_out_of_greedy_lines(tmp_path):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from vae_jax.analysis.generation import write_samples  # pylint: disable=g-import-not-at-top
  from vae_jax.data import BucketedBatcher  # pylint: disable=g-import-not-at-top
  from vae_jax.data.vocab import SPECIAL_TOKENS, Vocabulary  # pylint: disable=g-import-not-at-top
  vocab = Vocabulary(list(SPECIAL_TOKENS) + [f'w{i}' for i in range(V - 4)])
  model = build_model(dict(CFG, kind='vae'), V)
  seqs = [np.array([4 + i % 8, 5, 6, EOS], np.int32) for i in range(8)]
  test = BucketedBatcher(seqs, batch_size=8, num_buckets=1, pad_id=PAD,
                         bos_id=BOS)
  batch = test.epoch(0, 0, shuffle=False)[0]
  params = model.init({'params': jax.random.key(3), 'latent': jax.random.key(4)},
                      batch['ids'], batch['length'])['params']
  params['decoder']['output']['bias'] = (
      params['decoder']['output']['bias'].at[vocab.unk_id].add(6.0))
  inputs = ml_collections.ConfigDict({'vocab': vocab,
                                      'batchers': {'test': test}})
  config = ml_collections.ConfigDict(
      {'eval': {'num_generate': 8, 'max_decode_length': 6},
       'model': {'latent': 'gaussian'}})
  lines = {}
  for ban in (True, False):
    config.eval.ban_unk = ban
    path = tmp_path / f'samples_{ban}.txt'
    write_samples(str(path), model, params, inputs, config, seed=0)
    lines[ban] = path.read_text().splitlines()
  for prefix in ('mode, greedy:', 'z~q, greedy :'):
    with_ban = [l for l in lines[True] if l.startswith(prefix)]
    without = [l for l in lines[False] if l.startswith(prefix)]
    assert len(with_ban) == len(without) == 8
    assert not any('<unk>' in l for l in with_ban)
    assert all('<unk>' in l for l in without)


def test_interpolation_on_the_line_and_on_the_great_circle():
  from vae_jax.analysis.generation import interpolate  # pylint: disable=g-import-not-at-top
  a, b = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0])
  line = np.asarray(interpolate(a, b, 5))
  np.testing.assert_allclose(line[[0, 2, 4]], [a, [0.5, 0.5, 0.0], b])
  arc = np.asarray(interpolate(a, b, 5, spherical=True))
  np.testing.assert_allclose(arc[[0, 4]], [a, b], atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(arc, axis=1), 1.0, rtol=1e-6)
  np.testing.assert_allclose(arc[2], [0.5 ** 0.5, 0.5 ** 0.5, 0.0], rtol=1e-6)
  # equal angles between neighbours: pi / 8 each
  np.testing.assert_allclose(np.sum(arc[1:] * arc[:-1], axis=1),
                             np.cos(np.pi / 8), rtol=1e-6)
  same = np.asarray(interpolate(a, a, 3, spherical=True))
  np.testing.assert_array_equal(same, np.stack([a] * 3))
